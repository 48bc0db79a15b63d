package core

import (
	"context"
	"crypto/hmac"
	"errors"
	"net/netip"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/crypto"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/netpolicy"
	"github.com/keyward/keyward/internal/store"
)

// authService is authentication: the one way from a credential (token, API
// key, password, outside proof) to a session, with the admission check,
// the failure throttle, the bcrypt pool and an audit record of every
// attempt.
type authService struct {
	st       store.Store
	sealer   *crypto.Sealer
	now      func() time.Time
	keys     *keyring
	throttle *throttle
	bcrypt   *bcryptPool
	touches  *toucher
	audit    *auditor
	access   *accessService
	tokenSvc *tokenService
	authnSvc *authenticatorService
	mfa      *mfaService
	regs     *apiRegService
	sigs     *signatureService
	meter    Meter
}

// CredentialKind is the closed set of credentials Authenticate takes.
type CredentialKind int

// Credential kinds. Later surfaces add PS-Auth headers
// and console cookies here, never a way in of their own.
const (
	CredNone      CredentialKind = iota // nothing usable was presented (Malformed says whether something was)
	CredToken                           // an access token keyward issued
	CredAPIKey                          // an API key
	CredPassword                        // a login and password of an account
	CredOutside                         // a proof for an outside authenticator service (JWT, LDAP password, id token…)
	CredPSAuth                          // a PS-Auth header or an access policy's OAuth token at SignAppin (PS)
	CredPSSession                       // a PS-Auth session cookie (Secret)
	CredSignature                       // a signed request (Argus-Signature, ARGUS-SIG-V1): Secret is the header, Signed the request
)

// Credential is what a surface extracted from a request; Authenticate is
// the only place that decides what it proves.
type Credential struct {
	Kind CredentialKind
	// Malformed: a credential was presented but could not be parsed.
	Malformed bool
	// Account is the route's account, or "" when the credential names it.
	Account string
	// Login is who the credential claims to be, Conjur-style ("alice",
	// "user/alice", "host/myapp") or bare (a user first, then a host); ""
	// when the credential alone identifies.
	Login string
	// Secret is the token, API key, password or outside proof.
	Secret string
	// Second is a TOTP code and Recovery a recovery code, with a password
	// (CredPassword): a user whose MFA is enabled needs one of them.
	Second, Recovery string
	// AcceptKey lets the principal's Conjur API key stand in for its
	// password, as Conjur's Basic credentials do.
	AcceptKey bool
	// Type and ServiceID name an outside authenticator service (authn-jwt,
	// ci); Code, CodeVerifier and Nonce carry the OIDC code flow.
	Type, ServiceID           string
	Code, CodeVerifier, Nonce string
	// Event is the audit event (authn when empty: token, login,
	// apikey.verify…).
	Event string
	// Conjur marks a credential presented through Conjur's API: the
	// environment's authenticator list (CONJUR_AUTHENTICATORS) applies, and
	// a token proves only LevelToken (Conjur lets a token act, but never
	// change its own credentials).
	Conjur bool
	// KeyID, with an API key, is the key id the client names beside it
	// (PrivX's OAuth username): a key of another id is refused
	// (ReasonLoginMismatch).
	KeyID string
	// PS is a PS-Auth sign-in's proof (CredPSAuth).
	PS *PSAuthProof
	// Owner, with an API key, is the principal id the key must belong to
	// (Argus's <userID>/<keyID>/<secret> names it).
	Owner string
	// RequireSecond, with a password, refuses a user whose MFA is not
	// enabled (a route that exists for the second factor).
	RequireSecond bool
	// Signed is the signed request, with CredSignature.
	Signed *SignedRequest
	// Via names the client a password was typed into (the console), for
	// the session and its records; "authn" when empty. The checks are the
	// same whatever it says.
	Via string
}

