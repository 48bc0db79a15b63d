package core

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/crypto"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/netpolicy"
	"github.com/keyward/keyward/internal/store"
)

// principalService is principals (users and hosts), roles and grants, and
// the accounts they live in: each change authorized by the access service,
// audited in its transaction, and dropped from the hot-path cache after it
// commits.
type principalService struct {
	st       store.Store
	sealer   *crypto.Sealer
	now      func() time.Time
	bcrypt   *bcryptPool
	keys     *keyring
	audit    *auditor
	access   *accessService
	keySvc   *keyService
	tokenSvc *tokenService
	search   *searchIndex
}

// PrincipalSpec is a new user or host.
type PrincipalSpec struct {
	Login        string
	Kind         string
	Password     *string
	RestrictedTo []string
	Email        string
	DisplayName  string
	FullName     string
	Attributes   map[string]string
	Tags         []string
	Source       string
	Settings     json.RawMessage
	Annotations  map[string]string
	// Customer names the customer the principal belongs to ("" none).
	Customer string
}

// PrincipalPatch is a partial update; nil fields are left alone.
type PrincipalPatch struct {
	Password     *string
	RestrictedTo *[]string
	// Annotations are merged: a nil value removes the annotation.
	Annotations map[string]*string
	Status      *string
	Email       *string
	DisplayName *string
	FullName    *string
	Attributes  *map[string]string
	Tags        *[]string
	Source      *string
	Settings    *json.RawMessage
	// Customer sets the principal's customer; "" clears it.
	Customer *string
}

// ValidateLogin checks a login: 1 to 128 letters, digits and / @ . - _,
// with no empty path segment.
func ValidateLogin(login string) error {
	if login == "" || len(login) > 128 {
		return invalid("login", "login must be 1 to 128 characters")
	}
	for _, r := range login {
		ok := r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/@.-_", r))
		if !ok {
			return invalid("login", "login may contain only letters, digits and / @ . - _")
		}
	}
	if strings.HasPrefix(login, "/") || strings.HasSuffix(login, "/") || strings.Contains(login, "//") {
		return invalid("login", "login may not start or end with / or contain //")
	}
	return nil
}

// validatePrincipalLogin is ValidateLogin for users and hosts: a login may
// not start with user/ or host/, which Conjur-style logins use as kind
// prefixes, so "host/x" can never be a user whose whoami, token subject or
// verify principal reads as host x's.
func validatePrincipalLogin(login string) error {
	if err := ValidateLogin(login); err != nil {
		return err
	}
	if strings.HasPrefix(login, "user/") || strings.HasPrefix(login, "host/") {
		return invalid("login", "login may not start with user/ or host/")
	}
	return nil
}

func validateLabels(field string, m map[string]string) error {
	for k, v := range m {
		if k == "" || len(k) > 256 || len(v) > 4096 {
			return invalid(field, "%s names must be 1 to 256 characters and values at most 4096", field)
		}
	}
	return nil
}

// CreatePrincipal stores a new user or host with its Conjur API key and
// returns the principal and that key (shown once here).
func (c *principalService) CreatePrincipal(ctx context.Context, a *Access, spec PrincipalSpec) (model.Principal, string, error) {
	if err := c.access.Require(ctx, a, PermUsersManage); err != nil {
		return model.Principal{}, "", err
	}
	// The customer rule of UpdatePrincipal, first: a customer-limited
	// session never puts a principal in another customer (or in none).
	if err := c.access.customerAssign(ctx, a, spec.Customer); err != nil {
		return model.Principal{}, "", err
	}
	// A new principal comes with an unnarrowed API key (and maybe a
	// password): a narrowed credential makes none.
	if err := c.access.notNarrowed(ctx, a); err != nil {
		return model.Principal{}, "", err
	}
	p, err := c.newPrincipal(ctx, a.Session.Account, spec)
	if err != nil {
		return model.Principal{}, "", err
	}
	p.Author, p.UpdatedBy = a.Session.PrincipalID, a.Session.PrincipalID
	key, k := c.newConjurKey(p)
	k.Author, k.UpdatedBy = a.Session.PrincipalID, a.Session.PrincipalID
	ev := c.audit.event(a.Caller, a.Session.Account, "user.create")
	ev.Actor, ev.Subject, ev.KeyID, ev.Detail = a.Session.RoleID(), p.RoleID(), k.ID, actingKey(a)
	if err := c.st.CreatePrincipal(ctx, p, &k, ev); err != nil {
		return model.Principal{}, "", wrapStore(err, "login "+p.Login)
	}
	c.keys.refreshKey(ctx, k.ID)
	c.search.put(p)
	return p, key, nil
}

