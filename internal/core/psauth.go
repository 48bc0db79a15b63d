package core

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/netpolicy"
	"github.com/keyward/keyward/internal/store"
)

// PS-Auth session and signature limits.
const (
	PSSessionIdle    = 20 * time.Minute // a signed-in session ends after this long unused
	psPendingTTL     = 5 * time.Minute  // a sign-in waiting for its MFA code
	psSignatureSkew  = 300              // seconds a PSRUN timestamp may be off
	psAuthenticator  = "psauth"
	psEventSignAppin = "psauth.signappin"
)

// PSAuthProof is what a PS-Auth sign-in presents: the Authorization
// header's parameters (or an OAuth bearer token), with what the transport
// saw. The surface only parses; every check is the core's.
type PSAuthProof struct {
	Key, RunAs, Password, Challenge, Timestamp, Signature string
	// Bearer is an access policy's OAuth token, instead of Key.
	Bearer string
	// XFF holds the X-Forwarded-For header lines as sent.
	XFF []string
	// Method, Path (lower case, no query or trailing /) and BodySHA256 (hex)
	// are what a PSRUN signature covers.
	Method, Path, BodySHA256 string
	// Cookie is the session cookie the request carried (a pending MFA sign-in).
	Cookie string
	// issued is the value the new session (or pending sign-in) gets.
	issued string
}

// PSSignIn is a PS-Auth sign-in's answer: the session cookie and who signed in.
type PSSignIn struct {
	Cookie   string
	Pending  bool // the cookie names a sign-in waiting for its MFA code
	UserID   int64
	Email    string
	UserName string
	Name     string
}

// PSToken is an OAuth client-credentials answer.
type PSToken struct {
	AccessToken string
	ExpiresIn   int
}

func (c *apiRegService) sessionHash(v string) []byte {
	return c.sealer.KeyHash("psauth-session\x00" + v)
}

// SignAppin signs a PS-Auth caller in: Authenticate decides (and audits),
// then the session is stored under a new cookie. A sign-in that lacks (or
// has a wrong) MFA code answers its error with a pending cookie.
func (c *apiRegService) SignAppin(ctx context.Context, caller Caller, cred Credential) (PSSignIn, error) {
	if cred.Kind != CredPSAuth || cred.PS == nil {
		_, err := c.auth.Authenticate(ctx, caller, Credential{Kind: CredNone, Malformed: cred.Malformed, Account: cred.Account, Event: psEventSignAppin})
		return PSSignIn{}, err
	}
	cred.Event = psEventSignAppin
	cred.PS.issued = randomHex(32)
	s, err := c.auth.Authenticate(ctx, caller, cred)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && (e.Reason == ReasonMFARequired || e.Reason == ReasonBadChallenge) {
			return PSSignIn{Cookie: cred.PS.issued, Pending: true}, err
		}
		return PSSignIn{}, err
	}
	now := c.now()
	if cred.PS.Cookie != "" {
		if old, err := c.st.GetSurfaceSession(ctx, c.sessionHash(cred.PS.Cookie)); err == nil && old.Kind == model.SessionPending {
			_ = c.st.DeleteSurfaceSession(ctx, old.Hash)
		}
	}
	ss := model.SurfaceSession{Hash: c.sessionHash(cred.PS.issued), Account: s.Account, Kind: model.SessionCookie,
		RegistrationID: s.KeyID, PrincipalID: s.PrincipalID, Level: s.Level, CreatedAt: now, LastUsedAt: now,
		ExpiresAt: now.Add(PSSessionIdle)}
	if err := c.st.CreateSurfaceSession(ctx, ss); err != nil {
		return PSSignIn{}, wrapStore(err, "session")
	}
	if rand.IntN(64) == 0 { // ended sessions, pending sign-ins and tokens go without a background job
		_ = c.st.PurgeSurfaceSessions(ctx, now)
	}
	_ = c.st.TouchAPIRegistration(ctx, s.KeyID, now)
	p, err := c.st.GetPrincipal(ctx, s.Account, s.PrincipalID)
	if err != nil {
		return PSSignIn{}, wrapStore(err, "principal")
	}
	n, err := c.st.PrincipalNumber(ctx, p.Account, p.ID)
	if err != nil {
		return PSSignIn{}, wrapStore(err, "principal number")
	}
	name := p.FullName
	if name == "" {
		name = p.DisplayName
	}
	if name == "" {
		name = p.Login
	}
	return PSSignIn{Cookie: cred.PS.issued, UserID: n, Email: p.Email, UserName: p.Login, Name: name}, nil
}

