package core

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/crypto"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

// mfaService is the second factor: TOTP enrolment (RFC 6238: SHA-1, 6
// digits, 30 s steps, the previous, current and next step accepted),
// recovery codes, and the check a password login makes of a user whose MFA
// is enabled. The seed is sealed at rest and leaves the core only in the
// answer to an enrolment; recovery codes are kept as HMACs. Each code is
// accepted once (the store's use-once table, so across instances too);
// mfaMaxFailures wrong codes in a row lock the user's code checks for
// mfaLockout (per instance, like the password throttle).
type mfaService struct {
	st     store.Store
	sealer *crypto.Sealer
	now    func() time.Time
	keys   *keyring
	audit  *auditor
	access *accessService
	locks  *mfaLocks
}

// TOTP parameters, fixed: what every authenticator app understands.
const (
	mfaIssuer         = "keyward"
	mfaPeriod         = 30 // seconds per step
	mfaDigits         = otp.DigitsSix
	mfaRecoveryCount  = 10
	mfaMaxFailures    = 5
	mfaLockout        = 60 * time.Second
	mfaLocksMax       = 100_000 // users tracked at most
	recoveryAlphabet  = "abcdefghijklmnopqrstuvwxyz234567"
	recoveryHalfChars = 4
)

// MFAMaxFailures is how many wrong codes in a row lock a principal's code
// checks; a sign-in's code step held by a surface (the console's) ends after
// as many wrong codes.
const MFAMaxFailures = mfaMaxFailures

// EndCodeStep records that a sign-in's pending code step was ended after
// failures wrong codes (the console's code step; the password proven by its
// first step is forgotten). Each wrong code was already recorded by the
// check itself; this record says the step is over.
func (c *mfaService) EndCodeStep(ctx context.Context, caller Caller, account, login, via string, failures int) {
	ev := c.audit.event(caller, account, "mfa.code_step_ended")
	ev.Authenticator = via
	if p, err := findPrincipal(ctx, c.st, account, login); err == nil {
		ev.Actor, ev.Subject = p.RoleID(), p.RoleID()
	}
	ev.Detail = strconv.Itoa(failures) + " wrong codes; the sign-in's code step was ended"
	c.audit.recordFailure(ctx, fail(ev, ReasonMFAInvalid))
}

var mfaOpts = totp.ValidateOpts{Period: mfaPeriod, Digits: mfaDigits, Algorithm: otp.AlgorithmSHA1}

// MFAEnrollment is the answer to an enrolment, shown once: the seed, the
// otpauth URL carrying it and a PNG QR code of that URL.
type MFAEnrollment struct {
	Seed string
	URL  string
	QR   []byte // PNG
}

// OTPAuthURL is the otpauth URL of a TOTP seed for a login, parameters in a
// fixed order (authenticator apps read any order; clients and tests compare).
func OTPAuthURL(login, seed string) string {
	return "otpauth://totp/" + mfaIssuer + ":" + url.PathEscape(login) + "?secret=" + seed + "&issuer=" + mfaIssuer +
		"&algorithm=SHA1&digits=6&period=" + strconv.Itoa(mfaPeriod)
}

// mayManageMFA authorizes an MFA operation on principal id: the principal
// itself with a session of LevelPassword or more (a key or outside login
// must not change the factor that protects its owner's password logins),
// or a caller with users-manage who outranks it, at any level (provisioning
// by automation), not through a narrowed key. Every refusal is audited.
func (c *mfaService) mayManageMFA(ctx context.Context, a *Access, id, event string) (model.Principal, error) {
	if id == a.Session.PrincipalID {
		if a.Session.Level < LevelPassword {
			return model.Principal{}, c.access.Refuse(ctx, a, event, a.Session.RoleID(), &Error{Kind: Forbidden,
				Reason: ReasonInsufficientLevel, Msg: "changing your own second factor needs a password session (security level 2 or more)"})
		}
		return c.access.principalIn(ctx, a, id)
	}
	target, err := c.access.managed(ctx, a, id)
	if err != nil {
		return model.Principal{}, err
	}
	if err := c.access.notNarrowed(ctx, a); err != nil {
		return model.Principal{}, err
	}
	if a.Session.Level < LevelPassword {
		// Below a password session, only a caller strictly stronger than the
		// target may: an equal is what a stolen key can make of itself (a
		// new principal granted its own roles), and it would then lift its
		// owner's second factor on its owner's behalf.
		theirs, err := c.access.potential(ctx, target.Account, target.ID, a.Now)
		if err != nil {
			return model.Principal{}, err
		}
		if a.perms&^theirs == 0 {
			return model.Principal{}, c.access.Refuse(ctx, a, event, target.RoleID(), &Error{Kind: Forbidden,
				Reason: ReasonInsufficientLevel, Msg: "managing the second factor of a principal as strong as you needs a password session (security level 2 or more)"})
		}
	}
	return target, nil
}