// SignedRequest is what a signed request's signature covers: the method,
// the path and query exactly as sent, and the body bytes.
type SignedRequest struct {
	Method, Path, Query string
	Body                []byte
}

// authenticator names the credential's way in, for sessions and audit.
func (cr *Credential) authenticator() string {
	switch cr.Kind {
	case CredOutside:
		return serviceName(cr.Type, cr.ServiceID)
	case CredSignature:
		return "signature"
	case CredToken, CredNone:
		return ""
	}
	return "authn"
}

// Authenticate is the one way from a credential to a session. It looks the
// credential up, compares in constant time, runs the one admission check
// (admit) whatever the kind, and audits every attempt, missing and
// malformed credentials included. A success of a key, password or outside
// credential returns only once its record is committed; a token's use is
// not recorded (its issue was), only its refusals.
func (c *authService) Authenticate(ctx context.Context, caller Caller, cred Credential) (Session, error) {
	s, err := c.authenticate(ctx, caller, cred)
	if c.meter != nil {
		c.meter.Authentication(caller.Surface, methodOf(&cred), outcomeOf(err))
	}
	if err == nil && caller.Seen != nil {
		caller.Seen.Account, caller.Seen.Principal, caller.Seen.Authenticator = s.Account, s.Login, s.Authenticator
	}
	return s, err
}

func (c *authService) authenticate(ctx context.Context, caller Caller, cred Credential) (Session, error) {
	if cred.Event == "" {
		cred.Event = "authn"
	}
	if err := c.keys.fresh.check(); err != nil {
		return Session{}, err
	}
	switch cred.Kind {
	case CredToken:
		s, reason, err := c.tokenSvc.checkToken(ctx, caller, cred.Secret)
		if err != nil {
			return Session{}, err
		}
		if reason != ReasonNone {
			ev := c.audit.event(caller, cred.Account, cred.Event)
			ev.Actor = unknownActor(cred.Account)
			if s.PrincipalID != "" {
				ev.Account, ev.Actor = s.Account, s.RoleID()
			}
			ev.Subject = ev.Actor
			c.audit.recordFailure(ctx, fail(ev, reason))
			return Session{}, unauthenticated(reason)
		}
		if cred.Conjur {
			s.Level = LevelToken
		}
		return s, nil
	case CredAPIKey:
		if err := c.authnDisabled(ctx, caller, cred); err != nil {
			return Session{}, err
		}
		kc := c.checkKey(ctx, caller, cred.Account, cred.Login, cred.Secret)
		if cred.Owner != "" && kc.Key.ID != "" && kc.Key.PrincipalID != cred.Owner {
			// The key is not the named user's: as unknown as a wrong secret,
			// whatever else is wrong with it.
			kc.Valid, kc.Code, kc.Session = false, ReasonLoginMismatch, Session{}
		}
		if id, _, _ := crypto.ParseAPIKey(cred.Secret); cred.KeyID != "" && kc.Valid && id != cred.KeyID {
			kc.Valid, kc.Code, kc.Session = false, ReasonLoginMismatch, Session{}
		}
		return c.finishKey(ctx, caller, cred, kc)
	case CredSignature:
		return c.sigs.authenticate(ctx, caller, cred)
	case CredPassword:
		if err := c.authnDisabled(ctx, caller, cred); err != nil {
			return Session{}, err
		}
		return c.authenticatePassword(ctx, caller, cred)
	case CredOutside:
		return c.authenticateOutside(ctx, caller, cred)
	case CredPSAuth:
		if cred.PS != nil {
			return c.regs.authenticatePS(ctx, caller, cred)
		}
	case CredPSSession:
		return c.regs.authenticatePSSession(ctx, caller, cred)
	}
	reason := ReasonMissingCredentials
	if cred.Malformed {
		reason = ReasonMalformedCredentials
	}
	ev := c.audit.event(caller, cred.Account, cred.Event)
	ev.Authenticator = cred.authenticator()
	ev.Actor = subjectRoleID(cred.Account, cred.Login)
	if cred.Login == "" {
		ev.Actor = unknownActor(cred.Account)
	}
	ev.Subject = ev.Actor
	c.audit.recordFailure(ctx, fail(ev, reason))
	e := unauthenticated(reason)
	if !cred.Malformed {
		e.Msg = "authentication required"
	}
	return Session{}, e
}

