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
	PSSessionMaxAge  = 12 * time.Hour   // and this long after its sign-in, however used
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
	// signedIn is who the stored session is for, with its number, read
	// before the session is stored (SignAppin's answer needs no store
	// read after it).
	signedIn model.Principal
	number   int64
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

// maybePurge removes ended sessions, pending sign-ins and tokens on one
// call in 64 (sign-ins, refused ones too, and token requests): no
// background job.
func (c *apiRegService) maybePurge(ctx context.Context) {
	if rand.IntN(64) == 0 {
		_ = c.st.PurgeSurfaceSessions(ctx, c.now())
	}
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
		c.maybePurge(ctx) // pending sign-ins pile up on refusals
		var e *Error
		if errors.As(err, &e) && (e.Reason == ReasonMFARequired || e.Reason == ReasonBadChallenge) {
			return PSSignIn{Cookie: cred.PS.issued, Pending: true}, err
		}
		return PSSignIn{}, err
	}
	// The session itself was stored by authenticatePS, with its record.
	now := c.now()
	if cred.PS.Cookie != "" {
		if old, err := c.st.GetSurfaceSession(ctx, c.sessionHash(cred.PS.Cookie)); err == nil && old.Kind == model.SessionPending {
			_ = c.st.DeleteSurfaceSession(ctx, old.Hash)
		}
	}
	c.maybePurge(ctx)
	_ = c.st.TouchAPIRegistration(ctx, s.KeyID, now)
	p, n := cred.PS.signedIn, cred.PS.number
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
// with its precise reason, then the one admission check. A sign-in that
// passes stores its session (SignAppin's cookie, pr.issued) with its record,
// only while the registration is still the version every check read: one
// racing a rotation, PATCH or delete is refused (registration_changed).
// Only then is the PSRUN signature spent and a floating grant that admitted
// the principal started.
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
		if ss.RegistrationVersion != g.Version {
			return refuse(ReasonRegistrationChanged)
		}
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
	if pr.Bearer != "" && !byIP {
		return refuse(ReasonSourceNotAllowed) // no signature: a psrun rule admits no one here
	}
	if g.ClientCertRequired && len(caller.ClientCert) == 0 {
		return refuse(ReasonClientCertMissing)
	}
	signed := pr.Bearer == "" && (g.VerifyPSRUN || (byPSRUN && !byIP))
	if signed {
		if reason := c.checkPSRUN(g, pr); reason != ReasonNone {
			return refuse(reason)
		}
		level = LevelStrong
	}
	p, err := findPrincipal(ctx, c.st, g.Account, runAs)
	// An access policy's run_as names one principal (a user bare, a host
	// host/…): a bare name never falls back to the host of that login.
	if err != nil || (runAs != p.ConjurLogin() && (pr.Bearer != "" || runAs != p.Login)) {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return Session{}, wrapStore(err, "principal")
		}
		return refuse(ReasonUserNotAllowed)
	}
	ev.Actor = p.RoleID()
	// Read before any check of the principal: a disable committed after
	// this raises it, and the session is then not stored.
	epoch, err := c.st.PrincipalSessionEpoch(ctx, p.Account, p.ID)
	if outage(err) {
		return Session{}, storeError(err)
	} else if err != nil {
		return refuse(ReasonPrincipalGone)
	}
	var floating []string
	if pr.Bearer == "" {
		ok, fl, err := c.allowedNow(ctx, caller, g.Allowed, p)
		if err != nil {
			return Session{}, storeError(err)
		} else if !ok {
			return refuse(ReasonUserNotAllowed)
		}
		floating = fl
	}
	if ok, err := c.auth.authorOutranks(ctx, g.Account, g.DefinedBy, p, 0); err != nil {
		return Session{}, storeError(err)
	} else if !ok {
		return refuse(ReasonAuthorNotOutranks)
	}
	if ok, err := c.holdersOutrank(ctx, g, p); err != nil {
		return Session{}, storeError(err)
	} else if !ok {
		return refuse(ReasonKeyHolderNotOutranks)
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
			if err := c.pending(ctx, g, p, epoch, pr.issued); errors.Is(err, store.ErrNotFound) {
				return refuse(c.insertRefused(ctx, g))
			} else if err != nil {
				return Session{}, wrapStore(err, "session")
			}
			c.audit.recordFailure(ctx, fail(ev, ReasonMFARequired))
			return Session{}, &Error{Kind: Unauthenticated, Reason: ReasonMFARequired, Msg: "a second factor is required"}
		}
		reason, err := c.mfa.checkCode(ctx, caller, p, pr.Challenge, ev, ReasonBadChallenge)
		if err != nil {
			return Session{}, err
		}
		if reason != ReasonNone {
			if err := c.pending(ctx, g, p, epoch, pr.issued); errors.Is(err, store.ErrNotFound) {
				return refuse(c.insertRefused(ctx, g))
			} else if err != nil {
				return Session{}, wrapStore(err, "session")
			}
			return Session{}, &Error{Kind: Unauthenticated, Reason: ReasonBadChallenge, Msg: "the second factor is wrong"}
		}
		ev.Detail = "second factor totp"
		level = LevelStrong
	}
	// Every check passed: only now is the signature spent, so the MFA
	// round repeats the same signed header (a replay after this fails).
	if signed {
		if reason, err := c.spendPSRUN(ctx, g, pr); err != nil {
			return Session{}, storeError(err)
		} else if reason != ReasonNone {
			return refuse(reason)
		}
	}
	s := Session{Account: p.Account, PrincipalID: p.ID, Login: p.ConjurLogin(), Kind: string(p.Kind), Level: level,
		KeyID: g.ID, Narrowed: true, Authenticator: psAuthenticator}
	// A floating grant that admitted the principal starts its clock, as
	// any use through the native API does: before the session is stored,
	// so a grant revoked meanwhile refuses the sign-in (never a stored
	// session and a recorded success, then an error).
	if err := c.access.activate(ctx, s, caller, floating, c.now()); errors.Is(err, store.ErrNotFound) {
		return refuse(ReasonUserNotAllowed)
	} else if err != nil {
		return Session{}, err
	}
	if pr.issued == "" {
		if err := c.audit.record(ctx, ev); err != nil {
			return Session{}, err
		}
		return s, nil
	}
	n, err := c.st.PrincipalNumber(ctx, p.Account, p.ID)
	if err != nil {
		return Session{}, wrapStore(err, "principal number")
	}
	pr.signedIn, pr.number = p, n
	now := c.now()
	ss := model.SurfaceSession{Hash: c.sessionHash(pr.issued), Account: s.Account, Kind: model.SessionCookie,
		RegistrationID: g.ID, RegistrationVersion: g.Version, PrincipalID: s.PrincipalID, PrincipalEpoch: epoch, Level: s.Level,
		CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(PSSessionIdle)}
	if err := c.st.CreateSurfaceSession(ctx, ss, ev); errors.Is(err, store.ErrNotFound) {
		return refuse(c.insertRefused(ctx, g))
	} else if err != nil {
		return Session{}, wrapStore(err, "session")
	}
	return s, nil
}