// mfaEvent starts the record of an MFA operation by a on target; one done
// for another principal says so, and names the acting key.
func (c *mfaService) mfaEvent(a *Access, target model.Principal, name string) audit.Event {
	ev := c.audit.event(a.Caller, a.Session.Account, name)
	ev.Actor, ev.Subject, ev.KeyID, ev.Authenticator = a.Session.RoleID(), target.RoleID(), a.Session.KeyID, "authn"
	if target.ID != a.Session.PrincipalID {
		ev.Detail = "on behalf of " + target.RoleID()
	}
	return ev
}

func seedAAD(p model.Principal) []byte { return []byte("mfa-seed:" + p.Account + ":" + p.ID) }

// errMFAState is an updater's refusal when the stored state changed under
// the operation (another enrolment or a disable won the race).
var errMFAState = errors.New("mfa state changed")

// EnrollMFA starts (or restarts) TOTP enrolment of principal id: a new
// seed, sealed at rest, state enrolling. Any earlier seed and recovery codes
// are destroyed.
func (c *mfaService) EnrollMFA(ctx context.Context, a *Access, id string) (MFAEnrollment, error) {
	target, err := c.mayManageMFA(ctx, a, id, "mfa.enroll")
	if err != nil {
		return MFAEnrollment{}, err
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: mfaIssuer, AccountName: target.Login, Period: mfaPeriod,
		Digits: mfaDigits, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return MFAEnrollment{}, err
	}
	seed := key.Secret()
	u := OTPAuthURL(target.Login, seed)
	png, err := qrcode.Encode(u, qrcode.Medium, 256)
	if err != nil {
		return MFAEnrollment{}, err
	}
	sealed := c.sealer.Seal([]byte(seed), seedAAD(target))
	ev := c.mfaEvent(a, target, "mfa.enroll")
	if target.MFA == model.MFAEnrolling || target.MFA == model.MFAEnabled {
		ev.Detail = joinDetail(nonEmpty("reset of "+target.MFA+" MFA", ev.Detail)...)
	}
	if err := c.updateMFA(ctx, target, ev, "", func(p *model.Principal) bool {
		p.MFA, p.MFASeed, p.MFARecovery = model.MFAEnrolling, sealed, nil
		return true
	}); err != nil {
		return MFAEnrollment{}, err
	}
	c.locks.reset(target.Account + "\x00" + target.ID)
	return MFAEnrollment{Seed: seed, URL: u, QR: png}, nil
}

