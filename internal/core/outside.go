package core

import (
	"context"
	"errors"
	"strings"

	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/crypto"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

// usersOnly lists the authenticator types whose identities name people: a
// directory entry or an OIDC user property resolves to a user by its plain
// login, never to a host and never through a kind prefix, so "host/x" or
// "user/admin" typed into a login form names nobody.
func usersOnly(typ string) bool { return typ == "authn-ldap" || typ == "authn-oidc" }

// isBuiltinAdmin reports whether p is an account's built-in admin, which no
// outside authenticator may log in as: the principal, not the typed string,
// decides.
func isBuiltinAdmin(p model.Principal) bool { return p.Kind == model.KindUser && p.Login == "admin" }

// resolveOutside turns an authenticator's identity into a principal of the
// account.
func (c *authService) resolveOutside(ctx context.Context, account, typ, login string) (model.Principal, error) {
	if usersOnly(typ) {
		return c.st.GetPrincipalByLogin(ctx, account, model.KindUser, login)
	}
	return findPrincipal(ctx, c.st, account, login)
}

// authenticateOutside authenticates through a configured service: the
// service must be defined and enabled, the credential good, the principal
// allowed by the service (else Forbidden, as Conjur's 403), its annotations
// must agree with the credential, then the one admission check. Failures
// count towards the login's throttle, as passwords do. The session's TTL is
// the service's token lifetime, where it sets one.
func (c *authService) authenticateOutside(ctx context.Context, caller Caller, cred Credential) (Session, error) {
	name := serviceName(cred.Type, cred.ServiceID)
	ev := c.audit.event(caller, cred.Account, cred.Event)
	ev.Authenticator = name
	ev.Actor = subjectRoleID(cred.Account, cred.Login)
	if cred.Login == "" {
		ev.Actor = unknownActor(cred.Account)
	}
	ev.Subject = ev.Actor
	// Only a named login is throttled: where the proof alone names the
	// principal (a signed JWT without a login in the path) there is no login
	// to guess a secret for, and one key would throttle every workload.
	// A body shaped as a keyward API key on authn-ldap is decided by the key
	// check alone: never bound as a password (the directory would learn the
	// key), and never throttled, as keys are nowhere (their secrets are not
	// guessable; ten wrong passwords must not lock the user's key out).
	ldapKey := isLDAPKey(cred)
	throttleKey := ""
	if cred.Login != "" && !ldapKey {
		// Directories match logins without regard to case or to leading,
		// trailing and repeated spaces: so does the count, or each spelling
		// would get its own ten tries at the same entry's password.
		throttleKey = cred.Account + "\x00" + name + "\x00" + strings.ToLower(strings.Join(strings.Fields(cred.Login), " "))
	}
	refuse := func(reason Reason, detail string, err error) (Session, error) {
		ev.Detail = detail
		c.audit.recordFailure(ctx, fail(ev, reason))
		return Session{}, err
	}
	bad := func(reason Reason, detail string) (Session, error) {
		if throttleKey != "" {
			c.throttle.fail(throttleKey, c.now())
		}
		return refuse(reason, detail, unauthenticated(reason))
	}
	if wait := c.throttle.blocked(throttleKey, c.now()); throttleKey != "" && wait > 0 {
		return refuse(ReasonThrottled, "", &Error{Kind: RateLimited, Reason: ReasonThrottled, Msg: "too many failed attempts; try again later", RetryAfter: wait})
	}
	if _, err := c.st.GetAccount(ctx, cred.Account); err != nil {
		return refuse(ReasonUnknownAccount, "", unauthenticated(ReasonUnknownAccount))
	}
	svc, err := c.st.GetAuthenticator(ctx, cred.Account, cred.Type, cred.ServiceID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return refuse(ReasonUndefinedAuthn, "", unauthenticated(ReasonUndefinedAuthn))
		}
		return refuse(ReasonAuthnUnavailable, "", wrapStore(err, "authenticator"))
	}
	if !c.authnSvc.enabled(svc) {
		return refuse(ReasonAuthnDisabled, "", unauthenticated(ReasonAuthnDisabled))
	}
	a, err := c.authnSvc.authenticator(svc)
	if err != nil {
		return refuse(ReasonAuthnMisconfigured, "", &Error{Kind: Unavailable, Reason: ReasonAuthnMisconfigured, Msg: "authenticator is misconfigured", Err: err})
	}
	id, outcome, err := authn.Identity{Login: cred.Login}, authn.OK, error(nil)
	var kc *KeyCheck
	if ldapKey {
		k, reason, detail := c.outsideKey(ctx, caller, cred)
		ev.KeyID = k.Key.ID
		if reason != ReasonNone {
			return refuse(reason, detail, unauthenticated(reason))
		}
		kc = &k
		ev.Detail = "the user's Conjur API key"
	} else {
		id, outcome, err = a.Verify(ctx, authn.Request{Account: cred.Account, ServiceID: cred.ServiceID, Login: cred.Login,
			Credential: cred.Secret, Code: cred.Code, CodeVerifier: cred.CodeVerifier, Nonce: cred.Nonce, ClientIP: caller.ClientIP, Now: c.now()})
	}
	if err != nil {
		return refuse(ReasonAuthnUnavailable, err.Error(), &Error{Kind: Unavailable, Reason: ReasonAuthnUnavailable, Msg: "authenticator could not decide", Err: err})
	}
	if id.Login != "" {
		ev.Actor = subjectRoleID(cred.Account, id.Login)
		if usersOnly(cred.Type) {
			ev.Actor = cred.Account + ":user:" + id.Login
		}
		ev.Subject = ev.Actor
	}
	if outcome != authn.OK {
		reason := outsideReason(outcome)
		if outcome == authn.Forbidden {
			return refuse(reason, id.Reason, forbidden(ReasonNotAllowed, "role is not authorized to use this authenticator"))
		}
		return bad(reason, id.Reason)
	}
	p, err := c.resolveOutside(ctx, cred.Account, cred.Type, id.Login)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			return refuse(ReasonAuthnUnavailable, "", wrapStore(err, "principal"))
		}
		return bad(ReasonUnknownLogin, "")
	}
	ev.Actor = p.RoleID()
	ev.Subject = ev.Actor
	if isBuiltinAdmin(p) {
		return bad(ReasonBuiltinAdmin, "")
	}
	if !c.authnSvc.allowedBy(ctx, svc, p) {
		return refuse(ReasonNotAllowed, "", forbidden(ReasonNotAllowed, "role is not authorized to use this authenticator"))
	}
	// Role mappings: the grants the user's groups map to, at each
	// authentication through its source that asked the directory or IdP
	// (not a Conjur API key on authn-ldap, decided without it). They are
	// computed here, checked with everything else, and stored only once
	// the whole login passed: a refused login changes no grant.
	var mapping *roleMapping
	if isSource(svc) && p.Source == svc.ServiceID && kc == nil {
		m, err := c.planMapping(ctx, svc, p, sourceGroups(svc, id.Groups, id.Claims))
		if err != nil {
			return refuse(ReasonAuthnUnavailable, "role mapping failed", err)
		}
		mapping = &m
	}
	var mapped permSet
	if mapping != nil {
		mapped = mapping.perms
	}
	if ok, err := c.authorOutranks(ctx, svc.Account, svc.DefinedBy, p, mapped); err != nil {
		return Session{}, storeError(err)
	} else if !ok {
		return refuse(ReasonNotAllowed, "the service's author does not outrank the principal (with its mapped roles)",
			forbidden(ReasonNotAllowed, "role is not authorized to use this authenticator"))
	}
	if ac, ok := a.(authn.AnnotationChecker); ok {
		if o, why := ac.CheckAnnotations(id, string(p.Kind), p.Annotations); o != authn.OK {
			return bad(outsideReason(o), why)
		}
	}
	pe, err := c.keys.principal(ctx, p.Account, p.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Session{}, storeError(err)
	}
	if err != nil {
		return bad(ReasonPrincipalGone, "")
	}
	if reason := admit(pe, nil, caller, c.now()); reason != ReasonNone {
		return refuse(reason, "", unauthenticated(reason))
	}
	if mapping != nil {
		if err := c.storeMapping(ctx, caller, svc, p, *mapping); err != nil {
			return refuse(ReasonAuthnUnavailable, "role mapping failed", err)
		}
	}
	if kc != nil {
		// The key's own success path, as /authn's: audited with its id, its
		// use recorded, the session the key's.
		s, err := c.keyUsed(ctx, ev, *kc)
		if err != nil {
			return Session{}, err
		}
		s.Authenticator = name
		return s, nil
	}
	if err := c.audit.record(ctx, ev); err != nil {
		return Session{}, err
	}
	if throttleKey != "" {
		c.throttle.reset(throttleKey)
	}
	s := Session{Account: p.Account, PrincipalID: p.ID, Login: p.ConjurLogin(), Kind: string(p.Kind),
		Level: LevelKey, Authenticator: name}
	if pr, ok := a.(authn.Provider); ok && cred.Code != "" {
		s.TTL = pr.TokenTTL()
	}
	return s, nil
}

