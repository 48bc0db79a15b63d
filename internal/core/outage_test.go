package core

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
)

// Every store error that means "no answer" (the database refusing or not
// answering) must reach the caller as Unavailable (503): never a refusal
// (401, 403, verify's valid:false, an inactive token), never Internal (500).
func TestStoreOutageIsNeverARefusal(t *testing.T) {
	ctx := context.Background()
	st, sealer := testStore(t)
	o := &outageStore{st: st}
	c, err := New(ctx, Deps{Store: o, Sealer: sealer, BcryptWorkers: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	key, err := c.Bootstrap(ctx, Caller{RequestID: "init"}, "acme")
	if err != nil {
		t.Fatal(err)
	}
	s, err := authKey(ctx, c, "acme", key)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.IssueToken(s, FormatNative)
	if err != nil {
		t.Fatal(err)
	}
	a := acc(c, s)
	_, psSec, err := c.CreateAPIRegistration(ctx, a, APIRegSpec{Name: ptrTo("outage"), EnforceMFA: ptrTo(false),
		Allowed: &[]string{"user:admin"}, Rules: rules(RuleIP, "127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	psProof := func() *PSAuthProof {
		return &PSAuthProof{Key: psSec.Key, RunAs: "admin", Method: "POST", Path: psPath, BodySHA256: hex.EncodeToString(sha256.New().Sum(nil))}
	}
	in, err := c.SignAppin(ctx, loopback, Credential{Kind: CredPSAuth, Account: "acme", PS: psProof()})
	if err != nil {
		t.Fatalf("PS-Auth sign-in before the outage: %v", err)
	}

	o.down.Store(true)
	// Nothing cached but the keys: each check must read the store.
	c.accessService.keys.forgetAll()

	unavailable := func(what string, err error) {
		t.Helper()
		var e *Error
		if !errors.As(err, &e) || e.Kind != Unavailable {
			t.Errorf("%s with the store down: %v, want Unavailable", what, err)
		}
	}
	_, err = authKey(ctx, c, "acme", key)
	unavailable("API key login", err)
	_, err = c.Authenticate(ctx, loopback, Credential{Kind: CredToken, Secret: tok.Value})
	unavailable("token", err)
	_, err = c.Authenticate(ctx, loopback, Credential{Kind: CredPassword, Account: "acme", Login: "admin", Secret: "whatever-password"})
	unavailable("password login", err)
	kc, _, err := c.VerifyKey(ctx, loopback, key, Vouch{})
	unavailable("verify", err)
	if kc.Valid || kc.Code != ReasonNone {
		t.Errorf("verify with the store down answered %+v", kc)
	}
	_, err = c.Introspect(ctx, loopback, tok.Value)
	unavailable("introspect", err)
	_, err = c.Access(ctx, loopback, s)
	unavailable("access", err)

	_, err = c.SignAppin(ctx, loopback, Credential{Kind: CredPSAuth, Account: "acme", PS: psProof()})
	unavailable("PS-Auth sign-in", err)
	_, err = c.Authenticate(ctx, loopback, Credential{Kind: CredPSSession, Account: "acme", Secret: in.Cookie})
	unavailable("PS-Auth session", err)

	// Operations of an admitted request: their store errors are 503 too.
	_, _, err = c.ListPrincipals(ctx, a, Page{})
	unavailable("list users", AsError(err))
	_, _, err = c.CreateAPIKey(ctx, a, s.PrincipalID, KeySpec{})
	unavailable("create key", AsError(err))
	unavailable("revoke key", AsError(c.RevokeAPIKey(ctx, a, s.KeyID)))
	_, _, err = c.ListAudit(ctx, a, 10, 0)
	unavailable("list audit", AsError(err))
	_, err = c.GetPrincipal(ctx, a, s.PrincipalID)
	unavailable("get user", AsError(err))
	unavailable("rotate signing key", AsError(c.RotateSigningKey(ctx, a)))

	// Back up: the same requests are answered again.
	o.down.Store(false)
	if _, err := authKey(ctx, c, "acme", key); err != nil {
		t.Errorf("API key login after the outage: %v", err)
	}
	if kc, _, err := c.VerifyKey(ctx, loopback, key, Vouch{}); err != nil || !kc.Valid {
		t.Errorf("verify after the outage: %+v %v", kc, err)
	}
}