// authenticatePS is Authenticate for a PS-Auth header or an OAuth bearer
// token at SignAppin: each check in the order, each refusal audited
// with its precise reason, then the one admission check.
func (c *apiRegService) authenticatePS(ctx context.Context, caller Caller, cred Credential) (Session, error) {
	pr := cred.PS
	ev := c.audit.event(caller, cred.Account, cred.Event)
	ev.Authenticator = psAuthenticator
	ev.Actor = unknownActor(cred.Account)
	ev.Subject = ev.Actor
	refuse := func(reason Reason) (Session, error) {
		c.audit.recordFailure(ctx, fail(ev, reason))
		return Session{}, unauthenticated(reason)
	}
	var g model.APIRegistration
	runAs := pr.RunAs
	level := LevelKey
	if pr.Bearer != "" {
		ss, err := c.st.GetSurfaceSession(ctx, c.sessionHash(pr.Bearer))
		if outage(err) {
			return Session{}, storeError(err)
		}
		if err != nil || ss.Kind != model.SessionToken {
			return refuse(ReasonBadKey)
		}
		if !c.now().Before(ss.ExpiresAt) {
			return refuse(ReasonExpired)
		}
		if g, err = c.st.GetAPIRegistration(ctx, ss.Account, ss.RegistrationID); err != nil {
			if outage(err) {
				return Session{}, storeError(err)
			}
			return refuse(ReasonBadKey)
		}
		ev.Account, ev.KeyID, ev.Subject = g.Account, g.ID, regSubject(g.Account, g.ID)
		runAs = g.RunAs
	} else {
		var err error
		g, err = c.st.GetAPIRegistrationByKeyHash(ctx, c.regKeyHash(pr.Key))
		if err != nil || g.Type != model.APIKeyPolicy {
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return Session{}, wrapStore(err, "API registration")
			}
			return refuse(ReasonBadKey)
		}
		ev.Account, ev.KeyID, ev.Subject = g.Account, g.ID, regSubject(g.Account, g.ID)
	}
	ev.Actor = subjectRoleID(g.Account, runAs)
	byIP, byPSRUN, reason := ruleSource(g.Rules, caller.PeerIP, pr.XFF)
	if reason != ReasonNone {
		return refuse(reason)
	}
	if g.ClientCertRequired && len(caller.ClientCert) == 0 {
		return refuse(ReasonClientCertMissing)
	}
	if pr.Bearer == "" && (g.VerifyPSRUN || (byPSRUN && !byIP)) {
		if reason, err := c.checkPSRUN(ctx, g, pr); err != nil {
			return Session{}, storeError(err)
		} else if reason != ReasonNone {
			return refuse(reason)
		}
		level = LevelStrong
	}
	p, err := findPrincipal(ctx, c.st, g.Account, runAs)
	if err != nil || (runAs != p.ConjurLogin() && runAs != p.Login) {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return Session{}, wrapStore(err, "principal")
		}
		return refuse(ReasonUserNotAllowed)
	}
	ev.Actor = p.RoleID()
	if pr.Bearer == "" {
		if ok, err := c.allowedNow(ctx, g.Allowed, p); err != nil {
			return Session{}, storeError(err)
		} else if !ok {
			return refuse(ReasonUserNotAllowed)
		}
	}
	if ok, err := c.auth.authorOutranks(ctx, g.Account, g.DefinedBy, p); err != nil {
		return Session{}, storeError(err)
	} else if !ok {
		return refuse(ReasonAuthorNotOutranks)
	}
	pe, err := c.keys.principal(ctx, p.Account, p.ID)
	if outage(err) {
		return Session{}, storeError(err)
	}
	if err != nil {
		return refuse(ReasonPrincipalGone)
	}
	if reason := admit(pe, nil, caller, c.now()); reason != ReasonNone {
		return refuse(reason)
	}
	if pr.Bearer == "" && g.PasswordRequired {
		// The same per-login throttle as native password login: a
		// registration key is no unthrottled password oracle, and a
		// locked login stays locked here.
		throttleKey := p.Account + "\x00" + p.ID
		if wait := c.auth.throttle.blocked(throttleKey, c.now()); wait > 0 {
			return refuse(ReasonThrottled)
		}
		ok, perr := c.bcrypt.compare(ctx, p.PasswordHash, pr.Password)
		if perr != nil {
			c.audit.recordFailure(ctx, fail(ev, ReasonThrottled))
			return Session{}, perr
		}
		if !ok || pr.Password == "" {
			c.auth.throttle.fail(throttleKey, c.now())
			return refuse(ReasonBadPassword)
		}
		c.auth.throttle.reset(throttleKey)
		level = max(level, LevelPassword)
	}
	if pr.Bearer == "" && g.EnforceMFA && p.MFA == model.MFAEnabled {
		if pr.Challenge == "" {
			if err := c.pending(ctx, g, p, pr.issued); err != nil {
				return Session{}, err
			}
			c.audit.recordFailure(ctx, fail(ev, ReasonMFARequired))
			return Session{}, &Error{Kind: Unauthenticated, Reason: ReasonMFARequired, Msg: "a second factor is required"}
		}
		reason, err := c.mfa.checkCode(ctx, caller, p, pr.Challenge, ev, ReasonBadChallenge)
		if err != nil {
			return Session{}, err
		}
		if reason != ReasonNone {
			if err := c.pending(ctx, g, p, pr.issued); err != nil {
				return Session{}, err
			}
			return Session{}, &Error{Kind: Unauthenticated, Reason: ReasonBadChallenge, Msg: "the second factor is wrong"}
		}
		ev.Detail = "second factor totp"
		level = LevelStrong
	}
	if err := c.audit.record(ctx, ev); err != nil {
		return Session{}, err
	}
	return Session{Account: p.Account, PrincipalID: p.ID, Login: p.ConjurLogin(), Kind: string(p.Kind), Level: level,
		KeyID: g.ID, Narrowed: true, Authenticator: psAuthenticator}, nil
}

