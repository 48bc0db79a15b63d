package core

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/crypto/bcrypt"

	"github.com/keyward/keyward/internal/crypto"
	"github.com/keyward/keyward/internal/model"
)

const mfaTestPassword = "Correct-Horse-42x"

// mfaUser makes user alice with a password (cheap bcrypt) and enables her
// MFA as the admin; it returns the seed and her recovery codes.
func mfaUser(t *testing.T, c *Core, admin Session, clk *clock) (model.Principal, string, []string) {
	t.Helper()
	ctx := context.Background()
	h, err := bcrypt.GenerateFromPassword([]byte(mfaTestPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	now := clk.now().UTC()
	p := model.Principal{ID: crypto.NewID(), Account: "acme", Login: "alice", Kind: model.KindUser, Status: model.StatusActive,
		Source: "local", PasswordHash: string(h), CreatedAt: now, UpdatedAt: now}
	if err := c.st.CreatePrincipal(ctx, p, nil); err != nil {
		t.Fatal(err)
	}
	en, err := c.EnrollMFA(ctx, acc(c, admin), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	codes, err := c.VerifyMFA(ctx, acc(c, admin), p.ID, code(t, en.Seed, clk.now()))
	if err != nil {
		t.Fatal(err)
	}
	return p, en.Seed, codes
}

func code(t *testing.T, seed string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(seed, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// login is a password login of alice with a second factor.
func mfaLogin(c *Core, second, recovery string) (Session, error) {
	return c.Authenticate(context.Background(), loopback, Credential{Kind: CredPassword, Account: "acme", Login: "alice",
		Secret: mfaTestPassword, Second: second, Recovery: recovery, Event: "token"})
}

func wantReason(t *testing.T, what string, err error, kind Kind, reason Reason) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Kind != kind || e.Reason != reason {
		t.Fatalf("%s: err = %v, want %s (%s)", what, err, kind, reason)
	}
	return e
}

// mfaClock starts at a real time (the store's use-once table expires
// entries by the wall clock), one second into a 30 s step.
func mfaClock() *clock {
	now := time.Now().Truncate(30 * time.Second).Add(30*time.Second + time.Second)
	return &clock{t: now}
}

// TestMFAWindow: with an injected clock, the previous, current and next
// steps' codes are accepted (each once), the ones beyond are not, and a
// spent code stays refused while it is in the window.
func TestMFAWindow(t *testing.T) {
	clk := mfaClock()
	c, admin, _ := testCore(t, clk.now)
	clk.advance(time.Minute) // past the enrolment code's steps
	_, seed, _ := mfaUser(t, c, admin, clk)
	clk.advance(2 * time.Minute)
	now := clk.now()

	if _, err := mfaLogin(c, "", ""); err != nil {
		wantReason(t, "no code", err, Unauthenticated, ReasonMFARequired)
	} else {
		t.Fatal("a login without a code passed")
	}
	for _, d := range []time.Duration{-60 * time.Second, 60 * time.Second} {
		_, err := mfaLogin(c, code(t, seed, now.Add(d)), "")
		wantReason(t, "code "+d.String()+" away", err, Unauthenticated, ReasonMFAInvalid)
	}
	for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
		s, err := mfaLogin(c, code(t, seed, now.Add(d)), "")
		if err != nil || s.Level != LevelStrong {
			t.Fatalf("code %s away: %v, level %d", d, err, s.Level)
		}
	}
	spent := code(t, seed, now)
	_, err := mfaLogin(c, spent, "")
	wantReason(t, "replay in its step", err, Unauthenticated, ReasonMFAInvalid)
	clk.advance(30 * time.Second) // its step is now the previous one
	_, err = mfaLogin(c, spent, "")
	wantReason(t, "replay in the next step", err, Unauthenticated, ReasonMFAInvalid)
	clk.advance(30 * time.Second)
	if _, err := mfaLogin(c, code(t, seed, clk.now()), ""); err != nil {
		t.Fatalf("a fresh code: %v", err)
	}
}

// TestMFALockoutClock: five wrong codes in a row lock alice's code checks
// for 60 s (RateLimited with the time left), audited once; a right code
// passes once the lock ends; a success resets the count.
func TestMFALockoutClock(t *testing.T) {
	clk := mfaClock()
	c, admin, _ := testCore(t, clk.now)
	clk.advance(time.Minute)
	p, seed, recovery := mfaUser(t, c, admin, clk)
	clk.advance(2 * time.Minute)
	wrong := code(t, seed, clk.now().Add(-10*time.Minute))

	// Four wrong, one right: the count starts again.
	for range 4 {
		_, _ = mfaLogin(c, wrong, "")
	}
	if _, err := mfaLogin(c, "", recovery[0]); err != nil {
		t.Fatalf("recovery code after four wrong codes: %v", err)
	}
	for i := range 5 {
		_, err := mfaLogin(c, wrong, "")
		wantReason(t, "wrong code", err, Unauthenticated, ReasonMFAInvalid)
		if n := len(auditEvents(t, c.st, "acme", "mfa.lockout")); n != i/4 {
			t.Fatalf("after %d wrong codes: %d lockout records", i+1, n)
		}
	}
	right := func() string { return code(t, seed, clk.now()) }
	_, err := mfaLogin(c, right(), "")
	if e := wantReason(t, "locked", err, RateLimited, ReasonMFALocked); e.RetryAfter != 60*time.Second {
		t.Errorf("RetryAfter %v, want 60s", e.RetryAfter)
	}
	_, err = mfaLogin(c, "", recovery[1])
	wantReason(t, "locked, recovery code", err, RateLimited, ReasonMFALocked)
	clk.advance(59 * time.Second)
	_, err = mfaLogin(c, right(), "")
	if e := wantReason(t, "still locked", err, RateLimited, ReasonMFALocked); e.RetryAfter != time.Second {
		t.Errorf("RetryAfter %v, want 1s", e.RetryAfter)
	}
	clk.advance(time.Second)
	if s, err := mfaLogin(c, right(), ""); err != nil || s.Level != LevelStrong {
		t.Fatalf("after the lock: %v", err)
	}
	recs := auditEvents(t, c.st, "acme", "mfa.lockout")
	if len(recs) != 1 || recs[0].Event.Subject != p.RoleID() || recs[0].Event.Reason != string(ReasonMFALocked) {
		t.Fatalf("lockout records: %+v", recs)
	}
	locked := 0
	for _, r := range auditEvents(t, c.st, "acme", "token") {
		if r.Event.Reason == string(ReasonMFALocked) {
			locked++
		}
	}
	if locked != 3 {
		t.Errorf("%d refused logins audited as mfa_locked, want 3", locked)
	}
	// The recovery code refused during the lock was not spent.
	if _, err := mfaLogin(c, "", recovery[1]); err != nil {
		t.Errorf("recovery code after the lock: %v", err)
	}
}

// TestMFASeedSealed: the stored seed is sealed and bound to its principal;
// the records of enrolment name actor and subject and hold no seed.
func TestMFASeedSealed(t *testing.T) {
	clk := mfaClock()
	c, admin, _ := testCore(t, clk.now)
	p, seed, _ := mfaUser(t, c, admin, clk)
	got, err := c.st.GetPrincipal(context.Background(), "acme", p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.MFA != model.MFAEnabled || len(got.MFARecovery) != mfaRecoveryCount {
		t.Fatalf("stored: mfa %q, %d recovery codes", got.MFA, len(got.MFARecovery))
	}
	if _, err := c.mfaService.sealer.Open(got.MFASeed, []byte("mfa-seed:acme:someone-else")); err == nil {
		t.Error("the sealed seed opens for another principal")
	}
	if open, err := c.mfaService.sealer.Open(got.MFASeed, seedAAD(got)); err != nil || string(open) != seed {
		t.Errorf("the sealed seed does not open to the seed: %v", err)
	}
	for _, name := range []string{"mfa.enroll", "mfa.verify"} {
		recs := auditEvents(t, c.st, "acme", name)
		if len(recs) != 1 || recs[0].Event.Actor != admin.RoleID() || recs[0].Event.Subject != p.RoleID() {
			t.Fatalf("%s records: %+v", name, recs)
		}
		if d := recs[0].Event.Detail; d == "" || strings.Contains(d, seed) {
			t.Errorf("%s detail %q", name, d)
		}
	}
}

// TestTokenExchangeSecondFactor: the token body's second factor goes with
// a password only, one kind at a time.
func TestTokenExchangeSecondFactor(t *testing.T) {
	cred, err := TokenExchange(TokenBody{Login: "alice", Password: "pw", TOTP: "123456"}, "acme")
	if err != nil || cred.Kind != CredPassword || cred.Second != "123456" || cred.Account != "acme" {
		t.Fatalf("password + totp: %+v %v", cred, err)
	}
	cred, err = TokenExchange(TokenBody{Login: "alice", Password: "pw", RecoveryCode: "abcd-efgh"}, "acme")
	if err != nil || cred.Recovery != "abcd-efgh" {
		t.Fatalf("password + recovery code: %+v %v", cred, err)
	}
	for _, b := range []TokenBody{
		{Login: "alice", Password: "pw", TOTP: "123456", RecoveryCode: "abcd-efgh"},
		{APIKey: "kw_x", TOTP: "123456"},
	} {
		if _, err := TokenExchange(b, "acme"); err == nil {
			t.Errorf("%+v accepted", b)
		}
	}
}
