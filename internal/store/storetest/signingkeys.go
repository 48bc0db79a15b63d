package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

func testSigningKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	k2 := model.SigningKey{ID: "s2", Account: "acme", Alg: "ES256", Private: []byte("sealed2"), Public: []byte(`{"kty":"EC"}`), CreatedAt: at(time.Hour)}
	// s1 has no account: a key from before keys were per account.
	k1 := model.SigningKey{ID: "s1", Alg: "RS256", Private: []byte("sealed1"), Public: []byte(`{"kty":"RSA"}`),
		CreatedAt: base, RetiredAt: ptr(at(time.Minute)), ExpiresAt: ptr(at(2 * time.Hour))}
	must(t, "create s2", s.CreateSigningKey(ctx, k2, ev("acme", "signing-key-create")))
	must(t, "create s1", s.CreateSigningKey(ctx, k1))
	n := auditCount(t, s)
	wantErr(t, "duplicate", s.CreateSigningKey(ctx, k1, ev("", "dup")), store.ErrAlreadyExists)
	if auditCount(t, s) != n {
		t.Fatal("failed create wrote an audit record")
	}
	ks, err := s.ListSigningKeys(ctx)
	must(t, "list", err)
	wantEqual(t, "keys oldest first", ks, []model.SigningKey{k1, k2})
	retired := at(3 * time.Hour)
	up, err := s.UpdateSigningKey(ctx, "s2", func(k model.SigningKey) (model.SigningKey, error) {
		k.RetiredAt = &retired
		return k, nil
	}, ev("acme", "signing-key-retire"))
	must(t, "retire", err)
	want := k2
	want.RetiredAt = &retired
	wantEqual(t, "retire result", up, want)
	ks, _ = s.ListSigningKeys(ctx)
	wantEqual(t, "after retire", ks[1], want)
	if lastEvent(t, s) != "signing-key-retire" {
		t.Fatal("retire wrote no audit record")
	}
	_, err = s.UpdateSigningKey(ctx, "s404", func(k model.SigningKey) (model.SigningKey, error) { return k, nil })
	wantErr(t, "update missing", err, store.ErrNotFound)
	// A key never moves to another account.
	if _, err := s.UpdateSigningKey(ctx, "s2", func(k model.SigningKey) (model.SigningKey, error) {
		k.Account = "other"
		return k, nil
	}); err == nil {
		t.Fatal("an updater moved a signing key to another account")
	}
}

// testSigningKeyRotation: a rotation retires only its own account's signing
// keys, in the same transaction as the new key and its audit record.
func testSigningKeyRotation(t *testing.T, s store.Store) {
	ctx := context.Background()
	key := func(id, account string, created time.Duration) model.SigningKey {
		return model.SigningKey{ID: id, Account: account, Alg: "EdDSA", Private: []byte("sealed-" + id),
			Public: []byte(`{"kid":"` + id + `"}`), CreatedAt: at(created)}
	}
	a1, b1 := key("a1", "acme", 0), key("b1", "beta", time.Second)
	must(t, "create a1", s.CreateSigningKey(ctx, a1))
	must(t, "create b1", s.CreateSigningKey(ctx, b1))
	a2 := key("a2", "acme", time.Hour)
	until := at(2 * time.Hour)
	must(t, "rotate acme", s.RotateSigningKey(ctx, a2, until, ev("acme", "signing-key-rotate")))
	if lastEvent(t, s) != "signing-key-rotate" {
		t.Fatal("rotation wrote no audit record")
	}
	ks, err := s.ListSigningKeys(ctx)
	must(t, "list", err)
	wantA1 := a1
	wantA1.RetiredAt, wantA1.ExpiresAt = ptr(a2.CreatedAt), ptr(until)
	wantEqual(t, "after rotating acme", ks, []model.SigningKey{wantA1, b1, a2})

	// A retired key keeps the retirement it had when its account rotates again.
	a3 := key("a3", "acme", 3*time.Hour)
	must(t, "rotate acme again", s.RotateSigningKey(ctx, a3, at(4*time.Hour)))
	ks, _ = s.ListSigningKeys(ctx)
	wantEqual(t, "first key keeps its retirement", ks[0], wantA1)
	if ks[2].ID != "a2" || ks[2].RetiredAt == nil || !ks[2].RetiredAt.Equal(a3.CreatedAt) || ks[3].RetiredAt != nil {
		t.Fatalf("second rotation: %+v", ks)
	}
	if ks[1].RetiredAt != nil {
		t.Fatal("rotating acme retired beta's key")
	}

	// A failed rotation (duplicate id) changes nothing and records nothing.
	n := auditCount(t, s)
	dup := key("a3", "acme", 5*time.Hour)
	wantErr(t, "duplicate rotation", s.RotateSigningKey(ctx, dup, at(6*time.Hour), ev("acme", "dup")), store.ErrAlreadyExists)
	if auditCount(t, s) != n {
		t.Fatal("failed rotation wrote an audit record")
	}
	after, _ := s.ListSigningKeys(ctx)
	wantEqual(t, "failed rotation", after, ks)
	if err := s.RotateSigningKey(ctx, key("x", "", 0), until); err == nil {
		t.Fatal("a rotation without an account was stored")
	}

	// Delete removes one key, audited; a missing one is ErrNotFound.
	must(t, "delete a1", s.DeleteSigningKey(ctx, "a1", ev("acme", "signing-key-delete")))
	if lastEvent(t, s) != "signing-key-delete" {
		t.Fatal("delete wrote no audit record")
	}
	n = auditCount(t, s)
	wantErr(t, "delete missing", s.DeleteSigningKey(ctx, "a1", ev("acme", "dup")), store.ErrNotFound)
	if auditCount(t, s) != n {
		t.Fatal("failed delete wrote an audit record")
	}
	ks, _ = s.ListSigningKeys(ctx)
	if len(ks) != 3 || ks[0].ID != "b1" {
		t.Fatalf("after delete: %+v", ks)
	}
}