func (c *principalService) newPrincipal(ctx context.Context, account string, spec PrincipalSpec) (model.Principal, error) {
	if err := validatePrincipalLogin(spec.Login); err != nil {
		return model.Principal{}, err
	}
	kind := model.Kind(spec.Kind)
	if spec.Kind == "" {
		kind = model.KindUser
	}
	if kind != model.KindUser && kind != model.KindHost {
		return model.Principal{}, invalid("kind", `kind must be "user" or "host"`)
	}
	restricted, err := netpolicy.Normalize(spec.RestrictedTo)
	if err != nil {
		return model.Principal{}, invalid("restricted_to", "%v", err)
	}
	if err := validateLabels("attributes", spec.Attributes); err != nil {
		return model.Principal{}, err
	}
	if err := validateLabels("annotations", spec.Annotations); err != nil {
		return model.Principal{}, err
	}
	if len(spec.Settings) > 0 && !json.Valid(spec.Settings) {
		return model.Principal{}, invalid("settings", "settings must be JSON")
	}
	if spec.Customer != "" && !ValidCustomer(spec.Customer) {
		return model.Principal{}, invalidCustomer("customer", spec.Customer)
	}
	now := c.now().UTC()
	p := model.Principal{
		ID: crypto.NewID(), Account: account, Login: spec.Login, Kind: kind, Email: spec.Email,
		DisplayName: spec.DisplayName, FullName: spec.FullName, Attributes: spec.Attributes, Tags: spec.Tags,
		Source: spec.Source, Settings: spec.Settings, Status: model.StatusActive, RestrictedTo: restricted,
		Annotations: spec.Annotations, CreatedAt: now, UpdatedAt: now, Customer: spec.Customer,
	}
	if p.Source == "" {
		p.Source = "local"
	}
	if spec.Password != nil {
		if err := CheckPasswordStrength(*spec.Password); err != nil {
			return model.Principal{}, err
		}
		h, err := c.bcrypt.hash(ctx, *spec.Password)
		if err != nil {
			return model.Principal{}, err
		}
		p.PasswordHash = h
	}
	return p, nil
}

// newConjurKey makes a principal's Conjur API key: its secret is sealed so
// Conjur's login can return it again.
func (c *principalService) newConjurKey(p model.Principal) (string, model.APIKey) {
	id := crypto.NewKeyID()
	key, secret := crypto.NewAPIKey(id)
	return key, model.APIKey{
		ID: id, Account: p.Account, PrincipalID: p.ID, Description: "Conjur API key", Conjur: true,
		Hash: c.sealer.KeyHash(secret), Sealed: c.sealer.Seal([]byte(secret), []byte("apikey:"+id)), CreatedAt: c.now().UTC(),
	}
}

// GetPrincipal returns one principal; a caller may always read itself.
func (c *principalService) GetPrincipal(ctx context.Context, a *Access, id string) (model.Principal, error) {
	if id != a.Session.PrincipalID {
		if err := c.access.Require(ctx, a, PermUsersView); err != nil {
			return model.Principal{}, err
		}
	}
	return c.access.principalIn(ctx, a, id)
}

// normalizePage refuses a negative limit or offset and bounds the limit:
// 0 means 100, at most 1000.
func normalizePage(page store.Page) (store.Page, error) {
	if page.Limit < 0 || page.Offset < 0 {
		return page, invalid("limit", "limit and offset must not be negative")
	}
	if page.Limit == 0 || page.Limit > 1000 {
		page.Limit = min(max(page.Limit, 100), 1000)
	}
	return page, nil
}