func unknownActor(account string) string { return account + ":user:unknown" }

// admit is the one admission check every credential passes once it is
// proven: the principal is enabled and its network restriction admits the
// client; a key (or a token minted from one) is neither revoked nor
// expired and its sources admit the client.
func admit(p *principalEntry, k *keyEntry, caller Caller, now time.Time) Reason {
	if k != nil {
		switch {
		case k.revoked:
			return ReasonRevoked
		case k.expires != 0 && now.UnixNano() >= k.expires:
			return ReasonExpired
		case !netpolicy.Allowed(k.sources, caller.ClientIP):
			return ReasonSourceNotAllowed
		}
	}
	switch {
	case p.p.Status == model.StatusDisabled:
		return ReasonDisabled
	case !netpolicy.Allowed(p.restricted, caller.ClientIP):
		return ReasonSourceNotAllowed
	}
	return ReasonNone
}

// authnDisabled audits and refuses a Conjur authn login while the
// environment's authenticator list leaves authn out.
func (c *authService) authnDisabled(ctx context.Context, caller Caller, cred Credential) error {
	if !cred.Conjur || c.authnSvc.BasicAuthnEnabled() {
		return nil
	}
	ev := c.audit.event(caller, cred.Account, cred.Event)
	ev.Authenticator = "authn"
	ev.Actor = subjectRoleID(cred.Account, cred.Login)
	ev.Subject = ev.Actor
	c.audit.recordFailure(ctx, fail(ev, ReasonAuthnDisabled))
	return unauthenticated(ReasonAuthnDisabled)
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
	Valid bool
	Code  Reason // why not valid
	// Err is set when no decision could be made (the store is
	// unavailable): the check is neither valid nor refused.
	Err       error
	Session   Session
	Principal model.Principal
	Key       model.APIKey
}

// checkKey does the hot-path work of an API-key check: parse, look up by id,
// compare the HMAC in constant time, then admit. It reads only memory (the
// owner is cached after its first use) and writes nothing.
func (c *authService) checkKey(ctx context.Context, caller Caller, account, login, key string) KeyCheck {
	id, secret, ok := crypto.ParseAPIKey(key)
	if !ok {
		return KeyCheck{Code: ReasonMalformedKey}
	}
	e, found := c.keys.key(id)
	h := c.sealer.KeyHash(secret)
	if !found {
		return KeyCheck{Code: ReasonUnknownKey}
	}
	now := c.now()
	match := hmac.Equal(h, e.hash[:])
	if !match && e.hasPrev && now.UnixNano() < e.prevUntil {
		match = hmac.Equal(h, e.prevHash[:])
	}
	kc := KeyCheck{Key: e.summary()}
	switch {
	case !match:
		kc.Code = ReasonBadSecret
		return kc
	case account != "" && e.account != account:
		kc.Code = ReasonWrongAccount
		return kc
	}
	pe, err := c.keys.principal(ctx, e.account, e.principalID)
	if err != nil {
		kc.Code = ReasonPrincipalGone
		if !errors.Is(err, store.ErrNotFound) {
			kc.Err = storeError(err)
		}
		return kc
	}
	kc.Principal = pe.p
	if !loginMatches(pe.p, login) {
		kc.Code = ReasonLoginMismatch
		return kc
	}
	if kc.Code = admit(pe, &e, caller, now); kc.Code != ReasonNone {
		return kc
	}
	kc.Valid = true
	kc.Session = Session{Account: pe.p.Account, PrincipalID: pe.p.ID, Login: pe.p.ConjurLogin(), Kind: string(pe.p.Kind),
		Level: LevelKey, KeyID: e.id, Scope: e.roles, Authenticator: "authn", Customers: e.customers,
		Narrowed: len(e.roles) > 0 || len(e.sources) > 0 || len(e.customers) > 0}
	return kc
}