// VerifyMFA ends enrolment with a code from the app: a valid code enables
// MFA and returns a first set of recovery codes, shown once. A wrong or
// malformed code is Invalid (field code); a principal not enrolling is a
// Conflict.
func (c *mfaService) VerifyMFA(ctx context.Context, a *Access, id, code string) ([]string, error) {
	target, err := c.mayManageMFA(ctx, a, id, "mfa.verify")
	if err != nil {
		return nil, err
	}
	ev := c.mfaEvent(a, target, "mfa.verify")
	if target.MFA != model.MFAEnrolling {
		c.audit.recordFailure(ctx, fail(ev, ReasonMFAState))
		return nil, &Error{Kind: Conflict, Reason: ReasonMFAState, Msg: "MFA is not being enrolled; start with POST /api/v1/users/{id}/mfa"}
	}
	if code == "" {
		return nil, invalid("code", "code is required")
	}
	if reason, err := c.checkCode(ctx, a.Caller, target, code, ev, ReasonMFAInvalid); err != nil {
		return nil, err
	} else if reason != ReasonNone {
		return nil, &Error{Kind: Invalid, Reason: reason, Field: "code", Msg: "the code is wrong, used already or not 6 digits"}
	}
	codes, hashes := c.newRecoveryCodes(target)
	ev.Detail = joinDetail(nonEmpty(ev.Detail, "enabled with "+strconv.Itoa(mfaRecoveryCount)+" recovery codes")...)
	err = c.updateMFA(ctx, target, ev, "MFA was reset or disabled meanwhile", func(p *model.Principal) bool {
		if p.MFA != model.MFAEnrolling || !bytes.Equal(p.MFASeed, target.MFASeed) {
			return false
		}
		p.MFA, p.MFARecovery = model.MFAEnabled, hashes
		return true
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// updateMFA writes a principal's second factor with ev in one transaction:
// set changes it, or reports false when the stored state changed under the
// operation (another enrolment, reset or disable won the race), which is
// Conflict with msg.
func (c *mfaService) updateMFA(ctx context.Context, target model.Principal, ev audit.Event, msg string, set func(p *model.Principal) bool) error {
	now := c.now().UTC()
	_, err := c.st.UpdatePrincipal(ctx, target.Account, target.ID, func(p model.Principal) (model.Principal, error) {
		if !set(&p) {
			return p, errMFAState
		}
		p.UpdatedAt = now
		return p, nil
	}, ev)
	if errors.Is(err, errMFAState) {
		return &Error{Kind: Conflict, Reason: ReasonMFAState, Msg: msg, Err: err}
	}
	if err != nil {
		return wrapStore(err, "principal "+target.ID)
	}
	c.keys.forgetPrincipal(target.Account, target.ID, false)
	return nil
}

// DisableMFA turns the second factor off and destroys the seed and the
// recovery codes.
func (c *mfaService) DisableMFA(ctx context.Context, a *Access, id string) error {
	target, err := c.mayManageMFA(ctx, a, id, "mfa.disable")
	if err != nil {
		return err
	}
	ev := c.mfaEvent(a, target, "mfa.disable")
	ev.Detail = joinDetail(nonEmpty(ev.Detail, "was "+mfaState(target))...)
	if err := c.updateMFA(ctx, target, ev, "", func(p *model.Principal) bool {
		p.MFA, p.MFASeed, p.MFARecovery = model.MFANone, nil, nil
		return true
	}); err != nil {
		return err
	}
	c.locks.reset(target.Account + "\x00" + target.ID)
	return nil
}

// NewRecoveryCodes replaces the recovery codes of a principal whose MFA is
// enabled with a new set, shown once.
func (c *mfaService) NewRecoveryCodes(ctx context.Context, a *Access, id string) ([]string, error) {
	target, err := c.mayManageMFA(ctx, a, id, "mfa.recovery_codes")
	if err != nil {
		return nil, err
	}
	ev := c.mfaEvent(a, target, "mfa.recovery_codes")
	if target.MFA != model.MFAEnabled {
		c.audit.recordFailure(ctx, fail(ev, ReasonMFAState))
		return nil, &Error{Kind: Conflict, Reason: ReasonMFAState, Msg: "MFA is not enabled"}
	}
	codes, hashes := c.newRecoveryCodes(target)
	ev.Detail = joinDetail(nonEmpty(ev.Detail, strconv.Itoa(mfaRecoveryCount)+" new recovery codes")...)
	if err := c.updateMFA(ctx, target, ev, "MFA was disabled meanwhile", func(p *model.Principal) bool {
		if p.MFA != model.MFAEnabled {
			return false
		}
		p.MFARecovery = hashes
		return true
	}); err != nil {
		return nil, err
	}
	return codes, nil
}

// login is the second step of a password login of principal p, whose MFA
// is enabled: a TOTP code (second) or a recovery code. ev is the login's
// record; refusals are audited here and returned as the login's error. A
// wrong password never reaches this, so nothing here answers a stranger.
func (c *mfaService) login(ctx context.Context, caller Caller, p model.Principal, second, recovery string, ev audit.Event) (audit.Event, error) {
	switch {
	case second == "" && recovery == "":
		c.audit.recordFailure(ctx, fail(ev, ReasonMFARequired))
		return ev, &Error{Kind: Unauthenticated, Reason: ReasonMFARequired, Msg: "a second factor is required: totp or recovery_code"}
	case second != "":
		reason, err := c.checkCode(ctx, caller, p, second, ev, ReasonMFAInvalid)
		if err != nil {
			return ev, err
		}
		if reason != ReasonNone {
			return ev, &Error{Kind: Unauthenticated, Reason: ReasonMFAInvalid, Msg: "the second factor is wrong"}
		}
		ev.Detail = joinDetail(nonEmpty(ev.Detail, "second factor totp")...)
		return ev, nil
	}
	return c.spendRecoveryCode(ctx, caller, p, recovery, ev)
}

// checkCode checks a TOTP code of p against its seed at the previous,
// current and next step, then spends it (use-once, across instances). A
// refusal is audited as ev's failure (wrong: mfa_invalid or PS-Auth's bad_challenge; or mfa_locked with
// RateLimited as the error); the fifth in a row locks p's code checks.
func (c *mfaService) checkCode(ctx context.Context, caller Caller, p model.Principal, code string, ev audit.Event, wrong Reason) (Reason, error) {
	lockKey := p.Account + "\x00" + p.ID
	now := c.now()
	if wait := c.locks.blocked(lockKey, now); wait > 0 {
		c.audit.recordFailure(ctx, fail(ev, ReasonMFALocked))
		return ReasonMFALocked, &Error{Kind: RateLimited, Reason: ReasonMFALocked, Msg: "too many wrong codes; try again later", RetryAfter: wait}
	}
	step, ok := c.matchStep(p, code, now)
	if ok {
		won, err := c.st.UseOnce(ctx, c.codeNonce(p, step, code), time.Unix((step+2)*mfaPeriod, 0).Add(time.Minute))
		if err != nil {
			return ReasonNone, wrapStore(err, "code")
		}
		ok = won
	}
	if !ok {
		c.audit.recordFailure(ctx, fail(ev, wrong))
		if c.locks.fail(lockKey, now) {
			lev := c.audit.event(caller, p.Account, "mfa.lockout")
			lev.Actor, lev.Subject, lev.Authenticator = ev.Actor, p.RoleID(), "authn"
			lev.Detail = strconv.Itoa(mfaMaxFailures) + " wrong codes in a row; code checks locked for " + mfaLockout.String()
			c.audit.recordFailure(ctx, fail(lev, ReasonMFALocked))
		}
		return ReasonMFAInvalid, nil
	}
	c.locks.reset(lockKey)
	return ReasonNone, nil
}

// matchStep returns the time step whose code is code, among the previous,
// current and next, comparing in constant time.
func (c *mfaService) matchStep(p model.Principal, code string, now time.Time) (int64, bool) {
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" || p.MFASeed == nil {
		return 0, false
	}
	seed, err := c.sealer.Open(p.MFASeed, seedAAD(p))
	if err != nil {
		return 0, false
	}
	cur := now.Unix() / mfaPeriod
	found, match := int64(0), false
	for _, step := range []int64{cur - 1, cur, cur + 1} {
		want, err := totp.GenerateCodeCustom(string(seed), time.Unix(step*mfaPeriod, 0), mfaOpts)
		if err == nil && hmac.Equal([]byte(want), []byte(code)) && !match {
			found, match = step, true
		}
	}
	return found, match
}

// codeNonce names a spent code in the use-once table: its principal, step
// and an HMAC of the code (no code or seed in the clear).
func (c *mfaService) codeNonce(p model.Principal, step int64, code string) string {
	h := c.sealer.KeyHash("mfa-otp\x00" + p.Account + "\x00" + p.ID + "\x00" + strconv.FormatInt(step, 10) + "\x00" + code)
	return "mfa:" + hex.EncodeToString(h[:16])
}

var errNoRecoveryCode = errors.New("no such unused recovery code")

// spendRecoveryCode spends one of p's recovery codes: removed in the same
// transaction as its record (mfa.recovery_code_used), so it works once
// whoever races it. A wrong one counts towards the lockout.
func (c *mfaService) spendRecoveryCode(ctx context.Context, caller Caller, p model.Principal, code string, ev audit.Event) (audit.Event, error) {
	lockKey := p.Account + "\x00" + p.ID
	now := c.now()
	if wait := c.locks.blocked(lockKey, now); wait > 0 {
		c.audit.recordFailure(ctx, fail(ev, ReasonMFALocked))
		return ev, &Error{Kind: RateLimited, Reason: ReasonMFALocked, Msg: "too many wrong codes; try again later", RetryAfter: wait}
	}
	h := c.recoveryHash(p, code)
	used := c.audit.event(caller, p.Account, "mfa.recovery_code_used")
	used.Actor, used.Subject, used.Authenticator = p.RoleID(), p.RoleID(), "authn"
	// Said before the write: the record is handed to the store by value.
	used.Detail = strconv.Itoa(max(len(p.MFARecovery)-1, 0)) + " recovery codes left"
	_, err := c.st.UpdatePrincipal(ctx, p.Account, p.ID, func(q model.Principal) (model.Principal, error) {
		i := slices.IndexFunc(q.MFARecovery, func(x []byte) bool { return hmac.Equal(x, h) })
		if q.MFA != model.MFAEnabled || i < 0 {
			return q, errNoRecoveryCode
		}
		q.MFARecovery = slices.Delete(slices.Clone(q.MFARecovery), i, i+1)
		return q, nil
	}, used)
	if errors.Is(err, errNoRecoveryCode) {
		c.audit.recordFailure(ctx, fail(ev, ReasonMFAInvalid))
		if c.locks.fail(lockKey, now) {
			lev := c.audit.event(caller, p.Account, "mfa.lockout")
			lev.Actor, lev.Subject, lev.Authenticator = ev.Actor, p.RoleID(), "authn"
			lev.Detail = strconv.Itoa(mfaMaxFailures) + " wrong codes in a row; code checks locked for " + mfaLockout.String()
			c.audit.recordFailure(ctx, fail(lev, ReasonMFALocked))
		}
		return ev, &Error{Kind: Unauthenticated, Reason: ReasonMFAInvalid, Msg: "the second factor is wrong"}
	}
	if err != nil {
		return ev, wrapStore(err, "principal")
	}
	c.keys.forgetPrincipal(p.Account, p.ID, false)
	c.locks.reset(lockKey)
	ev.Detail = joinDetail(nonEmpty(ev.Detail, "second factor recovery code")...)
	return ev, nil
}

// newRecoveryCodes makes a set of recovery codes (xxxx-xxxx) and their HMACs.
func (c *mfaService) newRecoveryCodes(p model.Principal) (codes []string, hashes [][]byte) {
	buf := make([]byte, 2*recoveryHalfChars)
	for range mfaRecoveryCount {
		_, _ = rand.Read(buf)
		var b strings.Builder
		for i, x := range buf {
			if i == recoveryHalfChars {
				b.WriteByte('-')
			}
			b.WriteByte(recoveryAlphabet[int(x)%len(recoveryAlphabet)]) // 256 is a multiple of 32: no bias
		}
		codes = append(codes, b.String())
		hashes = append(hashes, c.recoveryHash(p, b.String()))
	}
	return codes, hashes
}

// recoveryHash is the HMAC a recovery code is kept as, bound to its
// principal; case, spaces and the hyphen do not matter.
func (c *mfaService) recoveryHash(p model.Principal, code string) []byte {
	canon := strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' {
			return -1
		}
		return r
	}, strings.ToLower(strings.TrimSpace(code)))
	return c.sealer.KeyHash("mfa-recovery\x00" + p.Account + "\x00" + p.ID + "\x00" + canon)
}