// pending stores a sign-in waiting for its MFA code under value.
func (c *apiRegService) pending(ctx context.Context, g model.APIRegistration, p model.Principal, value string) error {
	now := c.now()
	err := c.st.CreateSurfaceSession(ctx, model.SurfaceSession{Hash: c.sessionHash(value), Account: g.Account,
		Kind: model.SessionPending, RegistrationID: g.ID, PrincipalID: p.ID, Level: 0, CreatedAt: now, LastUsedAt: now,
		ExpiresAt: now.Add(psPendingTTL)})
	return wrapStore(err, "session")
}

// ruleSource checks the source rules: an ip or psrun rule must hold the TCP
// peer (never X-Forwarded-For); with xff rules, exactly one header line
// holding exactly one address that an xff rule holds.
func ruleSource(rules []model.APIRule, peer netip.Addr, xff []string) (byIP, byPSRUN bool, reason Reason) {
	hasXFF := false
	for _, r := range rules {
		rg, err := netpolicy.ParseRange(r.Value)
		if err != nil {
			continue
		}
		switch r.Type {
		case RuleIP:
			byIP = byIP || rg.Contains(peer)
		case RulePSRUN:
			byPSRUN = byPSRUN || rg.Contains(peer)
		case RuleXFF:
			hasXFF = true
		}
	}
	if !byIP && !byPSRUN {
		return false, false, ReasonSourceNotAllowed
	}
	if !hasXFF {
		return byIP, byPSRUN, ReasonNone
	}
	if len(xff) == 0 {
		return false, false, ReasonXFFMissing
	}
	if len(xff) > 1 || strings.Contains(xff[0], ",") {
		return false, false, ReasonXFFNotAllowed
	}
	addr, err := netip.ParseAddr(strings.TrimSpace(xff[0]))
	if err != nil {
		return false, false, ReasonXFFNotAllowed
	}
	for _, r := range rules {
		if r.Type != RuleXFF {
			continue
		}
		if rg, err := netpolicy.ParseRange(r.Value); err == nil && rg.Contains(addr) {
			return byIP, byPSRUN, ReasonNone
		}
	}
	return false, false, ReasonXFFNotAllowed
}

// PSRUNString is the string a PSRUN signature signs.
func PSRUNString(timestamp, method, path, runAs, bodySHA256 string) string {
	return strings.Join([]string{"PSRUN1", timestamp, strings.ToUpper(method), path, runAs, bodySHA256}, "\n")
}