// finishKey audits a key check and returns its session or refusal.
func (c *authService) finishKey(ctx context.Context, caller Caller, cred Credential, kc KeyCheck) (Session, error) {
	if kc.Err != nil {
		return Session{}, kc.Err
	}
	ev := c.keyEvent(caller, cred, kc)
	if !kc.Valid {
		c.audit.recordFailure(ctx, ev)
		return Session{}, unauthenticated(kc.Code)
	}
	return c.keyUsed(ctx, ev, kc)
}

// keyUsed records a successful authentication with the valid key kc: its
// audit record ev (given the key's id) and the key's use. The session is
// the key's.
func (c *authService) keyUsed(ctx context.Context, ev audit.Event, kc KeyCheck) (Session, error) {
	ev.KeyID = kc.Key.ID
	if err := c.audit.record(ctx, ev); err != nil {
		return Session{}, err
	}
	c.touches.touch(kc.Key.ID, c.now(), ev.ClientIP)
	return kc.Session, nil
}

// Vouch is a verify caller's word for the address of the client that
// presented a key: given only by a caller holding api-keys-verify, and
// honoured only for keys of its Account.
type Vouch struct {
	Account  string
	ClientIP netip.Addr
}

// VerifyKey answers a resource server's question about a key: valid or not,
// and why not, with the permissions it gives. The key is checked against
// caller's address (verify's caller passes the presenting client's when it
// may). Every verification is audited.
func (c *authService) VerifyKey(ctx context.Context, caller Caller, key string, vouch Vouch) (KeyCheck, []string, error) {
	kc, perms, err := c.verifyKey(ctx, caller, key, vouch)
	if c.meter != nil {
		outcome := outcomeOf(err)
		if err == nil && !kc.Valid {
			outcome = "failure"
		}
		c.meter.Authentication(caller.Surface, "api_key_verify", outcome)
	}
	return kc, perms, err
}

func (c *authService) verifyKey(ctx context.Context, caller Caller, key string, vouch Vouch) (KeyCheck, []string, error) {
	if vouch.ClientIP.IsValid() {
		// Honoured for keys of the voucher's own account only: a resource
		// server of one tenant does not speak for another's clients.
		if id, _, ok := crypto.ParseAPIKey(key); ok {
			if e, found := c.keys.key(id); found && e.account == vouch.Account {
				caller.ClientIP = vouch.ClientIP
			}
		}
	}
	if err := c.keys.fresh.check(); err != nil {
		return KeyCheck{}, nil, err
	}
	cred := Credential{Kind: CredAPIKey, Secret: key, Event: "apikey.verify"}
	kc := c.checkKey(ctx, caller, "", "", key)
	if _, err := c.finishKey(ctx, caller, cred, kc); err != nil && (kc.Valid || kc.Err != nil) {
		return KeyCheck{}, nil, err
	}
	if !kc.Valid {
		if kc.Code == ReasonBadSecret || kc.Code == ReasonMalformedKey || kc.Code == ReasonUnknownKey {
			kc.Code = ReasonInvalidKey // says nothing about whether the key id exists
		}
		return kc, nil, nil
	}
	now := c.now()
	set, pending, err := c.access.effective(ctx, kc.Session, caller, now)
	if err != nil {
		return KeyCheck{}, nil, err
	}
	// A resource server acting on these permissions is their first use.
	if err := c.access.activate(ctx, kc.Session, caller, pending, now); err != nil {
		return KeyCheck{}, nil, err
	}
	return kc, set.list(), nil
}

