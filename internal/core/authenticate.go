package core

import (
	"context"
	"crypto/hmac"
	"errors"
	"net/netip"
	"strings"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/crypto"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/netpolicy"
	"github.com/keyward/keyward/internal/store"
)

// LoginRequest names who is authenticating, as the surface received it.
type LoginRequest struct {
	Account string
	// Login is as the surface gives it: "alice", "host/myapp" (Conjur), or a
	// bare host login (native). Empty when the key alone identifies.
	Login string
	// Event is the audit event name (authn, token, verify…); Authenticator
	// the way in (authn…).
	Event         string
	Authenticator string
	// Conjur marks a login through Conjur's authn: refused while the
	// environment's authenticator list (CONJUR_AUTHENTICATORS) leaves authn
	// out. The native API ignores that list.
	Conjur bool
}

// authnDisabled audits and refuses a Conjur authn login while the
// environment's authenticator list leaves authn out.
func (c *Core) authnDisabled(ctx context.Context, caller Caller, req LoginRequest) error {
	if !req.Conjur || c.BasicAuthnEnabled() {
		return nil
	}
	c.RecordAuthnFailure(ctx, caller, req.Account, req.Login, req.Event, req.Authenticator, "authenticator_disabled")
	return unauthenticated("authenticator_disabled")
}

// splitLogin turns a Conjur-style login into kind and bare login. A bare
// login has kind "" (user first, then host).
func splitLogin(login string) (kind model.Kind, bare string) {
	switch {
	case strings.HasPrefix(login, "host/"):
		return model.KindHost, login[5:]
	case strings.HasPrefix(login, "user/"):
		return model.KindUser, login[5:]
	}
	return "", login
}