// insertRefused names why a session insert was refused (store.ErrNotFound):
// the registration moved on, or else its principal was disabled or deleted
// meanwhile (its session epoch moved on).
func (c *apiRegService) insertRefused(ctx context.Context, g model.APIRegistration) Reason {
	cur, err := c.st.GetAPIRegistration(ctx, g.Account, g.ID)
	if err != nil || cur.Version != g.Version {
		return ReasonRegistrationChanged
	}
	return ReasonDisabled
}

// holdersOutrank reports whether everyone who has seen the registration's
// current key or secret (its creator, rotator and readers since the last
// rotation) still exists, is active and holds every permission p could
// hold: a key read by a lesser manager must not sign in as whoever the
// registration admits later (a user created or promoted since, an
// administrator's PATCH). A registration from before holders were kept
// has none (its author is checked).
func (c *apiRegService) holdersOutrank(ctx context.Context, g model.APIRegistration, p model.Principal) (bool, error) {
	var theirs permSet
	computed := false
	now := c.now()
	for _, h := range g.KeyHolders {
		if h == p.ID {
			continue
		}
		pe, err := c.keys.principal(ctx, g.Account, h)
		if err != nil {
			return false, noDecision(err)
		}
		if pe.p.Status != model.StatusActive {
			return false, nil
		}
		if !computed {
			if theirs, err = c.access.potential(ctx, p.Account, p.ID, now); err != nil {
				return false, noDecision(err)
			}
			computed = true
		}
		mine, err := c.access.potential(ctx, g.Account, h, now)
		if err != nil {
			return false, noDecision(err)
		}
		if mine.missing(theirs) != "" {
			return false, nil
		}
	}
	return true, nil
}

