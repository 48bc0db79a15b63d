package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

func testAPIKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAccount(t, s, "acme")
	mustPrincipal(t, s, newUser("acme", "p1", "alice"))
	k1 := newKey("acme", "p1", "k1")
	k2 := newKey("acme", "p1", "k2")
	k2.CreatedAt = at(time.Hour)
	k2.PrevHash, k2.PrevUntil, k2.ExpiresAt, k2.ValidSources, k2.Roles = nil, nil, nil, nil, nil
	must(t, "create k2", s.CreateAPIKey(ctx, k2, ev("acme", "key-create")))
	must(t, "create k1", s.CreateAPIKey(ctx, k1))
	n := auditCount(t, s)
	wantErr(t, "duplicate id", s.CreateAPIKey(ctx, k1, ev("acme", "dup")), store.ErrAlreadyExists)
	wantErr(t, "missing principal", s.CreateAPIKey(ctx, newKey("acme", "p404", "k9"), ev("acme", "bad")), store.ErrNotFound)
	if auditCount(t, s) != n {
		t.Fatal("failed key creates wrote audit records")
	}
	got, err := s.GetAPIKey(ctx, "k1")
	must(t, "get", err)
	wantEqual(t, "k1", got, k1)
	got, err = s.GetAPIKey(ctx, "k2")
	must(t, "get k2", err)
	wantEqual(t, "k2 (nil optionals)", got, k2)
	_, err = s.GetAPIKey(ctx, "k404")
	wantErr(t, "get missing", err, store.ErrNotFound)
	// GetAPIKeys: the existing ones among the named, across chunks.
	many := []string{"k404", "k1"}
	for i := range 1500 {
		many = append(many, fmt.Sprintf("nokey%d", i))
	}
	many = append(many, "k2", "k1")
	byID, err := s.GetAPIKeys(ctx, many)
	must(t, "get many", err)
	slices.SortFunc(byID, func(a, b model.APIKey) int { return strings.Compare(a.ID, b.ID) })
	if len(byID) != 2 {
		t.Fatalf("GetAPIKeys of k404, k1, 1,500 missing, k2, k1 = %d keys, want k1 and k2", len(byID))
	}
	wantEqual(t, "GetAPIKeys k1", byID[0], k1)
	wantEqual(t, "GetAPIKeys k2", byID[1], k2)
	none, err := s.GetAPIKeys(ctx, nil)
	if err != nil || len(none) != 0 {
		t.Fatalf("GetAPIKeys(nil) = %v, %v; want none", none, err)
	}
	ks, err := s.ListAPIKeys(ctx, "acme", "p1")
	must(t, "list", err)
	if len(ks) != 2 || ks[0].ID != "k1" || ks[1].ID != "k2" {
		t.Fatalf("list = %+v, want k1, k2 by creation", ks)
	}

	rotated := at(2 * time.Hour)
	up, err := s.UpdateAPIKey(ctx, "k1", func(old model.APIKey) (model.APIKey, error) {
		old.PrevHash, old.PrevUntil = old.Hash, ptr(at(3*time.Hour))
		old.Hash, old.RotatedAt = []byte("new-hash"), &rotated
		return old, nil
	}, ev("acme", "key-rotate"))
	must(t, "rotate", err)
	want := k1
	want.PrevHash, want.PrevUntil = k1.Hash, ptr(at(3*time.Hour))
	want.Hash, want.RotatedAt = []byte("new-hash"), &rotated
	wantEqual(t, "rotate result", up, want)
	got, _ = s.GetAPIKey(ctx, "k1")
	wantEqual(t, "after rotate (other fields kept)", got, want)
	if lastEvent(t, s) != "key-rotate" {
		t.Fatal("rotation wrote no audit record")
	}
	revoked := at(4 * time.Hour)
	_, err = s.UpdateAPIKey(ctx, "k1", func(old model.APIKey) (model.APIKey, error) {
		old.RevokedAt = &revoked
		return old, nil
	}, ev("acme", "key-revoke"))
	must(t, "revoke", err)
	got, _ = s.GetAPIKey(ctx, "k1")
	if got.RevokedAt == nil || !got.RevokedAt.Equal(revoked) {
		t.Fatalf("revoked_at = %v, want %v", got.RevokedAt, revoked)
	}
	boom := errors.New("boom")
	_, err = s.UpdateAPIKey(ctx, "k1", func(old model.APIKey) (model.APIKey, error) { return old, boom })
	wantErr(t, "updater error", err, boom)
	_, err = s.UpdateAPIKey(ctx, "k404", func(old model.APIKey) (model.APIKey, error) { return old, nil })
	wantErr(t, "update missing", err, store.ErrNotFound)

	wantErr(t, "delete missing", s.DeleteAPIKey(ctx, "k404", ev("acme", "bad")), store.ErrNotFound)
	n = auditCount(t, s)
	must(t, "delete", s.DeleteAPIKey(ctx, "k1", ev("acme", "key-delete")))
	_, err = s.GetAPIKey(ctx, "k1")
	wantErr(t, "get deleted", err, store.ErrNotFound)
	if auditCount(t, s) != n+1 {
		t.Fatal("delete wrote no audit record")
	}
	mustVerify(t, s)
}

