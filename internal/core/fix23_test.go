package core

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/keyward/keyward/internal/crypto"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

// hookStore runs hook once, at the next run-as lookup: between a sign-in
// reading its registration and storing its session (review 23, F4).
type hookStore struct {
	store.Store
	mu   sync.Mutex
	hook func()
}

func (h *hookStore) GetPrincipalByLogin(ctx context.Context, account string, kind model.Kind, login string) (model.Principal, error) {
	h.mu.Lock()
	f := h.hook
	h.hook = nil
	h.mu.Unlock()
	if f != nil {
		f()
	}
	return h.Store.GetPrincipalByLogin(ctx, account, kind, login)
}

// raceEnv is a core over a hookStore with the admin and bob (no MFA).
func raceEnv(t *testing.T) (*Core, *hookStore, Session) {
	t.Helper()
	clk := mfaClock()
	st, sealer := testStore(t)
	hs := &hookStore{Store: st}
	ctx := context.Background()
	c, err := New(ctx, Deps{Store: hs, Sealer: sealer, Now: clk.now, BcryptWorkers: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	key, err := c.Bootstrap(ctx, Caller{RequestID: "init"}, "acme")
	if err != nil {
		t.Fatal(err)
	}
	admin, err := authKey(ctx, c, "acme", key)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := bcrypt.GenerateFromPassword([]byte("bob-secret-1"), bcrypt.MinCost)
	now := clk.now().UTC()
	bob := model.Principal{ID: crypto.NewID(), Account: "acme", Login: "bob", Kind: model.KindUser, Status: model.StatusActive,
		Source: "local", PasswordHash: string(h), CreatedAt: now, UpdatedAt: now}
	if err := st.CreatePrincipal(ctx, bob, nil); err != nil {
		t.Fatal(err)
	}
	return c, hs, admin
}

// A sign-in (or an OAuth token request) racing a key rotation, a PATCH or
// a delete of its registration keeps nothing made under the stale
// registration, and is a 401 (never a 404) with its precise reason.
func TestFix23ChangeDuringSignIn(t *testing.T) {
	ctx := context.Background()
	lo := from("127.0.0.1")
	changes := map[string]func(c *Core, admin Session, id string) error{
		"rotate": func(c *Core, admin Session, id string) error {
			_, err := c.RotateAPIRegistrationKey(ctx, acc(c, admin), id)
			return err
		},
		"patch": func(c *Core, admin Session, id string) error {
			_, err := c.UpdateAPIRegistration(ctx, acc(c, admin), id, APIRegSpec{Name: ptrTo("renamed")})
			return err
		},
		"delete": func(c *Core, admin Session, id string) error {
			return c.DeleteAPIRegistration(ctx, acc(c, admin), id)
		},
	}
	for name, change := range changes {
		t.Run("signappin "+name, func(t *testing.T) {
			c, hs, admin := raceEnv(t)
			g, sec, err := c.CreateAPIRegistration(ctx, acc(c, admin), APIRegSpec{Name: ptrTo("r"), EnforceMFA: ptrTo(false),
				Allowed: &[]string{"user:bob"}, Rules: rules(RuleIP, "127.0.0.1")})
			if err != nil {
				t.Fatal(err)
			}
			hs.mu.Lock()
			hs.hook = func() {
				if err := change(c, admin, g.ID); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
			hs.mu.Unlock()
			in, err := c.SignAppin(ctx, lo, Credential{Kind: CredPSAuth, Account: "acme", PS: &PSAuthProof{Key: sec.Key, RunAs: "bob",
				Method: "POST", Path: psPath}})
			if err == nil {
				if _, err := c.Authenticate(ctx, lo, Credential{Kind: CredPSSession, Account: "acme", Secret: in.Cookie}); err == nil {
					t.Fatalf("a sign-in racing a %s left a live session after it", name)
				}
				t.Fatalf("a sign-in racing a %s answered a (dead) session instead of a refusal", name)
			}
			wantReason(t, "sign-in racing a "+name, err, Unauthenticated, ReasonRegistrationChanged)
			rs := auditEvents(t, c.st, "acme", psEventSignAppin)
			if len(rs) == 0 || rs[0].Reason != string(ReasonRegistrationChanged) || rs[0].KeyID != g.ID {
				t.Fatalf("last psauth.signappin record %+v", rs)
			}
		})
	}
	t.Run("token rotate", func(t *testing.T) {
		c, hs, admin := raceEnv(t)
		g, sec, err := c.CreateAPIRegistration(ctx, acc(c, admin), APIRegSpec{Name: ptrTo("o"), Type: model.APIAccessPolicy,
			RunAs: ptrTo("bob"), Rules: rules(RuleIP, "127.0.0.1")})
		if err != nil {
			t.Fatal(err)
		}
		hs.mu.Lock()
		hs.hook = func() {
			if _, err := c.RotateAPIRegistrationKey(ctx, acc(c, admin), g.ID); err != nil {
				t.Errorf("rotate: %v", err)
			}
		}
		hs.mu.Unlock()
		tok, err := c.PSAuthToken(ctx, lo, "acme", PSTokenRequest{ClientID: sec.ClientID, ClientSecret: sec.ClientSecret, GrantType: "client_credentials"})
		if err == nil {
			_, err := c.SignAppin(ctx, lo, Credential{Kind: CredPSAuth, Account: "acme", PS: &PSAuthProof{Bearer: tok.AccessToken, Method: "POST", Path: psPath}})
			if err == nil {
				t.Fatal("a token issued while its secret was rotated still signs in")
			}
			t.Fatal("a token request racing a rotation got a (dead) token instead of a refusal")
		}
		wantReason(t, "token racing a rotation", err, Unauthenticated, ReasonRegistrationChanged)
	})
}

// With PSRUN and an MFA challenge, the signed header is repeated with the
// code (BeyondTrust's PowerShell flow): the signature is spent only by the
// sign-in that succeeds, and a replay after that still fails.
func TestFix23PSRUNSpentOnlyOnSuccess(t *testing.T) {
	e := newPSEnv(t)
	lo := from("127.0.0.1")
	_, sec := e.reg(APIRegSpec{VerifyPSRUN: ptrTo(true)})
	ts := strconv.FormatInt(e.clk.now().Unix(), 10)
	sig := psrunSig(sec.PSRUNSecret, ts, "alice")
	in, err := e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "alice", Timestamp: ts, Signature: sig})
	e.want("signed, no challenge", err, ReasonMFARequired)
	_, err = e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "alice", Timestamp: ts, Signature: sig, Challenge: "000000", Cookie: in.Cookie})
	e.want("signed, wrong code", err, ReasonBadChallenge)
	done, err := e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "alice", Timestamp: ts, Signature: sig,
		Challenge: code(t, e.seed, e.clk.now()), Cookie: in.Cookie})
	e.want("the same signature with the code", err, ReasonNone)
	if done.Cookie == "" {
		t.Fatal("no session cookie")
	}
	e.clk.advance(30 * time.Second)
	_, err = e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "alice", Timestamp: ts, Signature: sig, Challenge: code(t, e.seed, e.clk.now())})
	e.want("the signature replayed after its sign-in", err, ReasonSignatureReplayed)
	// Without MFA, a replay of a signature that signed in fails as before.
	_, off := e.reg(APIRegSpec{EnforceMFA: ptrTo(false), VerifyPSRUN: ptrTo(true)})
	sig = psrunSig(off.PSRUNSecret, ts, "bob")
	_, err = e.sign(lo, PSAuthProof{Key: off.Key, RunAs: "bob", Timestamp: ts, Signature: sig})
	e.want("signed", err, ReasonNone)
	_, err = e.sign(lo, PSAuthProof{Key: off.Key, RunAs: "bob", Timestamp: ts, Signature: sig})
	e.want("replayed", err, ReasonSignatureReplayed)
}

