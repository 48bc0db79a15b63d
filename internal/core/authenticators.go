package core

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/crypto"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

// InstalledAuthenticators lists every authenticator type keyward knows, as
// Conjur's GET /authenticators does.
func InstalledAuthenticators() []string {
	return []string{"authn", "authn-azure", "authn-gcp", "authn-iam", "authn-jwt", "authn-k8s", "authn-ldap", "authn-oidc"}
}

// secretConfigKeys are sealed at rest and never returned.
func secretConfigKey(k string) bool { return k == "client-secret" || k == "bind-password" }

// destinationKeys are the settings that decide where a service sends its secrets.
func destinationKeys() []string {
	return []string{"host", "port", "uri", "connect_type", "tls-ca-cert", "provider-uri", "client-id", "ca-cert", "redirect-uri"}
}

// Masked stands in for a secret configuration value in answers; sent back
// unchanged in a PUT, it keeps the stored secret.
const Masked = "*****"

// noServiceID reports types configured without a service id.
func noServiceID(typ string) bool { return typ == "authn-gcp" }

// AuthenticatorSpec is an authenticator service's wanted state.
type AuthenticatorSpec struct {
	Enabled bool
	Config  map[string]string
	Allowed []string
}

// AuthenticatorView is an authenticator service as answers show it: secret
// values masked, with its configuration status.
type AuthenticatorView struct {
	Type      string
	ServiceID string
	Enabled   bool
	Config    map[string]string
	Allowed   []string
	Status    string   // "ok" or the configuration error
	Warnings  []string // how the configuration is weaker than it could be
	UpdatedAt time.Time
}

// authenticatorService is the outside authenticator services of each
// account: defining, enabling and listing them, building each (cached until
// it changes), their status checks, and whether one admits a principal.
type authenticatorService struct {
	st       store.Store
	sealer   *crypto.Sealer
	factory  map[string]authn.Factory
	now      func() time.Time
	envAuthn []string
	authns   *authnCache
	keys     *keyring
	audit    *auditor
	access   *accessService
}

// authnCache keeps built authenticators, rebuilt when their service changes.
type authnCache struct {
	mu sync.Mutex
	m  map[string]cachedAuthn
}

type cachedAuthn struct {
	updated time.Time
	a       authn.Authenticator
}

func newAuthnCache() *authnCache { return &authnCache{m: map[string]cachedAuthn{}} }

// forgetAll drops every built authenticator (another instance changed one).
func (a *authnCache) forgetAll() {
	a.mu.Lock()
	a.m = map[string]cachedAuthn{}
	a.mu.Unlock()
}

func serviceName(typ, serviceID string) string {
	if serviceID == "" {
		return typ
	}
	return typ + "/" + serviceID
}

func (c *authenticatorService) checkType(typ, serviceID string) error {
	if !slices.Contains(InstalledAuthenticators(), typ) || typ == "authn" {
		return &Error{Kind: NotFound, Reason: ReasonUnsupportedType, Field: "type", Msg: "authenticator type " + typ + " is not supported"}
	}
	if typ == "authn-k8s" {
		return &Error{Kind: NotImplemented, Reason: ReasonNotImplemented, Field: "type", Msg: "authn-k8s is not available in keyward"}
	}
	if noServiceID(typ) && serviceID != "" {
		return invalid("service_id", "%s takes no service id", typ)
	}
	if !noServiceID(typ) && serviceID == "" {
		return invalid("service_id", "%s needs a service id", typ)
	}
	if err := checkServiceID(serviceID); err != nil {
		return err
	}
	if _, ok := c.factory[typ]; !ok {
		return &Error{Kind: NotImplemented, Msg: "authenticator type " + typ + " is not available in this build"}
	}
	return nil
}

// checkServiceID refuses a service id outside Conjur's route alphabet: one
// path segment, which Conjur's routes take without "/", "." or "?". keyward
// keeps to letters, digits, "-" and "_", at most 128 of them: above all no
// "/", or annotations such as authn-jwt/gh/prod/sub would name both service
// gh (claim prod/sub) and service gh/prod (claim sub).
func checkServiceID(serviceID string) error {
	if len(serviceID) > 128 {
		return invalid("service_id", "service id must be at most 128 characters")
	}
	for _, r := range serviceID {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return invalid("service_id", "service id may hold only letters, digits, - and _; got %q", serviceID)
		}
	}
	return nil
}

