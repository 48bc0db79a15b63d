package core

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/crypto"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/netpolicy"
	"github.com/keyward/keyward/internal/store"
)

// apiRegService is BeyondInsight-style API registrations: their management
// (this file) and the PS-Auth sign-in they allow (psauth.go). A key or
// client secret is kept as an HMAC, the index it is found by, and sealed
// to be shown again; the PSRUN secret is sealed.
type apiRegService struct {
	st     store.Store
	sealer *crypto.Sealer
	now    func() time.Time
	keys   *keyring
	audit  *auditor
	access *accessService
	authn  *authenticatorService
	mfa    *mfaService
	bcrypt *bcryptPool
	auth   *authService
}

// Rule types of an API registration.
const (
	RuleIP    = "ip"
	RuleXFF   = "xff"
	RulePSRUN = "psrun"
)

// APIRegSpec is a registration to create, or the fields of a PATCH (nil:
// unchanged).
type APIRegSpec struct {
	Name               *string
	Type               string
	EnforceMFA         *bool
	ClientCertRequired *bool
	PasswordRequired   *bool
	VerifyPSRUN        *bool
	Allowed            *[]string
	Rules              *[]model.APIRule
	RunAs              *string
	AccessTokenMinutes *int
}

// APIRegSecrets are what only create, show-key and the rotations answer:
// a key policy's key and PSRUN secret, an access policy's client id and
// secret.
type APIRegSecrets struct {
	Key, PSRUNSecret, ClientID, ClientSecret string
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newGUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// regKeyHash is the HMAC a key policy's key is kept and found by.
func (c *apiRegService) regKeyHash(key string) []byte {
	return c.sealer.KeyHash("psauth-key\x00" + key)
}

// regSecretHash is the HMAC an access policy's client secret is kept as
// (found through its client id).
func (c *apiRegService) regSecretHash(secret string) []byte {
	return c.sealer.KeyHash("psauth-client-secret\x00" + secret)
}

func regKeyAAD(g model.APIRegistration) []byte { return []byte("apireg-key:" + g.Account + ":" + g.ID) }
func regPSRUNAAD(g model.APIRegistration) []byte {
	return []byte("apireg-psrun:" + g.Account + ":" + g.ID)
}

// setKey gives g a new key (or client secret) and returns it.
func (c *apiRegService) setKey(g *model.APIRegistration) string {
	if g.Type == model.APIAccessPolicy {
		secret := randomHex(32)
		g.KeyHash, g.KeyLast4 = c.regSecretHash(secret), ""
		g.KeySealed = c.sealer.Seal([]byte(secret), regKeyAAD(*g))
		return secret
	}
	key := randomHex(64)
	g.KeyHash, g.KeyLast4 = c.regKeyHash(key), key[len(key)-4:]
	g.KeySealed = c.sealer.Seal([]byte(key), regKeyAAD(*g))
	return key
}

func (c *apiRegService) setPSRUN(g *model.APIRegistration) string {
	secret := randomHex(32)
	g.PSRUNSealed = c.sealer.Seal([]byte(secret), regPSRUNAAD(*g))
	return secret
}

// validateRules checks rule types and values: at least one ip or psrun
// rule; a rule with an id must be one of old's and keep its side (ip and
// psrun, or xff); rules without an id get one.
func validateRules(rules []model.APIRule, old []model.APIRule) ([]model.APIRule, error) {
	out := make([]model.APIRule, 0, len(rules))
	source := false
	for i, r := range rules {
		switch r.Type {
		case RuleIP, RulePSRUN:
			source = true
		case RuleXFF:
		default:
			return nil, invalid("rules", "rule %d: type must be ip, xff or psrun; got %q", i, r.Type)
		}
		if _, err := netpolicy.ParseRange(r.Value); err != nil {
			return nil, invalid("rules", "rule %d: %v", i, err)
		}
		if r.ID != "" {
			j := -1
			for k, o := range old {
				if o.ID == r.ID {
					j = k
				}
			}
			if j < 0 {
				return nil, invalid("rules", "rule %d: no rule has id %q", i, r.ID)
			}
			if (old[j].Type == RuleXFF) != (r.Type == RuleXFF) {
				return nil, invalid("rules", "rule %d: an existing rule cannot change between ip/psrun and xff", i)
			}
		} else {
			r.ID = crypto.NewID()
		}
		out = append(out, model.APIRule{ID: r.ID, Type: r.Type, Value: strings.TrimSpace(r.Value)})
	}
	if !source {
		return nil, invalid("rules", "at least one ip or psrun rule is required")
	}
	return out, nil
}

// maxRegEntries bounds a registration's rules and allowed entries: every
// sign-in and session use walks them.
const maxRegEntries = 256

// apply sets spec's fields on g and checks the result.
func (c *apiRegService) apply(ctx context.Context, a *Access, g *model.APIRegistration, spec APIRegSpec) error {
	if spec.Name != nil {
		n := strings.TrimSpace(*spec.Name)
		if n == "" || len(n) > 256 {
			return invalid("name", "name must be 1 to 256 characters")
		}
		g.Name = n
	}
	set := func(dst *bool, v *bool) {
		if v != nil {
			*dst = *v
		}
	}
	set(&g.EnforceMFA, spec.EnforceMFA)
	set(&g.ClientCertRequired, spec.ClientCertRequired)
	set(&g.PasswordRequired, spec.PasswordRequired)
	set(&g.VerifyPSRUN, spec.VerifyPSRUN)
	if spec.Allowed != nil && len(*spec.Allowed) > maxRegEntries {
		return invalid("allowed", "at most %d allowed entries", maxRegEntries)
	}
	if spec.Rules != nil && len(*spec.Rules) > maxRegEntries {
		return invalid("rules", "at most %d rules", maxRegEntries)
	}
	if spec.Allowed != nil {
		if err := validateAllowed(*spec.Allowed); err != nil {
			return err
		}
		if err := c.authn.mayAdmit(ctx, a, *spec.Allowed); err != nil {
			return err
		}
		g.Allowed = append([]string{}, *spec.Allowed...)
	}
	if spec.Rules != nil {
		rules, err := validateRules(*spec.Rules, g.Rules)
		if err != nil {
			return err
		}
		if g.Type == model.APIAccessPolicy {
			// An access policy has no PSRUN secret: a psrun rule there
			// would be an ip rule asking for no signature.
			for i, r := range rules {
				if r.Type == RulePSRUN {
					return invalid("rules", "rule %d: an api_access_policy takes no psrun rule (it has no PSRUN secret)", i)
				}
			}
		}
		g.Rules = rules
	}
	if g.Type == model.APIAccessPolicy {
		if spec.RunAs != nil {
			p, err := findPrincipal(ctx, c.st, g.Account, *spec.RunAs)
			if err != nil {
				return invalid("run_as", "run_as names no user or host of the account")
			}
			if err := c.authn.mayAdmit(ctx, a, []string{string(p.Kind) + ":" + p.Login}); err != nil {
				return err
			}
			g.RunAs = p.ConjurLogin()
		}
		if spec.AccessTokenMinutes != nil {
			g.AccessTokenMinutes = *spec.AccessTokenMinutes
		}
		if g.AccessTokenMinutes < 1 || g.AccessTokenMinutes > 1440 {
			return invalid("access_token_minutes", "access_token_minutes must be 1 to 1440")
		}
		if g.RunAs == "" {
			return invalid("run_as", "run_as is required for an api_access_policy")
		}
	}
	if g.Rules == nil {
		// Created without rules (the console's first step, as in
		// BeyondInsight): it admits nobody until rules are given, and a
		// rules list given must hold an ip or psrun rule.
		g.Rules = []model.APIRule{}
	}
	return nil
}

// mayManageRegs checks the permission and that the credential is not
// narrowed (a registration is a credential: minting one would shed limits).
func (c *apiRegService) mayManageRegs(ctx context.Context, a *Access) error {
	if err := c.access.Require(ctx, a, PermAPIRegistrationsManage); err != nil {
		return err
	}
	if a.Session.Narrowed {
		return c.access.deny(ctx, a, ReasonNarrowedCredential, PermAPIRegistrationsManage,
			"a narrowed credential may not manage API registrations")
	}
	return nil
}

// mayHoldReg checks that the caller outranks every principal the current
// registration admits (a key policy's allowed list) or runs as (an access
// policy's run_as): using, loosening or rotating a registration someone
// stronger wrote would let the caller act as its principals. Refusals are
// audited by the outranking rule.
func (c *apiRegService) mayHoldReg(ctx context.Context, a *Access, g model.APIRegistration) error {
	if g.Type == model.APIAccessPolicy {
		p, err := findPrincipal(ctx, c.st, g.Account, g.RunAs)
		if err != nil {
			return nil // runs as nobody: admits no one
		}
		return c.authn.mayAdmit(ctx, a, []string{string(p.Kind) + ":" + p.Login})
	}
	return c.authn.mayAdmit(ctx, a, g.Allowed)
}

func (c *apiRegService) regEvent(a *Access, g model.APIRegistration, name string) audit.Event {
	ev := c.audit.event(a.Caller, a.Session.Account, name)
	ev.Actor, ev.Subject, ev.KeyID = a.Session.RoleID(), regSubject(g.Account, g.ID), g.ID
	ev.Detail = "name " + g.Name
	return ev
}

func regSubject(account, id string) string { return account + ":api_registration:" + id }

// CreateAPIRegistration creates a registration and answers, once, its secrets.
func (c *apiRegService) CreateAPIRegistration(ctx context.Context, a *Access, spec APIRegSpec) (model.APIRegistration, APIRegSecrets, error) {
	if err := c.mayManageRegs(ctx, a); err != nil {
		return model.APIRegistration{}, APIRegSecrets{}, err
	}
	now := c.now().UTC()
	g := model.APIRegistration{ID: crypto.NewID(), Account: a.Session.Account, Type: spec.Type, EnforceMFA: true,
		CreatedAt: now, UpdatedAt: now, Allowed: []string{}, DefinedBy: a.Session.PrincipalID, Version: 1,
		KeyHolders: []string{a.Session.PrincipalID}}
	switch g.Type {
	case "":
		g.Type = model.APIKeyPolicy
	case model.APIKeyPolicy:
	case model.APIAccessPolicy:
		g.AccessTokenMinutes = 60
	default:
		return g, APIRegSecrets{}, invalid("type", "type must be api_key_policy or api_access_policy")
	}
	if spec.Name == nil {
		return g, APIRegSecrets{}, invalid("name", "name is required")
	}
	if err := c.apply(ctx, a, &g, spec); err != nil {
		return model.APIRegistration{}, APIRegSecrets{}, err
	}
	var sec APIRegSecrets
	if g.Type == model.APIAccessPolicy {
		g.ClientID = newGUID()
		g.Allowed, g.EnforceMFA, g.PasswordRequired, g.VerifyPSRUN = []string{}, false, false, false
		sec.ClientID, sec.ClientSecret = g.ClientID, c.setKey(&g)
	} else {
		sec.Key, sec.PSRUNSecret = c.setKey(&g), c.setPSRUN(&g)
	}
	ev := c.regEvent(a, g, "api_registration.create")
	if err := c.st.CreateAPIRegistration(ctx, g, ev); err != nil {
		return model.APIRegistration{}, APIRegSecrets{}, wrapStore(err, "API registration")
	}
	return g, sec, nil
}

// GetAPIRegistration returns one registration of the caller's account. A
// customer-limited key reads no registration (accountWide): allowed and
// run_as name principals of every customer (review r22b R3).
func (c *apiRegService) GetAPIRegistration(ctx context.Context, a *Access, id string) (model.APIRegistration, error) {
	if err := c.access.Require(ctx, a, PermAPIRegistrationsManage); err != nil {
		return model.APIRegistration{}, err
	}
	if err := c.access.accountWide(ctx, a, "read", "the API registrations"); err != nil {
		return model.APIRegistration{}, err
	}
	g, err := c.st.GetAPIRegistration(ctx, a.Session.Account, id)
	return g, wrapStore(err, "API registration")
}

// ListAPIRegistrations returns one page of the account's registrations;
// refused to a customer-limited key, as GetAPIRegistration.
func (c *apiRegService) ListAPIRegistrations(ctx context.Context, a *Access, page Page) ([]model.APIRegistration, int, error) {
	if err := c.access.Require(ctx, a, PermAPIRegistrationsManage); err != nil {
		return nil, 0, err
	}
	if err := c.access.accountWide(ctx, a, "read", "the API registrations"); err != nil {
		return nil, 0, err
	}
	page, err := normalizePage(page)
	if err != nil {
		return nil, 0, err
	}
	gs, total, err := c.st.ListAPIRegistrations(ctx, a.Session.Account, page)
	return gs, total, wrapStore(err, "API registrations")
}

// specFields names the fields a PATCH sets (never their values), for its record.
func specFields(spec APIRegSpec) string {
	var out []string
	add := func(set bool, name string) {
		if set {
			out = append(out, name)
		}
	}
	add(spec.Name != nil, "name")
	add(spec.EnforceMFA != nil, "enforce_mfa")
	add(spec.ClientCertRequired != nil, "client_certificate_required")
	add(spec.PasswordRequired != nil, "user_password_required")
	add(spec.VerifyPSRUN != nil, "verify_psrun_signature")
	add(spec.Allowed != nil, "allowed")
	add(spec.Rules != nil, "rules")
	add(spec.RunAs != nil, "run_as")
	add(spec.AccessTokenMinutes != nil, "access_token_minutes")
	return strings.Join(out, ",")
}

// update runs change on the registration in the store (which ends its
// sessions) with ev built from the result.
func (c *apiRegService) update(ctx context.Context, a *Access, id, event string, change func(g *model.APIRegistration) error) (model.APIRegistration, error) {
	return c.updateDetail(ctx, a, id, event, "", change)
}

// updateDetail is update whose record also names the fields set.
func (c *apiRegService) updateDetail(ctx context.Context, a *Access, id, event, fields string, change func(g *model.APIRegistration) error) (model.APIRegistration, error) {
	old, err := c.st.GetAPIRegistration(ctx, a.Session.Account, id)
	if err != nil {
		return model.APIRegistration{}, wrapStore(err, "API registration")
	}
	if err := c.mayHoldReg(ctx, a, old); err != nil {
		return model.APIRegistration{}, err
	}
	next := old
	next.Allowed, next.Rules = append([]string{}, old.Allowed...), append([]model.APIRule{}, old.Rules...)
	next.KeyHolders = append([]string{}, old.KeyHolders...)
	if err := change(&next); err != nil {
		return model.APIRegistration{}, err
	}
	next.UpdatedAt = c.now().UTC()
	next.DefinedBy = a.Session.PrincipalID
	ev := c.regEvent(a, next, event)
	if fields != "" {
		ev.Detail += "; set " + fields
	}
	g, err := c.st.UpdateAPIRegistration(ctx, a.Session.Account, id, func(cur model.APIRegistration) (model.APIRegistration, error) {
		if cur.Version != old.Version {
			return cur, &Error{Kind: Conflict, Msg: "the API registration changed meanwhile; try again"}
		}
		next.LastUsedAt = cur.LastUsedAt
		if string(next.KeyHash) == string(cur.KeyHash) {
			// The key stays: whoever read it meanwhile (an audited read
			// does not change the version) still holds it.
			next.KeyHolders = addHolders(cur.KeyHolders, next.KeyHolders...)
		}
		return next, nil
	}, ev)
	return g, wrapStore(err, "API registration")
}

// UpdateAPIRegistration applies a PATCH; the registration's sessions end.
func (c *apiRegService) UpdateAPIRegistration(ctx context.Context, a *Access, id string, spec APIRegSpec) (model.APIRegistration, error) {
	if err := c.mayManageRegs(ctx, a); err != nil {
		return model.APIRegistration{}, err
	}
	if spec.Type != "" {
		return model.APIRegistration{}, invalid("type", "the type of a registration cannot change")
	}
	return c.updateDetail(ctx, a, id, "api_registration.update", specFields(spec), func(g *model.APIRegistration) error {
		if g.Type == model.APIAccessPolicy && (spec.Allowed != nil || spec.EnforceMFA != nil || spec.PasswordRequired != nil || spec.VerifyPSRUN != nil) {
			return invalid("allowed", "an api_access_policy has no allowed list, MFA, password or PSRUN options")
		}
		if g.Type == model.APIKeyPolicy && (spec.RunAs != nil || spec.AccessTokenMinutes != nil) {
			return invalid("access_token_minutes", "an api_key_policy has no run_as or access_token_minutes")
		}
		return c.apply(ctx, a, g, spec)
	})
}

// DeleteAPIRegistration removes a registration; its key and sessions stop
// working at once.
func (c *apiRegService) DeleteAPIRegistration(ctx context.Context, a *Access, id string) error {
	if err := c.mayManageRegs(ctx, a); err != nil {
		return err
	}
	g, err := c.st.GetAPIRegistration(ctx, a.Session.Account, id)
	if err != nil {
		return wrapStore(err, "API registration")
	}
	if err := c.mayHoldReg(ctx, a, g); err != nil {
		return err
	}
	return wrapStore(c.st.DeleteAPIRegistration(ctx, a.Session.Account, id, c.regEvent(a, g, "api_registration.delete")), "API registration")
}

// ShowAPIRegistrationKey opens the sealed secrets; every read is audited.
func (c *apiRegService) ShowAPIRegistrationKey(ctx context.Context, a *Access, id string) (APIRegSecrets, error) {
	if err := c.mayManageRegs(ctx, a); err != nil {
		return APIRegSecrets{}, err
	}
	g, err := c.st.GetAPIRegistration(ctx, a.Session.Account, id)
	if err != nil {
		return APIRegSecrets{}, wrapStore(err, "API registration")
	}
	if err := c.mayHoldReg(ctx, a, g); err != nil {
		return APIRegSecrets{}, err
	}
	// The reader becomes a holder of the current key, in the transaction
	// that records the read and returns the key read: every sign-in checks
	// that each holder still outranks whoever it signs in as.
	g, err = c.st.AddAPIRegistrationHolder(ctx, a.Session.Account, id, a.Session.PrincipalID, c.regEvent(a, g, "api_registration.key.read"))
	if err != nil {
		return APIRegSecrets{}, wrapStore(err, "API registration")
	}
	key, err := c.sealer.Open(g.KeySealed, regKeyAAD(g))
	if err != nil {
		return APIRegSecrets{}, fmt.Errorf("open API registration key: %w", err)
	}
	var sec APIRegSecrets
	if g.Type == model.APIAccessPolicy {
		sec.ClientID, sec.ClientSecret = g.ClientID, string(key)
	} else {
		ps, err := c.sealer.Open(g.PSRUNSealed, regPSRUNAAD(g))
		if err != nil {
			return APIRegSecrets{}, fmt.Errorf("open PSRUN secret: %w", err)
		}
		sec.Key, sec.PSRUNSecret = string(key), string(ps)
	}
	return sec, nil
}

// addHolders adds ids to holders, each once.
func addHolders(holders []string, ids ...string) []string {
	out := append([]string{}, holders...)
	for _, id := range ids {
		if id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// RotateAPIRegistrationKey gives the registration a new key (or client
// secret): the old one fails at once and every session (and token) ends.
func (c *apiRegService) RotateAPIRegistrationKey(ctx context.Context, a *Access, id string) (APIRegSecrets, error) {
	if err := c.mayManageRegs(ctx, a); err != nil {
		return APIRegSecrets{}, err
	}
	var sec APIRegSecrets
	_, err := c.update(ctx, a, id, "api_registration.key.rotate", func(g *model.APIRegistration) error {
		k := c.setKey(g)
		now := c.now().UTC()
		g.KeyRotatedAt = &now
		// Only the rotator has seen the new key (or client secret).
		g.KeyHolders = []string{a.Session.PrincipalID}
		if g.Type == model.APIAccessPolicy {
			sec.ClientSecret = k
		} else {
			sec.Key = k
		}
		return nil
	})
	return sec, err
}

// RotatePSRUNSecret gives a key policy a new PSRUN secret: signatures with
// the old one fail at once.
func (c *apiRegService) RotatePSRUNSecret(ctx context.Context, a *Access, id string) (APIRegSecrets, error) {
	if err := c.mayManageRegs(ctx, a); err != nil {
		return APIRegSecrets{}, err
	}
	var sec APIRegSecrets
	_, err := c.update(ctx, a, id, "api_registration.psrun_secret.rotate", func(g *model.APIRegistration) error {
		if g.Type != model.APIKeyPolicy {
			return invalid("type", "an api_access_policy has no PSRUN secret")
		}
		sec.PSRUNSecret = c.setPSRUN(g)
		g.KeyHolders = addHolders(g.KeyHolders, a.Session.PrincipalID)
		return nil
	})
	return sec, err
}