// A sign-in admitted only through a FLOATING grant starts its clock, as a
// use through the native API does (audited grant.activate).
func TestFix23FloatingGrantStartsOnSignIn(t *testing.T) {
	e := newPSEnv(t)
	ctx := context.Background()
	lo := from("127.0.0.1")
	r, err := e.c.CreateRole(ctx, acc(e.c, e.admin), RoleSpec{Name: "deployers", Permissions: []string{PermUsersView}})
	if err != nil {
		t.Fatal(err)
	}
	carol := e.ids["carol"]
	if _, err := e.c.UpdatePrincipal(ctx, acc(e.c, e.admin), carol, PrincipalPatch{Status: ptrTo(model.StatusActive)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.SetGrants(ctx, acc(e.c, e.admin), carol, []GrantSpec{{RoleID: r.ID, Type: model.GrantFloating, FloatingLength: 1}}); err != nil {
		t.Fatal(err)
	}
	_, sec := e.reg(APIRegSpec{EnforceMFA: ptrTo(false), Allowed: &[]string{"role:deployers"}})
	in, err := e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "carol"})
	if err != nil {
		t.Fatal(err)
	}
	acts := auditEvents(t, e.c.st, "acme", "grant.activate")
	if len(acts) == 0 || acts[0].Actor != "acme:user:carol" || acts[0].Detail != "role "+r.ID {
		t.Fatalf("no grant.activate record for carol's sign-in: %+v", acts)
	}
	e.clk.advance(50 * time.Minute)
	if in, err = e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "carol"}); err != nil {
		t.Fatalf("within the grant's hour: %v", err)
	}
	e.clk.advance(15 * time.Minute)
	_, err = e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "carol"})
	e.want("the floating grant's hour is over", err, ReasonUserNotAllowed)
	_, err = e.c.Authenticate(ctx, lo, Credential{Kind: CredPSSession, Account: "acme", Secret: in.Cookie})
	wantReason(t, "session after the grant's hour", err, Unauthenticated, ReasonUserNotAllowed)
}