// subjectRoleID names who a login claims to be, for audit records, also for
// logins that do not exist.
func subjectRoleID(account, login string) string {
	kind, bare := splitLogin(login)
	if kind == "" {
		kind = model.KindUser
	}
	return account + ":" + string(kind) + ":" + bare
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// loginMatches reports whether a login names principal p.
func loginMatches(p model.Principal, login string) bool {
	if login == "" {
		return true
	}
	kind, bare := splitLogin(login)
	if bare != p.Login {
		return false
	}
	return kind == "" || kind == p.Kind
}

// KeyCheck is the answer about one presented API key.
type KeyCheck struct {
	Valid     bool
	Code      string // why not valid: malformed, unknown_key, expired, revoked, source_not_allowed, disabled…
	Session   Session
	Principal model.Principal
	Key       model.APIKey
}

// checkKey does the hot-path work of an API-key check: parse, look up by id,
// compare the HMAC in constant time, check expiry, revocation, sources and
// the owner's status and restriction. It reads only memory (the owner is
// cached after its first use) and writes nothing.
func (c *Core) checkKey(ctx context.Context, caller Caller, req LoginRequest, key string) KeyCheck {
	id, secret, ok := crypto.ParseAPIKey(key)
	if !ok {
		return KeyCheck{Code: "malformed"}
	}
	e, found := c.keys.key(id)
	h := c.sealer.KeyHash(secret)
	if !found {
		return KeyCheck{Code: "unknown_key"}
	}
	now := c.now()
	match := hmac.Equal(h, e.hash[:])
	if !match && e.hasPrev && now.UnixNano() < e.prevUntil {
		match = hmac.Equal(h, e.prevHash[:])
	}
	kc := KeyCheck{Key: e.summary()}
	switch {
	case !match:
		kc.Code = "bad_secret"
		return kc
	case e.revoked:
		kc.Code = "revoked"
		return kc
	case e.expires != 0 && now.UnixNano() >= e.expires:
		kc.Code = "expired"
		return kc
	case req.Account != "" && e.account != req.Account:
		kc.Code = "wrong_account"
		return kc
	}
	pe, err := c.keys.principal(ctx, e.account, e.principalID)
	if err != nil {
		kc.Code = "principal_gone"
		return kc
	}
	kc.Principal = pe.p
	switch {
	case !loginMatches(pe.p, req.Login):
		kc.Code = "login_mismatch"
	case pe.p.Status == model.StatusDisabled:
		kc.Code = "disabled"
	case !netpolicy.Allowed(e.sources, caller.ClientIP) || !netpolicy.Allowed(pe.restricted, caller.ClientIP):
		kc.Code = "source_not_allowed"
	default:
		kc.Valid = true
		kc.Session = Session{Account: pe.p.Account, PrincipalID: pe.p.ID, Login: pe.p.ConjurLogin(), Kind: string(pe.p.Kind),
			Level: LevelKey, KeyID: e.id, Scope: e.roles, Authenticator: req.Authenticator,
			Narrowed: len(e.roles) > 0 || len(e.sources) > 0}
	}
	return kc
}

// AuthenticateKey proves a session with an API key. Every attempt is
// audited, and a success only returns once its record is committed.
func (c *Core) AuthenticateKey(ctx context.Context, caller Caller, req LoginRequest, key string) (Session, error) {
	if err := c.authnDisabled(ctx, caller, req); err != nil {
		return Session{}, err
	}
	kc := c.checkKey(ctx, caller, req, key)
	ev := c.keyEvent(caller, req, kc)
	if !kc.Valid {
		c.recordFailure(ctx, ev)
		return Session{}, unauthenticated(kc.Code)
	}
	if err := c.audit.record(ctx, ev); err != nil {
		return Session{}, err
	}
	c.touches.touch(kc.Key.ID, c.now(), ev.ClientIP)
	return kc.Session, nil
}

// VerifyKey answers a resource server's question about a key: valid or not,
// and why not. Every verification is audited.
func (c *Core) VerifyKey(ctx context.Context, caller Caller, key string) (KeyCheck, []string, error) {
	req := LoginRequest{Event: "apikey.verify", Authenticator: "authn"}
	kc := c.checkKey(ctx, caller, req, key)
	ev := c.keyEvent(caller, req, kc)
	if !kc.Valid {
		if kc.Code == "bad_secret" || kc.Code == "malformed" || kc.Code == "unknown_key" {
			kc.Code = "invalid" // says nothing about whether the key id exists
		}
		c.recordFailure(ctx, ev)
		return kc, nil, nil
	}
	perms, err := c.Permissions(ctx, kc.Session, caller)
	if err != nil {
		return KeyCheck{}, nil, err
	}
	if err := c.audit.record(ctx, ev); err != nil {
		return KeyCheck{}, nil, err
	}
	c.touches.touch(kc.Key.ID, c.now(), ev.ClientIP)
	return kc, perms, nil
}

func (c *Core) keyEvent(caller Caller, req LoginRequest, kc KeyCheck) audit.Event {
	ev := c.event(caller, req.Account, req.Event)
	ev.Authenticator = req.Authenticator
	ev.KeyID = kc.Key.ID
	switch {
	case kc.Principal.ID != "":
		ev.Account = kc.Principal.Account
		ev.Actor = kc.Principal.RoleID()
		ev.Subject = ev.Actor
	case req.Login != "":
		ev.Actor = subjectRoleID(req.Account, req.Login)
		ev.Subject = ev.Actor
	default:
		ev.Actor = req.Account + ":user:unknown"
		ev.Subject = ev.Actor
	}
	if ev.Account == "" {
		ev.Account = kc.Key.Account
	}
	if !kc.Valid {
		ev = fail(ev, kc.Code)
	}
	return ev
}

// findPrincipal resolves a login: Conjur-style with a kind prefix, or bare
// (a user first, then a host).
func (c *Core) findPrincipal(ctx context.Context, account, login string) (model.Principal, error) {
	kind, bare := splitLogin(login)
	if kind != "" {
		return c.st.GetPrincipalByLogin(ctx, account, kind, bare)
	}
	p, err := c.st.GetPrincipalByLogin(ctx, account, model.KindUser, bare)
	if errors.Is(err, store.ErrNotFound) {
		return c.st.GetPrincipalByLogin(ctx, account, model.KindHost, bare)
	}
	return p, err
}

// AuthenticatePassword proves a session with a login and password. With
// acceptKey, the principal's current API key also works as the password
// (Conjur's Basic login). An unknown login costs the same bcrypt work.
func (c *Core) AuthenticatePassword(ctx context.Context, caller Caller, req LoginRequest, password string, acceptKey bool) (Session, model.Principal, error) {
	if err := c.authnDisabled(ctx, caller, req); err != nil {
		return Session{}, model.Principal{}, err
	}
	ev := c.event(caller, req.Account, req.Event)
	ev.Authenticator = req.Authenticator
	ev.Actor = subjectRoleID(req.Account, req.Login)
	ev.Subject = ev.Actor
	if acceptKey {
		if _, _, ok := crypto.ParseAPIKey(password); ok {
			kc := c.checkKey(ctx, caller, req, password)
			// Only the principal's Conjur key stands in for its password, as
			// in Conjur: a narrowed key must not open the unnarrowed paths
			// that Basic credentials lead to (login, rotation, password).
			if kc.Valid && kc.Key.Conjur {
				kev := c.keyEvent(caller, req, kc)
				if err := c.audit.record(ctx, kev); err != nil {
					return Session{}, model.Principal{}, err
				}
				c.touches.touch(kc.Key.ID, c.now(), kev.ClientIP)
				return kc.Session, kc.Principal, nil
			}
		}
	}
	p, err := c.findPrincipal(ctx, req.Account, req.Login)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Session{}, model.Principal{}, wrapStore(err, "principal")
	}
	ok, perr := c.bcrypt.compare(ctx, p.PasswordHash, password)
	if perr != nil {
		ev = fail(ev, "throttled")
		c.recordFailure(ctx, ev)
		return Session{}, model.Principal{}, perr
	}
	if p.ID != "" {
		ev.Actor = p.RoleID()
		ev.Subject = ev.Actor
	}
	restricted, _ := netpolicy.ParseCIDRs(p.RestrictedTo)
	reason := ""
	switch {
	case p.ID == "":
		reason = "unknown_login"
	case !ok && p.PasswordHash == "":
		reason = "no_password"
	case !ok:
		reason = "bad_password"
	case p.Status == model.StatusDisabled:
		reason = "disabled"
	case !netpolicy.Allowed(restricted, caller.ClientIP):
		reason = "source_not_allowed"
	}
	if reason != "" {
		c.recordFailure(ctx, fail(ev, reason))
		return Session{}, model.Principal{}, unauthenticated(reason)
	}
	if err := c.audit.record(ctx, ev); err != nil {
		return Session{}, model.Principal{}, err
	}
	return Session{Account: p.Account, PrincipalID: p.ID, Login: p.ConjurLogin(), Kind: string(p.Kind),
		Level: LevelPassword, Authenticator: req.Authenticator}, p, nil
}

// Whoami audits and returns what a session knows of itself.
func (c *Core) Whoami(ctx context.Context, s Session, caller Caller) error {
	ev := c.event(caller, s.Account, "whoami")
	ev.Actor = s.RoleID()
	ev.Subject = ev.Actor
	return c.audit.record(ctx, ev)
}