// ListPrincipals returns one page of principals and the total: for a
// customer-limited session, those of its customers and itself.
func (c *principalService) ListPrincipals(ctx context.Context, a *Access, page Page) ([]model.Principal, int, error) {
	if err := c.access.Require(ctx, a, PermUsersView); err != nil {
		return nil, 0, err
	}
	page, err := normalizePage(page)
	if err != nil {
		return nil, 0, err
	}
	ps, total, err := c.st.ListPrincipals(ctx, a.Session.Account, customerPage(a, page))
	return ps, total, wrapStore(err, "principals")
}

// UpdatePrincipal applies a partial update. A narrowed credential (a key
// limited by roles or sources, or a token minted from one) may not set its
// own principal's password or restriction: it would log in unnarrowed.
func (c *principalService) UpdatePrincipal(ctx context.Context, a *Access, id string, patch PrincipalPatch) (model.Principal, error) {
	target, err := c.access.managed(ctx, a, id)
	if err != nil {
		return model.Principal{}, err
	}
	if a.Session.Narrowed && (patch.Password != nil || target.ID == a.Session.PrincipalID && patch.RestrictedTo != nil) {
		return model.Principal{}, c.access.deny(ctx, a, ReasonNarrowedCredential, "", "a key limited by roles or sources cannot set passwords or its owner's restriction")
	}
	// A customer's membership is that customer's: a customer-limited key
	// moves a user only into one of its own customers, never out of every
	// customer (review r25c F5).
	if patch.Customer != nil {
		if err := c.access.customerAssign(ctx, a, *patch.Customer); err != nil {
			return model.Principal{}, err
		}
	}
	var restricted []string
	if patch.RestrictedTo != nil {
		r, err := netpolicy.Normalize(*patch.RestrictedTo)
		if err != nil {
			return model.Principal{}, invalid("restricted_to", "%v", err)
		}
		restricted = r
	}
	if patch.Status != nil && *patch.Status != model.StatusActive && *patch.Status != model.StatusDisabled {
		return model.Principal{}, invalid("status", `status must be "active" or "disabled"`)
	}
	if patch.Attributes != nil {
		if err := validateLabels("attributes", *patch.Attributes); err != nil {
			return model.Principal{}, err
		}
	}
	for k, v := range patch.Annotations {
		if k == "" || len(k) > 256 || v != nil && len(*v) > 4096 {
			return model.Principal{}, invalid("annotations", "annotation names must be 1 to 256 characters and values at most 4096")
		}
	}
	if patch.Settings != nil && len(*patch.Settings) > 0 && !json.Valid(*patch.Settings) {
		return model.Principal{}, invalid("settings", "settings must be JSON")
	}
	if patch.Customer != nil && *patch.Customer != "" && !ValidCustomer(*patch.Customer) {
		return model.Principal{}, invalidCustomer("customer", *patch.Customer)
	}
	var hash string
	if patch.Password != nil {
		if err := CheckPasswordStrength(*patch.Password); err != nil {
			return model.Principal{}, err
		}
		h, err := c.bcrypt.hash(ctx, *patch.Password)
		if err != nil {
			return model.Principal{}, err
		}
		hash = h
	}
	now := c.now().UTC()
	ev := c.audit.event(a.Caller, a.Session.Account, "user.update")
	ev.Actor, ev.Subject, ev.KeyID = a.Session.RoleID(), target.RoleID(), a.Session.KeyID
	ev.Detail = patchDetail(patch, restricted)
	evs := []audit.Event{ev}
	if patch.Password != nil {
		pe := ev
		pe.Event, pe.Detail = "password", ""
		evs = append(evs, pe)
	}
	p, err := c.st.UpdatePrincipal(ctx, a.Session.Account, id, func(p model.Principal) (model.Principal, error) {
		if patch.Password != nil {
			p.PasswordHash = hash
		}
		if patch.RestrictedTo != nil {
			p.RestrictedTo = restricted
		}
		if patch.Annotations != nil {
			m := maps.Clone(p.Annotations)
			if m == nil {
				m = map[string]string{}
			}
			for k, v := range patch.Annotations {
				if v == nil {
					delete(m, k)
				} else {
					m[k] = *v
				}
			}
			p.Annotations = m
		}
		setIf(&p.Status, patch.Status)
		setIf(&p.Email, patch.Email)
		setIf(&p.DisplayName, patch.DisplayName)
		setIf(&p.FullName, patch.FullName)
		setIf(&p.Attributes, patch.Attributes)
		setIf(&p.Tags, patch.Tags)
		setIf(&p.Source, patch.Source)
		setIf(&p.Settings, patch.Settings)
		setIf(&p.Customer, patch.Customer)
		p.UpdatedAt, p.UpdatedBy = now, a.Session.PrincipalID
		return p, nil
	}, evs...)
	if err != nil {
		return model.Principal{}, wrapStore(err, "principal "+id)
	}
	c.keys.forgetPrincipal(a.Session.Account, id, false)
	c.search.put(p)
	return p, nil
}