// checkPSRUN verifies a PSRUN signature: present, fresh, right and never
// accepted before.
// An error means the store could not say whether the signature was used.
func (c *apiRegService) checkPSRUN(ctx context.Context, g model.APIRegistration, pr *PSAuthProof) (Reason, error) {
	if pr.Timestamp == "" || pr.Signature == "" {
		return ReasonBadSignature, nil
	}
	ts, err := strconv.ParseInt(pr.Timestamp, 10, 64)
	if err != nil {
		return ReasonBadSignature, nil
	}
	secret, err := c.sealer.Open(g.PSRUNSealed, regPSRUNAAD(g))
	if err != nil {
		return ReasonBadSignature, nil
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(PSRUNString(pr.Timestamp, pr.Method, pr.Path, pr.RunAs, pr.BodySHA256)))
	want := hex.EncodeToString(m.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(pr.Signature)) {
		return ReasonBadSignature, nil
	}
	now := c.now().Unix()
	if d := now - ts; d > psSignatureSkew || d < -psSignatureSkew {
		return ReasonSignatureStale, nil
	}
	won, err := c.st.UseOnce(ctx, "psrun:"+hex.EncodeToString(c.sessionHash("sig\x00"+g.ID+"\x00"+pr.Signature)),
		time.Unix(ts+2*psSignatureSkew, 0))
	if outage(err) {
		return ReasonNone, err
	}
	if err != nil || !won {
		return ReasonSignatureReplayed, nil
	}
	return ReasonNone, nil
}

// allowedNow reports whether the allowed list names p, directly or through
// a role p holds now.
func (c *apiRegService) allowedNow(ctx context.Context, allowed []string, p model.Principal) (bool, error) {
	if slices.Contains(allowed, string(p.Kind)+":"+p.Login) {
		return true, nil
	}
	now := c.now()
	found := false
	err := c.access.eachGrant(ctx, p.Account, p.ID, func(gr model.Grant, r model.Role) {
		if grantHolds(gr, now) && slices.Contains(allowed, "role:"+r.Name) {
			found = true
		}
	})
	if outage(err) {
		return false, err
	}
	return found, nil
}

// authenticatePSSession is Authenticate for a PS-Auth session cookie: known,
// signed in (not pending), used within the idle time, its principal still
// there and admitted. A use moves the idle clock.
func (c *apiRegService) authenticatePSSession(ctx context.Context, caller Caller, cred Credential) (Session, error) {
	ev := c.audit.event(caller, cred.Account, cred.Event)
	ev.Authenticator = psAuthenticator
	ev.Actor = unknownActor(cred.Account)
	ev.Subject = ev.Actor
	refuse := func(reason Reason) (Session, error) {
		c.audit.recordFailure(ctx, fail(ev, reason))
		return Session{}, unauthenticated(reason)
	}
	h := c.sessionHash(cred.Secret)
	ss, err := c.st.GetSurfaceSession(ctx, h)
	if outage(err) {
		return Session{}, storeError(err)
	}
	if err != nil || ss.Kind != model.SessionCookie {
		return refuse(ReasonSessionUnknown)
	}
	ev.Account, ev.KeyID = ss.Account, ss.RegistrationID
	now := c.now()
	if now.Sub(ss.LastUsedAt) >= PSSessionIdle || !now.Before(ss.ExpiresAt) {
		_ = c.st.DeleteSurfaceSession(ctx, h)
		return refuse(ReasonSessionIdle)
	}
	pe, err := c.keys.principal(ctx, ss.Account, ss.PrincipalID)
	if outage(err) {
		return Session{}, storeError(err)
	}
	if err != nil {
		_ = c.st.DeleteSurfaceSession(ctx, h)
		return refuse(ReasonPrincipalGone)
	}
	ev.Actor, ev.Subject = pe.p.RoleID(), pe.p.RoleID()
	if reason := admit(pe, nil, caller, now); reason != ReasonNone {
		if reason == ReasonDisabled {
			_ = c.st.DeleteSurfaceSession(ctx, h)
		}
		return refuse(reason)
	}
	if err := c.st.TouchSurfaceSession(ctx, h, now, now.Add(PSSessionIdle)); err != nil {
		return Session{}, wrapStore(err, "session")
	}
	p := pe.p
	return Session{Account: p.Account, PrincipalID: p.ID, Login: p.ConjurLogin(), Kind: string(p.Kind), Level: ss.Level,
		KeyID: ss.RegistrationID, Narrowed: true, Authenticator: psAuthenticator, IssuedAt: ss.CreatedAt}, nil
}