// build makes an authenticator from a stored service, opening its secrets.
// A service stored under an id keyward now refuses fails closed.
func (c *authenticatorService) build(svc model.AuthenticatorService) (authn.Authenticator, error) {
	if err := checkServiceID(svc.ServiceID); err != nil {
		return nil, err
	}
	vals := maps.Clone(svc.Config)
	if vals == nil {
		vals = map[string]string{}
	}
	for k, sealed := range svc.Secrets {
		v, err := c.sealer.Open(sealed, []byte(secretAAD(svc, k)))
		if err != nil {
			return nil, &Error{Kind: Internal, Msg: "authenticator secret cannot be read", Err: err}
		}
		vals[k] = string(v)
	}
	vals = serviceValues(vals)
	if err := emptySettings(vals); err != nil {
		return nil, err
	}
	return c.factory[svc.Type](authn.Config{Account: svc.Account, Type: svc.Type, ServiceID: svc.ServiceID, Values: vals})
}

// emptySettings refuses settings given with an empty value: a setting
// present is a setting meant, and "" is no value for any of them (Conjur,
// where a variable can exist without a value, refuses it as a missing
// value), so `audience: ""` is an error, never "no audience check".
func emptySettings(vals map[string]string) error {
	var errs authn.ConfigErrors
	for k, v := range vals {
		if v == "" {
			errs = append(errs, authn.ConfigError{Key: k, Msg: "empty value; leave the setting out instead"})
		}
	}
	return errs.Err()
}

func secretAAD(svc model.AuthenticatorService, key string) string {
	return "authn:" + svc.Account + ":" + serviceName(svc.Type, svc.ServiceID) + ":" + key
}

func (c *authenticatorService) authenticator(svc model.AuthenticatorService) (authn.Authenticator, error) {
	name := svc.Account + "|" + serviceName(svc.Type, svc.ServiceID)
	c.authns.mu.Lock()
	ca, ok := c.authns.m[name]
	c.authns.mu.Unlock()
	if ok && ca.updated.Equal(svc.UpdatedAt) {
		return ca.a, nil
	}
	a, err := c.build(svc)
	if err != nil {
		return nil, err
	}
	c.authns.mu.Lock()
	c.authns.m[name] = cachedAuthn{updated: svc.UpdatedAt, a: a}
	c.authns.mu.Unlock()
	return a, nil
}

func configError(err error) *Error {
	var ces authn.ConfigErrors
	if errors.As(err, &ces) && len(ces) > 0 {
		return &Error{Kind: Invalid, Field: "config." + ces[0].Key, Msg: ces.Error(), Err: err}
	}
	var ce authn.ConfigError
	if errors.As(err, &ce) {
		return &Error{Kind: Invalid, Field: "config." + ce.Key, Msg: ce.Error(), Err: err}
	}
	return &Error{Kind: Invalid, Field: "config", Msg: err.Error(), Err: err}
}

func validateAllowed(allowed []string) error {
	for _, a := range allowed {
		kind, name, ok := strings.Cut(a, ":")
		if !ok || name == "" || (kind != "user" && kind != "host" && kind != "role") {
			return invalid("allowed", "allowed entries are user:<login>, host:<login> or role:<role name>; got %q", a)
		}
	}
	return nil
}

// serviceSubject names an authenticator service in audit records.
func serviceSubject(account, typ, serviceID string) string {
	return account + ":authenticator:" + serviceName(typ, serviceID)
}