// isLDAPKey reports whether cred is an authn-ldap credential (login or
// authenticate) whose secret has the shape of a keyward API key.
func isLDAPKey(cred Credential) bool {
	if cred.Type != "authn-ldap" || cred.Login == "" {
		return false
	}
	_, _, ok := crypto.ParseAPIKey(cred.Secret)
	return ok
}

// outsideKey decides an authn-ldap credential shaped as an API key on the
// key alone (Reason None: accepted). authenticate accepts the named user's
// own Conjur API key, which Conjur accepts before it binds (the key that
// authn-ldap's login answered works on its authenticate): never a narrowed
// key, a host's, or another user's. login takes the directory password
// only. A refusal is the key check's precise reason; the service must still
// be defined, enabled and admit the user, who must pass admission.
func (c *authService) outsideKey(ctx context.Context, caller Caller, cred Credential) (KeyCheck, Reason, string) {
	kc := c.checkKey(ctx, caller, cred.Account, "user/"+cred.Login, cred.Secret)
	switch {
	case !kc.Valid:
		return kc, kc.Code, "an API key, decided without the directory"
	case kc.Principal.Kind != model.KindUser || kc.Principal.Login != cred.Login:
		return kc, ReasonLoginMismatch, "an API key, decided without the directory"
	case !kc.Key.Conjur:
		return kc, ReasonBadCredential, "an API key that is not the user's Conjur API key"
	case cred.Event == "login":
		return kc, ReasonBadCredential, "authn-ldap login takes the directory password, not an API key"
	}
	return kc, ReasonNone, ""
}