// pending stores a sign-in waiting for its MFA code under value; a store
// ErrNotFound means the registration changed meanwhile.
func (c *apiRegService) pending(ctx context.Context, g model.APIRegistration, p model.Principal, epoch int64, value string) error {
	now := c.now()
	return c.st.CreateSurfaceSession(ctx, model.SurfaceSession{Hash: c.sessionHash(value), Account: g.Account,
		Kind: model.SessionPending, RegistrationID: g.ID, RegistrationVersion: g.Version, PrincipalID: p.ID, PrincipalEpoch: epoch, Level: 0,
		CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(psPendingTTL)})
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

// checkPSRUN verifies a PSRUN signature: present, right and fresh.
// Whether it was accepted before is spendPSRUN's, once every other check
// has passed.
func (c *apiRegService) checkPSRUN(g model.APIRegistration, pr *PSAuthProof) Reason {
	if pr.Timestamp == "" || pr.Signature == "" {
		return ReasonBadSignature
	}
	ts, err := strconv.ParseInt(pr.Timestamp, 10, 64)
	if err != nil {
		return ReasonBadSignature
	}
	secret, err := c.sealer.Open(g.PSRUNSealed, regPSRUNAAD(g))
	if err != nil {
		return ReasonBadSignature
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(PSRUNString(pr.Timestamp, pr.Method, pr.Path, pr.RunAs, pr.BodySHA256)))
	want := hex.EncodeToString(m.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(pr.Signature)) {
		return ReasonBadSignature
	}
	now := c.now().Unix()
	if d := now - ts; d > psSignatureSkew || d < -psSignatureSkew {
		return ReasonSignatureStale
	}
	return ReasonNone
}

// spendPSRUN marks a checked signature used: a second sign-in with it is
// refused (signature_replayed), also when two race. An error means the
// store could not say whether the signature was used.
func (c *apiRegService) spendPSRUN(ctx context.Context, g model.APIRegistration, pr *PSAuthProof) (Reason, error) {
	ts, err := strconv.ParseInt(pr.Timestamp, 10, 64)
	if err != nil {
		return ReasonBadSignature, nil
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
// a role p holds now whose context holds for caller; floating lists the roles of never-used FLOATING
// grants that admit p, whose clock the use starts (as the pipeline's
// Begin does for the native API).
func (c *apiRegService) allowedNow(ctx context.Context, caller Caller, allowed []string, p model.Principal) (ok bool, floating []string, err error) {
	if slices.Contains(allowed, string(p.Kind)+":"+p.Login) {
		return true, nil, nil
	}
	now := c.now()
	err = c.access.eachGrant(ctx, p.Account, p.ID, func(gr model.Grant, r model.Role) {
		// As the native pipeline: a grant counts only while its role's
		// context holds for this caller (and only then is it started).
		if grantHolds(gr, now) && contextHolds(r.Context, now, caller.ClientIP) && slices.Contains(allowed, "role:"+r.Name) {
			ok = true
			if gr.Type == model.GrantFloating && gr.ActivatedAt == nil {
				floating = append(floating, gr.RoleID)
			}
		}
	})
	if outage(err) {
		return false, nil, err
	}
	return ok, floating, nil
}

// authenticatePSSession is Authenticate for a PS-Auth session cookie: known,
// signed in (not pending), used within the idle time and PSSessionMaxAge of
// its sign-in, its registration unchanged since (same version), its
// principal still there, admitted, still in the allowed list and still
// outranked by the registration's author. A use moves the idle clock; a
// failed re-check ends the session.
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
	end := func(reason Reason) (Session, error) {
		_ = c.st.DeleteSurfaceSession(ctx, h)
		return refuse(reason)
	}
	now := c.now()
	if now.Sub(ss.LastUsedAt) >= PSSessionIdle || !now.Before(ss.ExpiresAt) {
		return end(ReasonSessionIdle)
	}
	if now.Sub(ss.CreatedAt) >= PSSessionMaxAge {
		return end(ReasonExpired)
	}
	g, err := c.st.GetAPIRegistration(ctx, ss.Account, ss.RegistrationID)
	if outage(err) {
		return Session{}, storeError(err)
	}
	if err != nil || g.Version != ss.RegistrationVersion {
		return end(ReasonRegistrationChanged)
	}
	// The registration's source rules and client-certificate option hold
	// on every use, not only at the sign-in: a cookie is no way around them.
	var xff []string
	if cred.PS != nil {
		xff = cred.PS.XFF
	}
	byIP, _, reason := ruleSource(g.Rules, caller.PeerIP, xff)
	if reason != ReasonNone {
		return refuse(reason)
	}
	if g.Type == model.APIAccessPolicy && !byIP {
		return refuse(ReasonSourceNotAllowed)
	}
	if g.ClientCertRequired && len(caller.ClientCert) == 0 {
		return refuse(ReasonClientCertMissing)
	}
	pe, err := c.keys.principal(ctx, ss.Account, ss.PrincipalID)
	if outage(err) {
		return Session{}, storeError(err)
	}
	if err != nil {
		return end(ReasonPrincipalGone)
	}
	ev.Actor, ev.Subject = pe.p.RoleID(), pe.p.RoleID()
	if reason := admit(pe, nil, caller, now); reason != ReasonNone {
		if reason == ReasonDisabled {
			return end(reason)
		}
		return refuse(reason)
	}
	var floating []string
	if g.Type == model.APIKeyPolicy {
		ok, fl, err := c.allowedNow(ctx, caller, g.Allowed, pe.p)
		if err != nil {
			return Session{}, storeError(err)
		}
		if !ok {
			return end(ReasonUserNotAllowed)
		}
		floating = fl
	}
	if ok, err := c.auth.authorOutranks(ctx, g.Account, g.DefinedBy, pe.p, 0); err != nil {
		return Session{}, storeError(err)
	} else if !ok {
		return end(ReasonAuthorNotOutranks)
	}
	if ok, err := c.holdersOutrank(ctx, g, pe.p); err != nil {
		return Session{}, storeError(err)
	} else if !ok {
		return end(ReasonKeyHolderNotOutranks)
	}
	if err := c.st.TouchSurfaceSession(ctx, h, now, now.Add(PSSessionIdle)); err != nil {
		return Session{}, wrapStore(err, "session")
	}
	p := pe.p
	s := Session{Account: p.Account, PrincipalID: p.ID, Login: p.ConjurLogin(), Kind: string(p.Kind), Level: ss.Level,
		KeyID: ss.RegistrationID, Narrowed: true, Authenticator: psAuthenticator, IssuedAt: ss.CreatedAt}
	if err := c.access.activate(ctx, s, caller, floating, now); errors.Is(err, store.ErrNotFound) {
		return end(ReasonUserNotAllowed) // the grant that admitted it was revoked meanwhile
	} else if err != nil {
		return Session{}, err
	}
	return s, nil
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
	if byIP, _, reason := ruleSource(g.Rules, caller.PeerIP, req.XFF); reason != ReasonNone {
		return refuse(reason)
	} else if !byIP {
		return refuse(ReasonSourceNotAllowed) // no signature here: a psrun rule admits no one
	}
	if g.ClientCertRequired && len(caller.ClientCert) == 0 {
		return refuse(ReasonClientCertMissing)
	}
	p, err := findPrincipal(ctx, c.st, g.Account, g.RunAs)
	if outage(err) {
		return PSToken{}, storeError(err)
	}
	if err != nil || p.ConjurLogin() != g.RunAs {
		// run_as names one principal: a bare name never falls back from
		// a deleted user to the host of that login.
		return refuse(ReasonPrincipalGone)
	}
	ev.Actor = p.RoleID()
	epoch, err := c.st.PrincipalSessionEpoch(ctx, p.Account, p.ID)
	if outage(err) {
		return PSToken{}, storeError(err)
	} else if err != nil {
		return refuse(ReasonPrincipalGone)
	}
	if ok, err := c.auth.authorOutranks(ctx, g.Account, g.DefinedBy, p, 0); err != nil {
		return PSToken{}, storeError(err)
	} else if !ok {
		return refuse(ReasonAuthorNotOutranks)
	}
	if ok, err := c.holdersOutrank(ctx, g, p); err != nil {
		return PSToken{}, storeError(err)
	} else if !ok {
		return refuse(ReasonKeyHolderNotOutranks)
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
		RegistrationVersion: g.Version, PrincipalID: p.ID, PrincipalEpoch: epoch, Level: LevelKey, CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(ttl)}
	if err := c.st.CreateSurfaceSession(ctx, ss, ev); errors.Is(err, store.ErrNotFound) {
		// The registration was rotated, changed or deleted meanwhile, or
		// its run-as disabled or deleted.
		return refuse(c.insertRefused(ctx, g))
	} else if err != nil {
		return PSToken{}, wrapStore(err, "token")
	}
	c.maybePurge(ctx)
	return PSToken{AccessToken: tok, ExpiresIn: g.AccessTokenMinutes * 60}, nil
}