// PutAuthenticator creates or replaces an authenticator service. The
// configuration is checked by building the authenticator; nothing is stored
// unless every value is good, and unless the caller outranks every
// principal the allowed list admits (mayAdmit): whoever defines a service
// aimed at a directory or IdP they control can log in as anyone it admits.
func (c *authenticatorService) PutAuthenticator(ctx context.Context, a *Access, typ, serviceID string, spec AuthenticatorSpec) (AuthenticatorView, error) {
	if err := c.access.Require(ctx, a, PermAuthenticatorsManage); err != nil {
		return AuthenticatorView{}, err
	}
	// A narrowed key (roles, sources, customers) must not define who may
	// log in as whom: an authenticator names principals outside its scope.
	if err := c.access.notNarrowed(ctx, a); err != nil {
		return AuthenticatorView{}, err
	}
	account := a.Session.Account
	if err := c.checkType(typ, serviceID); err != nil {
		return AuthenticatorView{}, err
	}
	if err := validateAllowed(spec.Allowed); err != nil {
		return AuthenticatorView{}, err
	}
	// The privx- keys are the role-store's record of a source (the mark
	// that makes the service admit its users and map their groups): never
	// set through this route, or any service would become a source
	// without the source's checks. A source itself is changed only as one.
	for k := range spec.Config {
		if strings.HasPrefix(k, sourceKeyPrefix) {
			return AuthenticatorView{}, invalid("config."+k, "%s is reserved for PrivX sources", k)
		}
	}
	if err := c.mayAdmit(ctx, a, spec.Allowed); err != nil {
		return AuthenticatorView{}, err
	}
	svc := model.AuthenticatorService{Account: account, Type: typ, ServiceID: serviceID, Enabled: spec.Enabled,
		Config: map[string]string{}, Secrets: map[string][]byte{}, Allowed: spec.Allowed, UpdatedAt: c.now().UTC(),
		DefinedBy: a.Session.PrincipalID}
	old, oldErr := c.st.GetAuthenticator(ctx, account, typ, serviceID)
	if oldErr == nil && isSource(old) {
		return AuthenticatorView{}, &Error{Kind: Conflict, Field: "service_id",
			Msg: serviceName(typ, serviceID) + " is a PrivX source; change it through /role-store/api/v1/sources/" + serviceID}
	}
	vals, err := c.openMasked(spec.Config, old, oldErr)
	if err != nil {
		return AuthenticatorView{}, err
	}
	if err := emptySettings(serviceValues(vals)); err != nil {
		return AuthenticatorView{}, configError(err)
	}
	built, err := c.factory[typ](authn.Config{Account: account, Type: typ, ServiceID: serviceID, Values: serviceValues(vals)})
	if err != nil {
		return AuthenticatorView{}, configError(err)
	}
	c.sealInto(&svc, vals)
	ev := c.audit.event(a.Caller, account, "authenticator.put")
	ev.Actor, ev.Subject, ev.Authenticator, ev.KeyID = a.Session.RoleID(), serviceSubject(account, typ, serviceID), serviceName(typ, serviceID), a.Session.KeyID
	ev.Detail = authenticatorDetail(spec, old, oldErr == nil)
	if err := c.st.PutAuthenticator(ctx, svc, ev); err != nil {
		return AuthenticatorView{}, wrapStore(err, "authenticator")
	}
	c.authns.mu.Lock()
	c.authns.m[account+"|"+serviceName(typ, serviceID)] = cachedAuthn{updated: svc.UpdatedAt, a: built}
	c.authns.mu.Unlock()
	return c.view(ctx, svc, false), nil
}

// sealInto stores vals in svc: secrets sealed, the rest plain.
func (c *authenticatorService) sealInto(svc *model.AuthenticatorService, vals map[string]string) {
	for k, v := range vals {
		if secretConfigKey(k) {
			svc.Secrets[k] = c.sealer.Seal([]byte(v), []byte(secretAAD(*svc, k)))
		} else {
			svc.Config[k] = v
		}
	}
}

// openMasked resolves a configuration to store: a secret sent masked keeps
// the stored one, unless a destination changed.
func (c *authenticatorService) openMasked(config map[string]string, old model.AuthenticatorService, oldErr error) (map[string]string, error) {
	spec := struct{ Config map[string]string }{config}
	vals := map[string]string{}
	for k, v := range spec.Config {
		if secretConfigKey(k) && v == Masked {
			// The stored secret is reused only where it would go: if the
			// service now points elsewhere, the secret must be given again,
			// or whoever may configure authenticators could aim it at a
			// listener of their own and read it.
			if oldErr != nil {
				return nil, invalid("config."+k, "%s is masked but no secret is stored; give its value", k)
			}
			for _, dk := range destinationKeys() {
				if spec.Config[dk] != old.Config[dk] {
					return nil, invalid("config."+k, "%s must be given again when %s changes", k, dk)
				}
			}
		}
		if secretConfigKey(k) && v == Masked && oldErr == nil {
			if sealed, ok := old.Secrets[k]; ok {
				plain, err := c.sealer.Open(sealed, []byte(secretAAD(old, k)))
				if err != nil {
					return nil, &Error{Kind: Internal, Msg: "stored secret cannot be read", Err: err}
				}
				v = string(plain)
			}
		}
		vals[k] = v
	}
	return vals, nil
}

