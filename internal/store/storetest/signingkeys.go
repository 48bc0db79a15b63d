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
	k2 := model.SigningKey{ID: "s2", Alg: "ES256", Private: []byte("sealed2"), Public: []byte(`{"kty":"EC"}`), CreatedAt: at(time.Hour)}
	k1 := model.SigningKey{ID: "s1", Alg: "RS256", Private: []byte("sealed1"), Public: []byte(`{"kty":"RSA"}`),
		CreatedAt: base, RetiredAt: ptr(at(time.Minute)), ExpiresAt: ptr(at(2 * time.Hour))}
	must(t, "create s2", s.CreateSigningKey(ctx, k2, ev("", "signing-key-create")))
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
	}, ev("", "signing-key-retire"))
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
}