// Signout ends the session its cookie names, if any; always a success.
func (c *apiRegService) Signout(ctx context.Context, caller Caller, account, cookie string) error {
	ev := c.audit.event(caller, account, "psauth.signout")
	ev.Authenticator = psAuthenticator
	ev.Actor = unknownActor(account)
	ev.Subject = ev.Actor
	if cookie == "" {
		ev.Detail = "no session cookie"
		return c.audit.record(ctx, ev)
	}
	h := c.sessionHash(cookie)
	ss, err := c.st.GetSurfaceSession(ctx, h)
	if err != nil {
		ev.Detail = "no such session"
		return c.audit.record(ctx, ev)
	}
	ev.Account, ev.KeyID = ss.Account, ss.RegistrationID
	if p, err := c.st.GetPrincipal(ctx, ss.Account, ss.PrincipalID); err == nil {
		ev.Actor, ev.Subject = p.RoleID(), p.RoleID()
	}
	return wrapStore(c.st.DeleteSurfaceSession(ctx, h, ev), "session")
}

// PSTokenRequest is an OAuth client-credentials request with the
// X-Forwarded-For lines the transport saw (the client certificate is the
// caller's: Caller.ClientCert, a chain verified against --client-ca).
type PSTokenRequest struct {
	ClientID, ClientSecret, GrantType string
	XFF                               []string
}

// PSAuthToken issues an access policy's OAuth token: the client id and
// secret, the registration's ip/xff rules and client-certificate option,
// and its run-as principal admitted. Every attempt is audited.
func (c *apiRegService) PSAuthToken(ctx context.Context, caller Caller, account string, req PSTokenRequest) (PSToken, error) {
	ev := c.audit.event(caller, account, "psauth.token")
	ev.Authenticator = psAuthenticator
	ev.Actor = unknownActor(account)
	ev.Subject = ev.Actor
	refuse := func(reason Reason) (PSToken, error) {
		c.audit.recordFailure(ctx, fail(ev, reason))
		if reason == ReasonUnsupportedGrant {
			return PSToken{}, &Error{Kind: Invalid, Reason: reason, Field: "grant_type", Msg: "grant_type must be client_credentials"}
		}
		return PSToken{}, unauthenticated(reason)
	}
	// The run-as principal comes from the caches: stale ones (a PostgreSQL
	// listener without proof of life) must not issue a token (review 25, F4).
	if err := c.keys.fresh.check(); err != nil {
		return PSToken{}, err
	}
	if req.GrantType != "client_credentials" {
		return refuse(ReasonUnsupportedGrant)
	}
	if req.ClientID == "" || req.ClientSecret == "" {
		return refuse(ReasonBadClient)
	}
	g, err := c.st.GetAPIRegistrationByClientID(ctx, req.ClientID)
	match := err == nil && hmac.Equal(g.KeyHash, c.regSecretHash(req.ClientSecret))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return PSToken{}, wrapStore(err, "API registration")
	}
	if err == nil {
		ev.Account, ev.KeyID, ev.Subject = g.Account, g.ID, regSubject(g.Account, g.ID)
		ev.Actor = subjectRoleID(g.Account, g.RunAs)
	}
	if !match || g.Type != model.APIAccessPolicy {
		return refuse(ReasonBadClient)
	}
	if _, _, reason := ruleSource(g.Rules, caller.PeerIP, req.XFF); reason != ReasonNone {
		return refuse(reason)
	}
	if g.ClientCertRequired && len(caller.ClientCert) == 0 {
		return refuse(ReasonClientCertMissing)
	}
	p, err := findPrincipal(ctx, c.st, g.Account, g.RunAs)
	if outage(err) {
		return PSToken{}, storeError(err)
	}
	if err != nil {
		return refuse(ReasonPrincipalGone)
	}
	ev.Actor = p.RoleID()
	if ok, err := c.auth.authorOutranks(ctx, g.Account, g.DefinedBy, p); err != nil {
		return PSToken{}, storeError(err)
	} else if !ok {
		return refuse(ReasonAuthorNotOutranks)
	}
	pe, err := c.keys.principal(ctx, p.Account, p.ID)
	if outage(err) {
		return PSToken{}, storeError(err)
	}
	if err != nil {
		return refuse(ReasonPrincipalGone)
	}
	if reason := admit(pe, nil, caller, c.now()); reason != ReasonNone {
		return refuse(reason)
	}
	tok := randomHex(32)
	now := c.now()
	ttl := time.Duration(g.AccessTokenMinutes) * time.Minute
	ss := model.SurfaceSession{Hash: c.sessionHash(tok), Account: g.Account, Kind: model.SessionToken, RegistrationID: g.ID,
		PrincipalID: p.ID, Level: LevelKey, CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(ttl)}
	if err := c.st.CreateSurfaceSession(ctx, ss, ev); err != nil {
		return PSToken{}, wrapStore(err, "token")
	}
	return PSToken{AccessToken: tok, ExpiresIn: g.AccessTokenMinutes * 60}, nil
}