func (c *authService) keyEvent(caller Caller, cred Credential, kc KeyCheck) audit.Event {
	ev := c.audit.event(caller, cred.Account, cred.Event)
	ev.Authenticator = "authn"
	ev.KeyID = kc.Key.ID
	switch {
	case kc.Principal.ID != "":
		ev.Account = kc.Principal.Account
		ev.Actor = kc.Principal.RoleID()
	case cred.Login != "":
		ev.Actor = subjectRoleID(cred.Account, cred.Login)
	default:
		ev.Actor = unknownActor(cred.Account)
	}
	ev.Subject = ev.Actor
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
func findPrincipal(ctx context.Context, st store.Store, account, login string) (model.Principal, error) {
	kind, bare := splitLogin(login)
	if kind != "" {
		return st.GetPrincipalByLogin(ctx, account, kind, bare)
	}
	p, err := st.GetPrincipalByLogin(ctx, account, model.KindUser, bare)
	if errors.Is(err, store.ErrNotFound) {
		return st.GetPrincipalByLogin(ctx, account, model.KindHost, bare)
	}
	return p, err
}

// authenticatePassword proves a session with a login and password. With
// AcceptKey, the principal's Conjur API key also works as the password
// (Conjur's Basic login). An unknown login costs the same bcrypt work.
// Failures count towards the login's throttle.
func (c *authService) authenticatePassword(ctx context.Context, caller Caller, cred Credential) (Session, error) {
	via := "authn"
	if cred.Via != "" {
		via = cred.Via
	}
	ev := c.audit.event(caller, cred.Account, cred.Event)
	ev.Authenticator = via
	ev.Actor = subjectRoleID(cred.Account, cred.Login)
	ev.Subject = ev.Actor
	if cred.AcceptKey {
		if _, _, ok := crypto.ParseAPIKey(cred.Secret); ok {
			kc := c.checkKey(ctx, caller, cred.Account, cred.Login, cred.Secret)
			// Only the principal's Conjur key stands in for its password, as
			// in Conjur: a narrowed key must not open the unnarrowed paths
			// that Basic credentials lead to (login, rotation, password).
			if kc.Valid && kc.Key.Conjur {
				return c.finishKey(ctx, caller, cred, kc)
			}
		}
	}
	p, err := findPrincipal(ctx, c.st, cred.Account, cred.Login)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Session{}, wrapStore(err, "principal")
	}
	// The throttle counts per principal, so "alice" and "user/alice" share
	// one count; an unknown login counts under its typed name.
	throttleKey := cred.Account + "\x00?" + cred.Login
	if p.ID != "" {
		throttleKey = cred.Account + "\x00" + p.ID
	}
	if wait := c.throttle.blocked(throttleKey, c.now()); wait > 0 {
		c.audit.recordFailure(ctx, fail(ev, ReasonThrottled))
		return Session{}, &Error{Kind: RateLimited, Reason: ReasonThrottled, Msg: "too many failed attempts; try again later", RetryAfter: wait}
	}
	ok, perr := c.bcrypt.compare(WithSource(ctx, caller), p.PasswordHash, cred.Secret)
	if perr != nil {
		c.audit.recordFailure(ctx, fail(ev, ReasonThrottled))
		return Session{}, perr
	}
	if p.ID != "" {
		ev.Actor = p.RoleID()
		ev.Subject = ev.Actor
	}
	reason := ReasonNone
	switch {
	case p.ID == "":
		reason = ReasonUnknownLogin
	case !ok && p.PasswordHash == "":
		reason = ReasonNoPassword
	case !ok:
		reason = ReasonBadPassword
	default:
		pe := &principalEntry{p: p}
		pe.restricted, _ = netpolicy.ParseCIDRs(p.RestrictedTo)
		reason = admit(pe, nil, caller, c.now())
	}
	if reason != ReasonNone {
		if reason == ReasonUnknownLogin || reason == ReasonNoPassword || reason == ReasonBadPassword {
			c.throttle.fail(throttleKey, c.now())
		}
		c.audit.recordFailure(ctx, fail(ev, reason))
		return Session{}, unauthenticated(reason)
	}
	// Only now, the password being right, does the second factor speak:
	// mfa_required tells nothing to whoever lacks the password. Conjur's
	// Basic login has no field for a code, so it is refused here for a user
	// whose MFA is enabled (its Conjur API key still works: a key is its
	// own factor).
	level := LevelPassword
	if cred.RequireSecond && p.MFA != model.MFAEnabled {
		c.throttle.fail(throttleKey, c.now())
		c.audit.recordFailure(ctx, fail(ev, ReasonMFANotEnabled))
		return Session{}, unauthenticated(ReasonMFANotEnabled)
	}
	if p.MFA == model.MFAEnabled {
		var err error
		if ev, err = c.mfa.login(ctx, caller, p, cred.Second, cred.Recovery, ev); err != nil {
			return Session{}, err
		}
		level = LevelStrong
	}
	if err := c.audit.record(ctx, ev); err != nil {
		return Session{}, err
	}
	c.throttle.reset(throttleKey)
	return Session{Account: p.Account, PrincipalID: p.ID, Login: p.ConjurLogin(), Kind: string(p.Kind),
		Level: level, Authenticator: via}, nil
}