func testConjurKey(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAccount(t, s, "acme")
	mustPrincipal(t, s, newUser("acme", "p1", "alice"))
	mustPrincipal(t, s, newUser("acme", "p2", "bob"))
	_, err := s.GetConjurKey(ctx, "acme", "p1")
	wantErr(t, "no conjur key yet", err, store.ErrNotFound)
	must(t, "plain key", s.CreateAPIKey(ctx, newKey("acme", "p1", "k0")))
	_, err = s.GetConjurKey(ctx, "acme", "p1")
	wantErr(t, "only a plain key", err, store.ErrNotFound)
	c := newKey("acme", "p1", "kc")
	c.Conjur, c.Sealed = true, []byte("sealed")
	must(t, "conjur key", s.CreateAPIKey(ctx, c))
	got, err := s.GetConjurKey(ctx, "acme", "p1")
	must(t, "get conjur", err)
	wantEqual(t, "conjur key", got, c)
	c2 := newKey("acme", "p1", "kc2")
	c2.Conjur = true
	wantErr(t, "second conjur key", s.CreateAPIKey(ctx, c2), store.ErrAlreadyExists)
	c3 := newKey("acme", "p2", "kc3")
	c3.Conjur = true
	must(t, "bob's conjur key", s.CreateAPIKey(ctx, c3))
	_, err = s.UpdateAPIKey(ctx, "k0", func(k model.APIKey) (model.APIKey, error) {
		k.Conjur = true
		return k, nil
	})
	wantErr(t, "make a second conjur key by update", err, store.ErrAlreadyExists)
	_, err = s.GetConjurKey(ctx, "other", "p1")
	wantErr(t, "other account", err, store.ErrNotFound)
}

func testTouchAPIKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAccount(t, s, "acme")
	mustPrincipal(t, s, newUser("acme", "p1", "alice"))
	for _, id := range []string{"k1", "k2", "k3"} {
		must(t, "key", s.CreateAPIKey(ctx, newKey("acme", "p1", id)))
	}
	n := auditCount(t, s)
	must(t, "touch", s.TouchAPIKeys(ctx, []store.KeyUse{
		{ID: "k2", At: at(time.Hour), Addr: "192.0.2.2"},
		{ID: "k1", At: at(time.Minute), Addr: "192.0.2.1"},
		{ID: "gone", At: at(time.Minute), Addr: "192.0.2.9"},
	}))
	if auditCount(t, s) != n {
		t.Fatal("TouchAPIKeys wrote audit records")
	}
	k1, _ := s.GetAPIKey(ctx, "k1")
	k2, _ := s.GetAPIKey(ctx, "k2")
	k3, _ := s.GetAPIKey(ctx, "k3")
	if k1.LastUsedAt == nil || !k1.LastUsedAt.Equal(at(time.Minute)) || k1.LastUsedAddr != "192.0.2.1" {
		t.Fatalf("k1 last use = %v %q", k1.LastUsedAt, k1.LastUsedAddr)
	}
	if k2.LastUsedAt == nil || !k2.LastUsedAt.Equal(at(time.Hour)) || k2.LastUsedAddr != "192.0.2.2" {
		t.Fatalf("k2 last use = %v %q", k2.LastUsedAt, k2.LastUsedAddr)
	}
	if k3.LastUsedAt != nil {
		t.Fatal("k3 was touched")
	}
	want := newKey("acme", "p1", "k1")
	want.LastUsedAt, want.LastUsedAddr = k1.LastUsedAt, k1.LastUsedAddr
	wantEqual(t, "touch keeps other fields", k1, want)
	// An older use does not move last use back.
	must(t, "touch older", s.TouchAPIKeys(ctx, []store.KeyUse{{ID: "k2", At: at(time.Second), Addr: "198.51.100.1"}}))
	k2, _ = s.GetAPIKey(ctx, "k2")
	if !k2.LastUsedAt.Equal(at(time.Hour)) || k2.LastUsedAddr != "192.0.2.2" {
		t.Fatalf("older use moved k2 back to %v %q", k2.LastUsedAt, k2.LastUsedAddr)
	}
	must(t, "touch nothing", s.TouchAPIKeys(ctx, nil))
}

func testEachAPIKey(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAccount(t, s, "acme")
	mustPrincipal(t, s, newUser("acme", "p1", "alice"))
	mustPrincipal(t, s, newUser("acme", "p2", "bob"))
	want := map[string]model.APIKey{}
	for i := range 50 {
		owner := "p1"
		if i%2 == 1 {
			owner = "p2"
		}
		k := newKey("acme", owner, "k"+name(i))
		want[k.ID] = k
		must(t, "key", s.CreateAPIKey(ctx, k))
	}
	got := map[string]model.APIKey{}
	must(t, "each", s.EachAPIKey(ctx, func(k model.APIKey) error {
		got[k.ID] = k
		return nil
	}))
	wantEqual(t, "every key", got, want)
	stop := errors.New("stop")
	calls := 0
	err := s.EachAPIKey(ctx, func(model.APIKey) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	wantErr(t, "stopped walk", err, stop)
	if calls != 3 {
		t.Fatalf("walk went on after an error: %d calls", calls)
	}
}
