package core

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/crypto"
	"github.com/keyward/keyward/internal/model"
)

// TestKeyService: a keyService over a store mints a principal's own key
// into the hot-path cache under the sealer's HMAC, refuses a narrowed
// session and another's key without api-keys-manage, keeps the old secret
// through a rotation's grace, revokes into a tombstone, and reads back
// (but never revokes) the Conjur key.
func TestKeyService(t *testing.T) {
	ctx := context.Background()
	st, sealer := testStore(t)
	clk := &clock{t: time.Date(2030, 1, 7, 12, 0, 0, 0, time.UTC)}
	pids, _ := seedAccount(t, st, "acme", map[string]model.Kind{"alice": model.KindUser, "bob": model.KindUser}, nil)
	keys := newKeyring(st)
	rec := runAuditor(t, st, clk.now)
	svc := &keyService{st: st, sealer: sealer, now: clk.now, keys: keys, touches: newToucher(st, rec.log), audit: rec,
		access: &accessService{st: st, now: clk.now, keys: keys, audit: rec}}

	alice := &Access{Session: Session{Account: "acme", PrincipalID: pids["alice"], Login: "alice", Kind: "user", Level: LevelKey},
		Caller: loopback, Now: clk.now()}
	k, key, err := svc.CreateAPIKey(ctx, alice, pids["alice"], KeySpec{Description: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	id, secret, ok := crypto.ParseAPIKey(key)
	e, cached := keys.key(k.ID)
	if !ok || id != k.ID || !cached || !bytes.Equal(e.hash[:], sealer.KeyHash(secret)) || k.Hash != nil {
		t.Fatalf("created key %+v: parsed %v, cached %v", k, ok, cached)
	}

	narrowed := *alice
	narrowed.Session.Narrowed = true
	if _, _, err := svc.CreateAPIKey(ctx, &narrowed, pids["alice"], KeySpec{}); AsError(err).Reason != ReasonNarrowedCredential {
		t.Errorf("a narrowed session minting: %v, want narrowed_credential", err)
	}
	if _, _, err := svc.CreateAPIKey(ctx, alice, pids["bob"], KeySpec{}); AsError(err).Reason != ReasonMissingPermission {
		t.Errorf("alice minting bob's key: %v, want missing_permission", err)
	}

	_, key2, err := svc.RotateAPIKey(ctx, alice, k.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, secret2, _ := crypto.ParseAPIKey(key2)
	e, _ = keys.key(k.ID)
	if secret2 == secret || !bytes.Equal(e.hash[:], sealer.KeyHash(secret2)) || !e.hasPrev || !bytes.Equal(e.prevHash[:], sealer.KeyHash(secret)) ||
		e.prevUntil != clk.now().Add(time.Hour).UnixNano() {
		t.Fatalf("after rotation with grace: %+v", e)
	}
	if err := svc.RevokeAPIKey(ctx, alice, k.ID); err != nil {
		t.Fatal(err)
	}
	if e, ok := keys.key(k.ID); !ok || !e.revoked {
		t.Fatalf("revoked key in the cache: %+v %v, want a tombstone", e, ok)
	}
	if err := svc.RevokeAPIKey(ctx, alice, k.ID); AsError(err).Kind != NotFound {
		t.Errorf("revoking twice: %v, want NotFound", err)
	}
	if n := len(auditEvents(t, st, "acme", "apikey.revoke")); n != 1 {
		t.Errorf("%d revoke records, want 1", n)
	}

	cid := crypto.NewKeyID()
	ckey, csecret := crypto.NewAPIKey(cid)
	ck := model.APIKey{ID: cid, Account: "acme", PrincipalID: pids["alice"], Conjur: true, Hash: sealer.KeyHash(csecret),
		Sealed: sealer.Seal([]byte(csecret), []byte("apikey:"+cid)), CreatedAt: clk.now()}
	if err := st.CreateAPIKey(ctx, ck); err != nil {
		t.Fatal(err)
	}
	if got, err := svc.ConjurKey(ctx, loopback, alice.Session); err != nil || got != ckey {
		t.Fatalf("ConjurKey: %q %v, want the stored key", got, err)
	}
	if err := svc.RevokeAPIKey(ctx, alice, cid); AsError(err).Kind != Invalid {
		t.Errorf("revoking a Conjur key: %v, want Invalid", err)
	}
}