// patchDetail names the fields a patch changes, with the new restriction
// and status (never a password or another value that may be secret).
func patchDetail(patch PrincipalPatch, restricted []string) string {
	var fields []string
	add := func(set bool, name string) {
		if set {
			fields = append(fields, name)
		}
	}
	add(patch.Password != nil, "password")
	add(patch.RestrictedTo != nil, "restricted_to")
	add(patch.Annotations != nil, "annotations")
	add(patch.Status != nil, "status")
	add(patch.Email != nil, "email")
	add(patch.DisplayName != nil, "display_name")
	add(patch.FullName != nil, "full_name")
	add(patch.Attributes != nil, "attributes")
	add(patch.Tags != nil, "tags")
	add(patch.Source != nil, "source")
	add(patch.Settings != nil, "settings")
	add(patch.Customer != nil, "customer")
	parts := []string{"fields " + strings.Join(fields, ",")}
	if patch.RestrictedTo != nil {
		parts = append(parts, "restricted_to ["+strings.Join(restricted, ",")+"]")
	}
	if patch.Status != nil {
		parts = append(parts, "status "+*patch.Status)
	}
	return joinDetail(parts...)
}

// actingKey names the API key an access authenticated with, for the detail
// of records whose key_id names another key.
func actingKey(a *Access) string {
	if a.Session.KeyID == "" {
		return ""
	}
	return "acting key " + a.Session.KeyID
}

func setIf[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

// DeletePrincipal removes a principal with its keys and grants.
func (c *principalService) DeletePrincipal(ctx context.Context, a *Access, id string) error {
	p, err := c.access.managed(ctx, a, id)
	if err != nil {
		return err
	}
	ev := c.audit.event(a.Caller, a.Session.Account, "user.delete")
	ev.Actor, ev.Subject, ev.Detail = a.Session.RoleID(), p.RoleID(), actingKey(a)
	if err := c.st.DeletePrincipal(ctx, a.Session.Account, id, ev); err != nil {
		return wrapStore(err, "principal "+id)
	}
	c.keys.forgetPrincipal(a.Session.Account, id, true)
	c.search.drop(a.Session.Account, id)
	return nil
}

// FindPrincipal resolves a Conjur-style login (alice, user/alice,
// host/myapp) in an account, for the surfaces.
func (c *principalService) FindPrincipal(ctx context.Context, account, login string) (model.Principal, error) {
	p, err := findPrincipal(ctx, c.st, account, login)
	return p, wrapStore(err, "role "+login)
}

// FindPrincipalOfKind resolves a principal by kind and exact login.
func (c *principalService) FindPrincipalOfKind(ctx context.Context, account string, kind model.Kind, login string) (model.Principal, error) {
	p, err := c.st.GetPrincipalByLogin(ctx, account, kind, login)
	return p, wrapStore(err, "role "+string(kind)+":"+login)
}

// ResolveUser finds the principal a path names in the access's account: a
// native principal id, else a user's login. Access to it is checked by the
// operation that acts on it.
func (c *principalService) ResolveUser(ctx context.Context, a *Access, ref string) (model.Principal, error) {
	p, err := c.st.GetPrincipal(ctx, a.Session.Account, ref)
	if err == nil && p.Account == a.Session.Account {
		return p, nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return model.Principal{}, wrapStore(err, "principal")
	}
	p, err = c.st.GetPrincipalByLogin(ctx, a.Session.Account, model.KindUser, ref)
	if err != nil {
		return model.Principal{}, wrapStore(err, "user "+ref)
	}
	return p, nil
}