// A session is re-checked on each use: a run-as no longer in the allowed
// list (its role revoked) ends it.
func TestFix23SessionRecheckedOnUse(t *testing.T) {
	e := newPSEnv(t)
	ctx := context.Background()
	lo := from("127.0.0.1")
	_, sec := e.reg(APIRegSpec{EnforceMFA: ptrTo(false), Allowed: &[]string{"role:ops", "user:alice"}})
	in, err := e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	use := func(cookie string) error {
		_, err := e.c.Authenticate(ctx, lo, Credential{Kind: CredPSSession, Account: "acme", Secret: cookie})
		return err
	}
	if err := use(in.Cookie); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.SetGrants(ctx, acc(e.c, e.admin), e.ids["bob"], nil); err != nil {
		t.Fatal(err)
	}
	wantReason(t, "bob's role revoked", use(in.Cookie), Unauthenticated, ReasonUserNotAllowed)
	wantReason(t, "the ended session again", use(in.Cookie), Unauthenticated, ReasonSessionUnknown)
}

// Absolute lifetime: used every 19 minutes, a session still ends
// PSSessionMaxAge after its sign-in.
func TestFix23SessionAbsoluteLifetime(t *testing.T) {
	e := newPSEnv(t)
	ctx := context.Background()
	lo := from("127.0.0.1")
	use := func(cookie string) error {
		_, err := e.c.Authenticate(ctx, lo, Credential{Kind: CredPSSession, Account: "acme", Secret: cookie})
		return err
	}
	_, off := e.reg(APIRegSpec{EnforceMFA: ptrTo(false), Allowed: &[]string{"user:bob"}})
	in, err := e.sign(lo, PSAuthProof{Key: off.Key, RunAs: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	start := e.clk.now()
	for e.clk.now().Add(19 * time.Minute).Before(start.Add(PSSessionMaxAge)) {
		e.clk.advance(19 * time.Minute)
		if err := use(in.Cookie); err != nil {
			t.Fatalf("used at %v after sign-in: %v", e.clk.now().Sub(start), err)
		}
	}
	e.clk.advance(start.Add(PSSessionMaxAge).Sub(e.clk.now()))
	wantReason(t, "session at its absolute lifetime", use(in.Cookie), Unauthenticated, ReasonExpired)
	wantReason(t, "the ended session again", use(in.Cookie), Unauthenticated, ReasonSessionUnknown)
}

// Review 23 notes N3/N6: rules and allowed lists are bounded (400 on the
// field), and an update's record names the fields it set, never values.
func TestFix23RegistrationLimitsAndUpdateRecord(t *testing.T) {
	e := newPSEnv(t)
	ctx := context.Background()
	many := make([]string, maxRegEntries+1)
	var manyRules []model.APIRule
	for i := range many {
		many[i] = "user:u" + strconv.Itoa(i)
		manyRules = append(manyRules, model.APIRule{Type: RuleIP, Value: "10.0.0." + strconv.Itoa(i%250+1)})
	}
	_, _, err := e.c.CreateAPIRegistration(ctx, acc(e.c, e.admin), APIRegSpec{Name: ptrTo("big"), Allowed: &many, Rules: rules(RuleIP, "127.0.0.1")})
	wantField(t, "too many allowed entries", err, "allowed")
	_, _, err = e.c.CreateAPIRegistration(ctx, acc(e.c, e.admin), APIRegSpec{Name: ptrTo("big"), Rules: &manyRules})
	wantField(t, "too many rules", err, "rules")
	g, _ := e.reg(APIRegSpec{Rules: &[]model.APIRule{{Type: RuleIP, Value: "127.0.0.1"}}})
	if _, err := e.c.UpdateAPIRegistration(ctx, acc(e.c, e.admin), g.ID, APIRegSpec{EnforceMFA: ptrTo(false),
		Rules: rules(RuleIP, "0.0.0.0/0"), Allowed: &[]string{"user:bob"}}); err != nil {
		t.Fatal(err)
	}
	rs := auditEvents(t, e.c.st, "acme", "api_registration.update")
	if len(rs) == 0 || rs[0].Detail != "name "+g.Name+"; set enforce_mfa,allowed,rules" {
		t.Fatalf("update record: %+v", rs)
	}
}

func wantField(t *testing.T, what string, err error, field string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Kind != Invalid || e.Field != field {
		t.Fatalf("%s: %v, want Invalid on %s", what, err, field)
	}
}
