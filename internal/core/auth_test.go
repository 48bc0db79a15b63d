package core

import (
	"context"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/crypto"
	"github.com/keyward/keyward/internal/model"
)

// TestAuthService: an authService (over the token, authenticator and access
// services it calls) turns a key, a password and a token into sessions of
// the right level, audits each attempt, refuses a key of another account,
// and throttles a login after its failures until the window ends.
func TestAuthService(t *testing.T) {
	ctx := context.Background()
	st, sealer := testStore(t)
	clk := &clock{t: time.Date(2030, 1, 7, 12, 0, 0, 0, time.UTC)}
	pids, _ := seedAccount(t, st, "acme", map[string]model.Kind{"alice": model.KindUser}, nil)
	seedAccount(t, st, "beta", nil, nil)
	hash, _ := bcrypt.GenerateFromPassword([]byte("Correct-Horse-42x"), bcrypt.MinCost)
	if _, err := st.UpdatePrincipal(ctx, "acme", pids["alice"], func(p model.Principal) (model.Principal, error) {
		p.PasswordHash = string(hash)
		return p, nil
	}); err != nil {
		t.Fatal(err)
	}
	kid := crypto.NewKeyID()
	key, secret := crypto.NewAPIKey(kid)
	if err := st.CreateAPIKey(ctx, model.APIKey{ID: kid, Account: "acme", PrincipalID: pids["alice"], Hash: sealer.KeyHash(secret),
		CreatedAt: clk.now()}); err != nil {
		t.Fatal(err)
	}
	tokens, err := loadTokenKeys(ctx, st, sealer, clk.now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	keys := newKeyring(st)
	if err := keys.load(ctx); err != nil {
		t.Fatal(err)
	}
	rec := runAuditor(t, st, clk.now)
	bc := newBcryptPool(1, 4)
	bc.start()
	t.Cleanup(bc.close)
	access := &accessService{st: st, now: clk.now, keys: keys, audit: rec}
	svc := &authService{st: st, sealer: sealer, now: clk.now, keys: keys, throttle: newThrottle(), bcrypt: bc,
		touches: newToucher(st, rec.log), audit: rec, access: access,
		tokenSvc: &tokenService{st: st, sealer: sealer, now: clk.now, tokenTTL: time.Minute, tokens: tokens, keys: keys, audit: rec, access: access},
		authnSvc: &authenticatorService{st: st, sealer: sealer, now: clk.now, authns: newAuthnCache(), keys: keys, audit: rec, access: access}}

	s, err := svc.Authenticate(ctx, loopback, Credential{Kind: CredAPIKey, Account: "acme", Secret: key, Event: "token"})
	if err != nil || s.PrincipalID != pids["alice"] || s.KeyID != kid || s.Level != LevelKey {
		t.Fatalf("API key: %+v %v", s, err)
	}
	if _, err := svc.Authenticate(ctx, loopback, Credential{Kind: CredAPIKey, Account: "beta", Secret: key, Event: "token"}); AsError(err).Reason != ReasonWrongAccount {
		t.Errorf("acme's key on beta: %v, want wrong_account", err)
	}
	if rs := auditEvents(t, st, "acme", "token"); len(rs) != 1 || rs[0].Outcome != audit.Success || rs[0].KeyID != kid {
		t.Fatalf("acme's key records %+v, want the success", rs)
	}
	// The refusal is recorded in the account the route named.
	if rs := auditEvents(t, st, "beta", "token"); len(rs) != 1 || rs[0].Outcome != audit.Failure || rs[0].Reason != string(ReasonWrongAccount) {
		t.Fatalf("beta's key records %+v, want the refusal", rs)
	}

	tok, err := svc.tokenSvc.IssueToken(s, FormatConjur)
	if err != nil {
		t.Fatal(err)
	}
	if ts, err := svc.Authenticate(ctx, loopback, Credential{Kind: CredToken, Secret: tok.Value, Conjur: true}); err != nil || ts.Level != LevelToken || ts.KeyID != kid {
		t.Errorf("a token through Conjur: %+v %v, want LevelToken of the key", ts, err)
	}
	if _, err := svc.Authenticate(ctx, loopback, Credential{Account: "acme"}); AsError(err).Reason != ReasonMissingCredentials {
		t.Errorf("nothing presented: %v", err)
	}

	pw := func(secret string) (Session, error) {
		return svc.Authenticate(ctx, loopback, Credential{Kind: CredPassword, Account: "acme", Login: "alice", Secret: secret, Event: "token"})
	}
	if s, err := pw("Correct-Horse-42x"); err != nil || s.Level != LevelPassword {
		t.Fatalf("password: %+v %v", s, err)
	}
	if _, err := pw("wrong"); AsError(err).Reason != ReasonBadPassword {
		t.Fatalf("a wrong password: %v", err)
	}
	for range throttleFailures - 1 { // counted per principal, whatever the spelling
		if _, err := svc.Authenticate(ctx, loopback, Credential{Kind: CredPassword, Account: "acme", Login: "user/alice", Secret: "wrong", Event: "token"}); AsError(err).Reason != ReasonBadPassword {
			t.Fatalf("a wrong password as user/alice: %v", err)
		}
	}
	if _, err := pw("Correct-Horse-42x"); AsError(err).Kind != RateLimited {
		t.Fatalf("after %d failures: %v, want RateLimited", throttleFailures, err)
	}
	clk.advance(throttleWindow)
	if _, err := pw("Correct-Horse-42x"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}