func mfaState(p model.Principal) string {
	if p.MFA == "" {
		return model.MFANone
	}
	return p.MFA
}

// nonEmpty drops empty parts of a detail.
func nonEmpty(parts ...string) []string {
	return slices.DeleteFunc(parts, func(s string) bool { return s == "" })
}

// mfaLocks counts wrong codes in a row per principal and locks its code
// checks for mfaLockout after mfaMaxFailures. In memory and bounded.
type mfaLocks struct {
	mu sync.Mutex
	m  map[string]mfaLockEntry
}

type mfaLockEntry struct {
	failures int
	until    time.Time
}

func newMFALocks() *mfaLocks { return &mfaLocks{m: map[string]mfaLockEntry{}} }

// blocked returns how long key's code checks stay locked, or 0.
func (l *mfaLocks) blocked(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.m[key]
	if !ok || e.until.IsZero() {
		return 0
	}
	if wait := e.until.Sub(now); wait > 0 {
		return wait
	}
	delete(l.m, key) // the lock ran out: a fresh count
	return 0
}

// fail counts a wrong code and reports whether it set a lock.
func (l *mfaLocks) fail(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.m[key]; !ok && len(l.m) >= mfaLocksMax {
		for k, e := range l.m {
			if !now.Before(e.until) {
				delete(l.m, k)
			}
			if len(l.m) < mfaLocksMax*9/10 {
				break
			}
		}
	}
	e := l.m[key]
	e.failures++
	locked := e.failures >= mfaMaxFailures
	if locked {
		e = mfaLockEntry{failures: 0, until: now.Add(mfaLockout)}
	}
	l.m[key] = e
	return locked
}

// reset forgets key's wrong codes after a right one.
func (l *mfaLocks) reset(key string) {
	l.mu.Lock()
	delete(l.m, key)
	l.mu.Unlock()
}