// outsideReason is the refusal reason of an authenticator's outcome.
func outsideReason(o authn.Outcome) Reason {
	switch o {
	case authn.Expired:
		return ReasonExpired
	case authn.Forbidden:
		return ReasonNotAllowed
	case authn.SourceDenied:
		return ReasonSourceNotAllowed
	case authn.Mismatch:
		return ReasonAnnotationMismatch
	case authn.Invalid:
		return ReasonBadRequest
	}
	return ReasonBadCredential
}

// Whoami audits and returns what a session knows of itself.
func (c *authService) Whoami(ctx context.Context, a *Access) error {
	ev := c.audit.event(a.Caller, a.Session.Account, "whoami")
	ev.Actor = a.Session.RoleID()
	ev.Subject = ev.Actor
	ev.KeyID = a.Session.KeyID
	return c.audit.record(ctx, ev)
}

// TokenBody is what a token-exchange body may carry: an API key, or a
// login with a password and, for a user whose MFA is enabled, a TOTP code
// or a recovery code.
type TokenBody struct {
	Account, Login, APIKey, Password string
	TOTP, RecoveryCode               string
}

// TokenExchange is the rule, shared by every token-exchange route (native
// token, OAuth, Argus, PS-Auth), of which credential a body carries: an API
// key, or a login with a password (and perhaps a second factor), never
// both. The account defaults to defaultAccount when a login is given.
func TokenExchange(b TokenBody, defaultAccount string) (Credential, error) {
	account := b.Account
	if account == "" && b.Login != "" {
		account = defaultAccount
	}
	switch {
	case b.APIKey != "" && b.Password != "":
		return Credential{}, invalid("password", "give api_key or password, not both")
	case b.TOTP != "" && b.RecoveryCode != "":
		return Credential{}, invalid("recovery_code", "give totp or recovery_code, not both")
	case b.APIKey != "" && (b.TOTP != "" || b.RecoveryCode != ""):
		return Credential{}, invalid("totp", "a second factor goes with a password, not an API key")
	case b.APIKey != "":
		return Credential{Kind: CredAPIKey, Account: account, Login: b.Login, Secret: b.APIKey, Event: "token"}, nil
	case b.Password != "":
		if b.Login == "" {
			return Credential{}, invalid("login", "login is required with a password")
		}
		return Credential{Kind: CredPassword, Account: account, Login: b.Login, Secret: b.Password, Second: b.TOTP,
			Recovery: b.RecoveryCode, Event: "token"}, nil
	}
	return Credential{}, invalid("api_key", "api_key or password is required")
}