// sourceKeyPrefix marks configuration keys a PrivX source keeps beside its
// authenticator's (its document, groups claim): never handed to the
// authenticator.
const sourceKeyPrefix = "privx-"

// serviceValues are the values an authenticator is built from.
func serviceValues(vals map[string]string) map[string]string {
	out := make(map[string]string, len(vals))
	for k, v := range vals {
		if !strings.HasPrefix(k, sourceKeyPrefix) {
			out[k] = v
		}
	}
	return out
}

// authenticatorDetail is a put's audit detail: the allowed entries, whether
// it is enabled, and the names of the settings that changed (never values:
// some are secrets).
func authenticatorDetail(spec AuthenticatorSpec, old model.AuthenticatorService, existed bool) string {
	var changed []string
	for k, v := range spec.Config {
		_, wasSecret := old.Secrets[k]
		if !existed || (secretConfigKey(k) && (v != Masked || !wasSecret)) || (!secretConfigKey(k) && old.Config[k] != v) {
			changed = append(changed, k)
		}
	}
	for k := range old.Config {
		if _, ok := spec.Config[k]; !ok && existed {
			changed = append(changed, k)
		}
	}
	sort.Strings(changed)
	return joinDetail("allowed ["+strings.Join(spec.Allowed, ",")+"]", fmt.Sprintf("enabled %t", spec.Enabled),
		"changed settings ["+strings.Join(changed, ",")+"]")
}