// authorOutranks reports whether the principal who defined (or last
// enabled) the service still holds every permission p could hold, with
// mapped, the permissions of the roles this login would map to p. The
// allowed list was checked against that author when it was written, but p
// may have been granted more since (or created later under an allowed
// name), and a source's mapping grants at login: whoever controls the
// directory or IdP behind the service must not log in as someone stronger
// than the one who pointed keyward at it, nor make anyone stronger. That
// holds for the author itself: logging in as oneself through a source one
// re-pointed maps no role one does not hold already. A service from before
// this check (no author) is not limited; an author since deleted admits no
// one until the service is saved again.
func (c *authService) authorOutranks(ctx context.Context, account, definedBy string, p model.Principal, mapped permSet) (bool, error) {
	if definedBy == "" {
		return true, nil
	}
	if _, err := c.keys.principal(ctx, account, definedBy); err != nil {
		return false, noDecision(err)
	}
	now := c.now()
	author, err := c.access.potential(ctx, account, definedBy, now)
	if err != nil {
		return false, noDecision(err)
	}
	theirs, err := c.access.potential(ctx, p.Account, p.ID, now)
	if err != nil {
		return false, noDecision(err)
	}
	return author.missing(theirs|mapped) == "", nil
}

// noDecision keeps a store outage (no answer) and drops other errors (the
// object is gone: a refusal).
func noDecision(err error) error {
	if errors.Is(err, store.ErrUnavailable) {
		return err
	}
	return nil
}
