package core

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/model"
)

// TestTokenService: a tokenService over a store and its signing keys issues
// tokens that check back to their session, in both renderings; a token
// stops at its principal's disabling, at an unknown key, and at its expiry;
// rotating needs signing-keys-manage and keeps old tokens verifying.
func TestTokenService(t *testing.T) {
	ctx := context.Background()
	st, sealer := testStore(t)
	clk := &clock{t: time.Date(2030, 1, 7, 12, 0, 0, 0, time.UTC)}
	pids, _ := seedAccount(t, st, "acme", map[string]model.Kind{"alice": model.KindUser, "app": model.KindHost}, nil)
	ttl := 5 * time.Minute
	tk, err := loadTokenKeys(ctx, st, sealer, clk.now(), ttl)
	if err != nil {
		t.Fatal(err)
	}
	keys := newKeyring(st)
	rec := runAuditor(t, st, clk.now)
	svc := &tokenService{st: st, sealer: sealer, now: clk.now, tokenTTL: ttl, tokens: tk, keys: keys, audit: rec,
		access: &accessService{st: st, now: clk.now, keys: keys, audit: rec}}

	alice := Session{Account: "acme", PrincipalID: pids["alice"], Login: "alice", Kind: "user", Level: LevelPassword, Authenticator: "authn"}
	for _, f := range []TokenFormat{FormatNative, FormatConjur} {
		tok, err := svc.IssueToken(alice, f)
		if err != nil {
			t.Fatal(err)
		}
		if tok.TTL != ttl || !tok.ExpiresAt.Equal(clk.now().Add(ttl)) {
			t.Errorf("format %d: ttl %v expires %v", f, tok.TTL, tok.ExpiresAt)
		}
		s, reason, _ := svc.checkToken(ctx, loopback, tok.Value)
		if reason != ReasonNone || s.PrincipalID != alice.PrincipalID || s.Level != LevelPassword || s.Login != "alice" {
			t.Fatalf("format %d: %+v %q", f, s, reason)
		}
	}
	if _, reason, _ := svc.checkToken(ctx, loopback, "not-a-token"); reason != ReasonMalformedToken {
		t.Errorf("garbage: %q", reason)
	}
	if _, err := svc.IssueToken(Session{Account: "nowhere", PrincipalID: "x"}, FormatNative); AsError(err).Kind != Unavailable {
		t.Errorf("an account without a signing key: %v, want Unavailable", err)
	}

	// A token minted from a key stops when the key is unknown.
	keyed := Session{Account: "acme", PrincipalID: pids["app"], Login: "host/app", Kind: "host", Level: LevelKey, KeyID: "nosuchkey"}
	tok, _ := svc.IssueToken(keyed, FormatNative)
	if _, reason, _ := svc.checkToken(ctx, loopback, tok.Value); reason != ReasonRevoked {
		t.Errorf("token of an unknown key: %q, want revoked", reason)
	}

	tok, _ = svc.IssueToken(alice, FormatNative)
	if _, err := st.UpdatePrincipal(ctx, "acme", pids["alice"], func(p model.Principal) (model.Principal, error) {
		p.Status = model.StatusDisabled
		return p, nil
	}); err != nil {
		t.Fatal(err)
	}
	keys.forgetPrincipal("acme", pids["alice"], false)
	if _, reason, _ := svc.checkToken(ctx, loopback, tok.Value); reason != ReasonDisabled {
		t.Errorf("token of a disabled principal: %q, want disabled", reason)
	}
	if in, err := svc.Introspect(ctx, loopback, tok.Value); err != nil || in.Active {
		t.Errorf("introspect of a disabled principal's token: %+v", in)
	}

	host, _ := svc.IssueToken(Session{Account: "acme", PrincipalID: pids["app"], Login: "host/app", Kind: "host", Level: LevelKey}, FormatNative)
	noPerm := &Access{Session: alice, Caller: loopback, Now: clk.now()}
	if err := svc.RotateSigningKey(ctx, noPerm); AsError(err).Reason != ReasonMissingPermission {
		t.Fatalf("rotate without signing-keys-manage: %v", err)
	}
	admin := &Access{Session: alice, Caller: loopback, Now: clk.now(), perms: allPermSet}
	if err := svc.RotateSigningKey(ctx, admin); err != nil {
		t.Fatal(err)
	}
	var set struct{ Keys []json.RawMessage }
	if err := json.Unmarshal(svc.JWKS(), &set); err != nil || len(set.Keys) != 2 {
		t.Fatalf("JWKS after a rotation: %d keys, %v; want the new and the retired", len(set.Keys), err)
	}
	if in, err := svc.Introspect(ctx, loopback, host.Value); err != nil || !in.Active || in.Subject != "host/app" {
		t.Errorf("a token of the retired key: %+v, want active", in)
	}
	clk.advance(ttl)
	if _, reason, _ := svc.checkToken(ctx, loopback, host.Value); reason != ReasonExpired {
		t.Errorf("after its lifetime: %q, want expired", reason)
	}
}