// mayAdmit checks that the access outranks every principal an allowed list
// admits: user:<login> and host:<login> that principal; role:<name> every
// holder of the role by any grant, now or later, and the role's own
// permissions (role:admin means all).
func (c *authenticatorService) mayAdmit(ctx context.Context, a *Access, allowed []string) error {
	account := a.Session.Account
	for _, entry := range allowed {
		kind, name, _ := strings.Cut(entry, ":")
		switch kind {
		case "user", "host":
			p, err := c.st.GetPrincipalByLogin(ctx, account, model.Kind(kind), name)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return wrapStore(err, "principal "+entry)
			}
			if err := c.access.outranks(ctx, a, p); err != nil {
				return err
			}
		case "role":
			r, err := c.st.GetRoleByName(ctx, account, name)
			if errors.Is(err, store.ErrNotFound) {
				if name == AdminRole {
					return c.access.covers(ctx, a, allPermSet, "the allowed list admits a role holding a permission the caller does not")
				}
				continue
			}
			if err != nil {
				return wrapStore(err, "role "+name)
			}
			if err := c.access.covers(ctx, a, rolePerms(r), "the allowed list admits a role holding a permission the caller does not"); err != nil {
				return err
			}
			holders, err := c.st.RoleHolders(ctx, account, r.ID)
			if err != nil {
				return wrapStore(err, "holders of role "+name)
			}
			for _, pid := range holders {
				p, err := c.st.GetPrincipal(ctx, account, pid)
				if err != nil {
					continue
				}
				if err := c.access.outranks(ctx, a, p); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (c *authenticatorService) view(ctx context.Context, svc model.AuthenticatorService, check bool) AuthenticatorView {
	v := AuthenticatorView{Type: svc.Type, ServiceID: svc.ServiceID, Enabled: c.enabled(svc), Config: maps.Clone(svc.Config),
		Allowed: svc.Allowed, Status: "ok", UpdatedAt: svc.UpdatedAt}
	if v.Config == nil {
		v.Config = map[string]string{}
	}
	if v.Allowed == nil {
		v.Allowed = []string{}
	}
	for k := range svc.Secrets {
		v.Config[k] = Masked
	}
	if a, err := c.authenticator(svc); err == nil {
		if w, ok := a.(authn.Warner); ok {
			v.Warnings = w.Warnings()
		}
	}
	if check {
		if err := c.configStatus(ctx, svc); err != nil {
			v.Status = err.Error()
		}
	}
	return v
}

// configStatus builds the service and runs its status check, if it has one.
func (c *authenticatorService) configStatus(ctx context.Context, svc model.AuthenticatorService) error {
	a, err := c.authenticator(svc)
	if err != nil {
		return err
	}
	if sc, ok := a.(authn.StatusChecker); ok {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return sc.Status(ctx)
	}
	return nil
}

// GetAuthenticator returns one service with its configuration status. A
// customer-limited key reads no authenticator (accountWide): a service's
// allowed list names principals of every customer (review r22b R3).
func (c *authenticatorService) GetAuthenticator(ctx context.Context, a *Access, typ, serviceID string) (AuthenticatorView, error) {
	if err := c.access.Require(ctx, a, PermAuthenticatorsManage); err != nil {
		return AuthenticatorView{}, err
	}
	if err := c.access.accountWide(ctx, a, "read", "the authenticators"); err != nil {
		return AuthenticatorView{}, err
	}
	svc, err := c.st.GetAuthenticator(ctx, a.Session.Account, typ, serviceID)
	if err != nil {
		return AuthenticatorView{}, wrapStore(err, "authenticator "+serviceName(typ, serviceID))
	}
	return c.view(ctx, svc, true), nil
}

// ListAuthenticators returns the account's services with their status;
// refused to a customer-limited key, as GetAuthenticator.
func (c *authenticatorService) ListAuthenticators(ctx context.Context, a *Access) ([]AuthenticatorView, error) {
	if err := c.access.Require(ctx, a, PermAuthenticatorsManage); err != nil {
		return nil, err
	}
	if err := c.access.accountWide(ctx, a, "read", "the authenticators"); err != nil {
		return nil, err
	}
	svcs, err := c.st.ListAuthenticators(ctx, a.Session.Account)
	if err != nil {
		return nil, wrapStore(err, "authenticators")
	}
	out := make([]AuthenticatorView, 0, len(svcs))
	for _, svc := range svcs {
		out = append(out, c.view(ctx, svc, true))
	}
	return out, nil
}

// DeleteAuthenticator removes a service.
func (c *authenticatorService) DeleteAuthenticator(ctx context.Context, a *Access, typ, serviceID string) error {
	if err := c.access.Require(ctx, a, PermAuthenticatorsManage); err != nil {
		return err
	}
	// A narrowed key (roles, sources, customers) must not define who may
	// log in as whom: an authenticator names principals outside its scope.
	if err := c.access.notNarrowed(ctx, a); err != nil {
		return err
	}
	account := a.Session.Account
	ev := c.audit.event(a.Caller, account, "authenticator.delete")
	ev.Actor, ev.Subject, ev.Authenticator, ev.KeyID = a.Session.RoleID(), serviceSubject(account, typ, serviceID), serviceName(typ, serviceID), a.Session.KeyID
	if err := c.st.DeleteAuthenticator(ctx, account, typ, serviceID, ev); err != nil {
		return wrapStore(err, "authenticator "+serviceName(typ, serviceID))
	}
	c.authns.mu.Lock()
	delete(c.authns.m, account+"|"+serviceName(typ, serviceID))
	c.authns.mu.Unlock()
	return nil
}

// SetAuthenticatorEnabled enables or disables a defined service (Conjur's
// PATCH). Enabling one is admitting everyone its allowed list names, so it
// needs what defining it needs. An undefined service is NotFound.
func (c *authenticatorService) SetAuthenticatorEnabled(ctx context.Context, a *Access, typ, serviceID string, enabled bool) error {
	if err := c.access.Require(ctx, a, PermAuthenticatorsManage); err != nil {
		return err
	}
	// A narrowed key (roles, sources, customers) must not define who may
	// log in as whom: an authenticator names principals outside its scope.
	if err := c.access.notNarrowed(ctx, a); err != nil {
		return err
	}
	account := a.Session.Account
	svc, err := c.st.GetAuthenticator(ctx, account, typ, serviceID)
	if err != nil {
		return wrapStore(err, "authenticator "+serviceName(typ, serviceID))
	}
	if enabled {
		if err := c.mayAdmit(ctx, a, svc.Allowed); err != nil {
			return err
		}
		if isSource(svc) {
			if err := c.mayAdmitSource(ctx, a, serviceID); err != nil {
				return err
			}
		}
		svc.DefinedBy = a.Session.PrincipalID
	}
	svc.Enabled, svc.UpdatedAt = enabled, c.now().UTC()
	ev := c.audit.event(a.Caller, account, "authenticator.enable")
	if !enabled {
		ev.Event = "authenticator.disable"
	}
	ev.Actor, ev.Subject, ev.Authenticator, ev.KeyID = a.Session.RoleID(), serviceSubject(account, typ, serviceID), serviceName(typ, serviceID), a.Session.KeyID
	return wrapStore(c.st.PutAuthenticator(ctx, svc, ev), "authenticator")
}

// enabled decides whether a service is enabled: the environment's list
// overrides the store, as CONJUR_AUTHENTICATORS does.
func (c *authenticatorService) enabled(svc model.AuthenticatorService) bool {
	if c.envAuthn != nil {
		return slices.Contains(c.envAuthn, serviceName(svc.Type, svc.ServiceID))
	}
	return svc.Enabled
}

// BasicAuthnEnabled reports whether the built-in authn is enabled.
func (c *authenticatorService) BasicAuthnEnabled() bool {
	return c.envAuthn == nil || slices.Contains(c.envAuthn, "authn")
}

// AuthenticatorLists answers Conjur's public GET /authenticators: the
// services configured in one account (the default one: the route names
// none, and naming every account's services would tell anyone what other
// tenants run), and the enabled ones (every entry of the environment list
// counts as enabled, defined or not).
func (c *authenticatorService) AuthenticatorLists(ctx context.Context, account string) (configured, enabled []string, err error) {
	conf, en := map[string]bool{"authn": true}, map[string]bool{}
	if c.BasicAuthnEnabled() {
		en["authn"] = true
	}
	for _, e := range c.envAuthn {
		en[e] = true
	}
	svcs, err := c.st.ListAuthenticators(ctx, account)
	if err != nil {
		return nil, nil, wrapStore(err, "authenticators")
	}
	for _, svc := range svcs {
		name := serviceName(svc.Type, svc.ServiceID)
		conf[name] = true
		if c.enabled(svc) {
			en[name] = true
		}
	}
	return sortedKeys(conf), sortedKeys(en), nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// OIDCProvider is one code-flow service as Conjur's providers list shows it.
type OIDCProvider struct {
	ServiceID, Name, Nonce, CodeVerifier, RedirectURI string
}

// OIDCProviders lists an account's enabled code-flow OIDC services, each
// with a fresh nonce and PKCE verifier and the provider's authorization URL.
func (c *authenticatorService) OIDCProviders(ctx context.Context, account string) ([]OIDCProvider, error) {
	if _, err := c.st.GetAccount(ctx, account); err != nil {
		return nil, wrapStore(err, "account "+account)
	}
	svcs, err := c.st.ListAuthenticators(ctx, account)
	if err != nil {
		return nil, wrapStore(err, "authenticators")
	}
	out := []OIDCProvider{}
	for _, svc := range svcs {
		if svc.Type != "authn-oidc" || !c.enabled(svc) {
			continue
		}
		a, err := c.authenticator(svc)
		if err != nil {
			continue
		}
		pr, ok := a.(authn.Provider)
		if !ok {
			continue
		}
		nonce, verifier := crypto.NewID()+crypto.NewID(), crypto.NewID()+crypto.NewID()+crypto.NewID()
		sum := sha256.Sum256([]byte(verifier))
		u, err := pr.AuthorizationURL(ctx, nonce, "", base64.RawURLEncoding.EncodeToString(sum[:]))
		if err != nil {
			continue
		}
		nm := svc.Config["name"]
		if nm == "" {
			nm = svc.ServiceID
		}
		out = append(out, OIDCProvider{ServiceID: svc.ServiceID, Name: nm, Nonce: nonce, CodeVerifier: verifier, RedirectURI: u})
	}
	return out, nil
}

// AuthenticatorStatus runs an authenticator service's status check, in
// Conjur's order: a supported type, a status check it has, the account,
// the service, the caller's access, then the configuration. Each failure
// is an *Error whose Reason the surface words (Conjur: its error class and
// CONJ code); a configuration error is Internal with the check's message.
func (c *authenticatorService) AuthenticatorStatus(ctx context.Context, a *Access, account, typ, serviceID string) error {
	if !slices.Contains(InstalledAuthenticators(), typ) {
		return &Error{Kind: NotFound, Reason: ReasonUnsupportedType, Msg: "authenticator " + typ + " is not supported"}
	}
	switch typ {
	case "authn-jwt", "authn-oidc", "authn-gcp", "authn-azure":
	default:
		return &Error{Kind: NotImplemented, Reason: ReasonStatusNotSupported, Msg: "status check not supported for authenticator " + typ}
	}
	if serviceID == "" && !noServiceID(typ) {
		return &Error{Kind: Invalid, Reason: ReasonServiceIDMissing, Field: "service_id", Msg: typ + " needs a service id"}
	}
	if a.Session.Account != account {
		// Before looking anything up: a session of another account learns
		// nothing of which accounts and services exist.
		return c.statusDenied(ctx, a, account, typ, serviceID)
	}
	// The account's authenticators span every customer: a customer-limited
	// key learns nothing of them, not even which exist (review r25c F2).
	if err := c.access.accountWide(ctx, a, "read", "the authenticators"); err != nil {
		return err
	}
	if _, err := c.st.GetAccount(ctx, account); err != nil {
		return &Error{Kind: NotFound, Reason: ReasonAccountNotDefined, Msg: "account " + account + " is not defined"}
	}
	svc, err := c.st.GetAuthenticator(ctx, account, typ, serviceID)
	if err != nil {
		return &Error{Kind: NotFound, Reason: ReasonServiceNotFound, Msg: "authenticator " + serviceName(typ, serviceID) + " not found"}
	}
	if !a.Has(PermAuthenticatorsManage) && !c.allowedByID(ctx, svc, a.Session) {
		return c.statusDenied(ctx, a, account, typ, serviceID)
	}
	if err := c.configStatus(ctx, svc); err != nil {
		var fe *authn.FetchError
		if errors.As(err, &fe) {
			reason := ReasonJWKSFetchFailed
			if fe.Discovery {
				reason = ReasonDiscoveryFailed
			}
			return &Error{Kind: Internal, Reason: reason, Msg: fe.URI, Err: fe.Err}
		}
		return &Error{Kind: Internal, Reason: ReasonServiceMisconfigure, Msg: err.Error(), Err: err}
	}
	return nil
}

// statusDenied audits and refuses a status read.
func (c *authenticatorService) statusDenied(ctx context.Context, a *Access, account, typ, serviceID string) error {
	ev := fail(c.audit.event(a.Caller, a.Session.Account, "authenticator.status"), ReasonMissingPermission)
	ev.Actor, ev.Subject, ev.Authenticator, ev.KeyID = a.Session.RoleID(), serviceSubject(account, typ, serviceID), serviceName(typ, serviceID), a.Session.KeyID
	c.audit.recordFailure(ctx, ev)
	return &Error{Kind: Forbidden, Reason: ReasonMissingPermission, Msg: "the caller may not read this authenticator's status"}
}

func (c *authenticatorService) allowedByID(ctx context.Context, svc model.AuthenticatorService, s Session) bool {
	pe, err := c.keys.principal(ctx, s.Account, s.PrincipalID)
	return err == nil && c.allowedBy(ctx, svc, pe.p)
}

// allowedBy reports whether the service's allowed list admits p now: by its
// login, or by a role it holds now.
func (c *authenticatorService) allowedBy(ctx context.Context, svc model.AuthenticatorService, p model.Principal) bool {
	if slices.Contains(svc.Allowed, string(p.Kind)+":"+p.Login) {
		return true
	}
	// A PrivX source admits its own users.
	if isSource(svc) && p.Kind == model.KindUser && p.Source == svc.ServiceID {
		return true
	}
	now := c.now()
	found := false
	_ = c.access.eachGrant(ctx, p.Account, p.ID, func(g model.Grant, r model.Role) {
		if grantHolds(g, now) && slices.Contains(svc.Allowed, "role:"+r.Name) {
			found = true
		}
	})
	return found
}
