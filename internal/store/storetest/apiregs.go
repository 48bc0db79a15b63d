package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

func newAPIReg(account, id, name string, hash byte) model.APIRegistration {
	return model.APIRegistration{
		ID: id, Account: account, Name: name, Type: model.APIKeyPolicy, EnforceMFA: true, PasswordRequired: true,
		Allowed: []string{"user:alice", "role:ops"},
		Rules:   []model.APIRule{{ID: "r1", Type: "ip", Value: "10.0.0.0/8"}, {ID: "r2", Type: "xff", Value: "::1"}},
		KeyHash: []byte{hash, 1, 2, 3}, KeySealed: []byte("sealed\x00key"), KeyLast4: "abcd", PSRUNSealed: []byte("sealed psrun"),
		CreatedAt: at(time.Second), UpdatedAt: at(time.Second), DefinedBy: "author-" + id, Version: 1,
		KeyHolders: []string{"author-" + id},
	}
}

func testAPIRegistrations(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAccount(t, s, "acme")
	mustAccount(t, s, "other")
	mustPrincipal(t, s, newUser("acme", "p1", "one"))
	a := newAPIReg("acme", "reg-a", "alpha", 1)
	b := newAPIReg("acme", "reg-b", "beta", 2)
	b.Type, b.ClientID, b.RunAs, b.AccessTokenMinutes, b.Allowed, b.PSRUNSealed = model.APIAccessPolicy, "0f8fad5b-d9cb-469f-a165-70867728950e", "alice", 60, nil, nil
	must(t, "create a", s.CreateAPIRegistration(ctx, a, ev("acme", "api_registration.create")))
	must(t, "create b", s.CreateAPIRegistration(ctx, b))
	got, err := s.GetAPIRegistration(ctx, "acme", "reg-a")
	must(t, "get", err)
	wantEqual(t, "registration", got, a)
	if _, err := s.GetAPIRegistration(ctx, "other", "reg-a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another account's id: %v, want ErrNotFound", err)
	}
	got, err = s.GetAPIRegistrationByKeyHash(ctx, []byte{2, 1, 2, 3})
	must(t, "by hash", err)
	wantEqual(t, "by hash", got, b)
	if _, err := s.GetAPIRegistrationByKeyHash(ctx, []byte{9}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown hash: %v", err)
	}
	got, err = s.GetAPIRegistrationByClientID(ctx, b.ClientID)
	must(t, "by client id", err)
	if got.ID != "reg-b" {
		t.Fatalf("by client id: %s", got.ID)
	}
	dup := newAPIReg("acme", "reg-c", "alpha", 3)
	if err := s.CreateAPIRegistration(ctx, dup); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("duplicate name: %v, want ErrAlreadyExists", err)
	}
	dup = newAPIReg("other", "reg-c", "alpha", 3) // the same name in another account is fine
	must(t, "other account", s.CreateAPIRegistration(ctx, dup))
	sameHash := newAPIReg("acme", "reg-d", "delta", 1)
	if err := s.CreateAPIRegistration(ctx, sameHash); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("duplicate key hash: %v, want ErrAlreadyExists", err)
	}
	list, total, err := s.ListAPIRegistrations(ctx, "acme", store.Page{Limit: 1, Offset: 1})
	must(t, "list", err)
	if total != 2 || len(list) != 1 || list[0].ID != "reg-b" {
		t.Fatalf("list: total %d, %+v", total, list)
	}
	// An update ends the registration's sessions in the same transaction.
	sess := model.SurfaceSession{Hash: []byte("h1"), Account: "acme", Kind: model.SessionCookie, RegistrationID: "reg-a",
		RegistrationVersion: 1, PrincipalID: "p1", Level: 1, CreatedAt: base, LastUsedAt: base, ExpiresAt: at(time.Hour)}
	must(t, "session", s.CreateSurfaceSession(ctx, sess))
	up, err := s.UpdateAPIRegistration(ctx, "acme", "reg-a", func(g model.APIRegistration) (model.APIRegistration, error) {
		g.Name, g.KeyHash, g.KeyRotatedAt = "alpha2", []byte{7}, ptr(at(time.Minute))
		return g, nil
	}, ev("acme", "api_registration.update"))
	must(t, "update", err)
	if up.Name != "alpha2" || up.KeyRotatedAt == nil || up.Version != 2 {
		t.Fatalf("update: %+v", up)
	}
	if got, _ := s.GetAPIRegistration(ctx, "acme", "reg-a"); got.Version != 2 {
		t.Fatalf("stored version after update: %d, want 2", got.Version)
	}
	if _, err := s.GetSurfaceSession(ctx, []byte("h1")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("session after update: %v, want ErrNotFound", err)
	}
	// A session made under the old version (a sign-in racing the update)
	// is not stored; under the new one it is.
	if err := s.CreateSurfaceSession(ctx, sess); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("session under a stale registration version: %v, want ErrNotFound", err)
	}
	sess.RegistrationVersion = 2
	must(t, "session under the new version", s.CreateSurfaceSession(ctx, sess))
	if got, err := s.GetSurfaceSession(ctx, sess.Hash); err != nil || got.RegistrationVersion != 2 {
		t.Fatalf("session under the new version: %+v %v", got, err)
	}
	if _, err := s.GetAPIRegistrationByKeyHash(ctx, []byte{1, 1, 2, 3}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("old key hash after rotation: %v", err)
	}
	must(t, "touch", s.TouchAPIRegistration(ctx, "reg-a", at(time.Hour)))
	got, _ = s.GetAPIRegistration(ctx, "acme", "reg-a")
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(at(time.Hour)) {
		t.Fatalf("last used: %v", got.LastUsedAt)
	}
	if _, err := s.UpdateAPIRegistration(ctx, "acme", "nope", func(g model.APIRegistration) (model.APIRegistration, error) { return g, nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update unknown: %v", err)
	}
	must(t, "session 2", s.CreateSurfaceSession(ctx, model.SurfaceSession{Hash: []byte("h2"), Account: "acme", Kind: model.SessionToken,
		RegistrationID: "reg-b", RegistrationVersion: 1, PrincipalID: "p1", Level: 1, CreatedAt: base, LastUsedAt: base, ExpiresAt: at(time.Hour)}))
	must(t, "delete", s.DeleteAPIRegistration(ctx, "acme", "reg-b", ev("acme", "api_registration.delete")))
	if _, err := s.GetSurfaceSession(ctx, []byte("h2")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("session after delete: %v", err)
	}
	if err := s.DeleteAPIRegistration(ctx, "acme", "reg-b"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete again: %v", err)
	}
	if err := s.DeleteAPIRegistration(ctx, "acme", "reg-c"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete another account's: %v", err)
	}
}

// testAPIRegistrationHolders: holders are kept and written by an update;
// adding one keeps the version and the sessions, adds a principal once,
// and records its events (review r23b, A).
func testAPIRegistrationHolders(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAccount(t, s, "acme")
	mustPrincipal(t, s, newUser("acme", "p1", "one"))
	a := newAPIReg("acme", "reg-a", "alpha", 1)
	a.KeyHolders = []string{"author-reg-a"}
	must(t, "create", s.CreateAPIRegistration(ctx, a))
	got, err := s.GetAPIRegistration(ctx, "acme", "reg-a")
	must(t, "get", err)
	wantEqual(t, "holders", got.KeyHolders, []string{"author-reg-a"})
	sess := model.SurfaceSession{Hash: []byte("hh"), Account: "acme", Kind: model.SessionCookie, RegistrationID: "reg-a",
		RegistrationVersion: 1, PrincipalID: "p1", Level: 1, CreatedAt: base, LastUsedAt: base, ExpiresAt: at(time.Hour)}
	must(t, "session", s.CreateSurfaceSession(ctx, sess))
	for range 2 {
		got, err = s.AddAPIRegistrationHolder(ctx, "acme", "reg-a", "reader", ev("acme", "api_registration.key.read"))
		must(t, "add holder", err)
	}
	wantEqual(t, "holders after add", got.KeyHolders, []string{"author-reg-a", "reader"})
	got, _ = s.GetAPIRegistration(ctx, "acme", "reg-a")
	if got.Version != 1 || len(got.KeyHolders) != 2 {
		t.Fatalf("after add: version %d, holders %v", got.Version, got.KeyHolders)
	}
	if _, err := s.GetSurfaceSession(ctx, sess.Hash); err != nil {
		t.Fatalf("adding a holder ended a session: %v", err)
	}
	if _, err := s.AddAPIRegistrationHolder(ctx, "other", "reg-a", "reader"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("add holder in another account: %v, want ErrNotFound", err)
	}
	up, err := s.UpdateAPIRegistration(ctx, "acme", "reg-a", func(g model.APIRegistration) (model.APIRegistration, error) {
		g.KeyHolders = []string{"rotator"}
		return g, nil
	})
	must(t, "update", err)
	got, _ = s.GetAPIRegistration(ctx, "acme", "reg-a")
	wantEqual(t, "holders after update", got.KeyHolders, up.KeyHolders)
	wantEqual(t, "holders after update", got.KeyHolders, []string{"rotator"})
}

func testSurfaceSessions(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAccount(t, s, "acme")
	mustPrincipal(t, s, newUser("acme", "p1", "one"))
	must(t, "registration", s.CreateAPIRegistration(ctx, newAPIReg("acme", "reg-a", "alpha", 1)))
	ss := model.SurfaceSession{Hash: []byte{0, 1, 2}, Account: "acme", Kind: model.SessionPending, RegistrationID: "reg-a",
		RegistrationVersion: 1, PrincipalID: "p1", Level: 2, CreatedAt: base, LastUsedAt: base, ExpiresAt: at(time.Hour)}
	must(t, "create", s.CreateSurfaceSession(ctx, ss))
	got, err := s.GetSurfaceSession(ctx, []byte{0, 1, 2})
	must(t, "get", err)
	wantEqual(t, "session", got, ss)
	if err := s.CreateSurfaceSession(ctx, ss); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("same hash twice: %v", err)
	}
	bad := ss
	bad.Hash, bad.RegistrationID = []byte{9}, "missing"
	if err := s.CreateSurfaceSession(ctx, bad); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("session of a missing registration: %v, want ErrNotFound", err)
	}
	must(t, "touch", s.TouchSurfaceSession(ctx, ss.Hash, at(time.Minute), at(2*time.Hour)))
	got, _ = s.GetSurfaceSession(ctx, ss.Hash)
	if !got.LastUsedAt.Equal(at(time.Minute)) || !got.ExpiresAt.Equal(at(2*time.Hour)) {
		t.Fatalf("touched: %v %v", got.LastUsedAt, got.ExpiresAt)
	}
	early := ss
	early.Hash, early.ExpiresAt = []byte{7}, at(time.Hour)
	must(t, "early", s.CreateSurfaceSession(ctx, early))
	must(t, "purge", s.PurgeSurfaceSessions(ctx, at(time.Hour)))
	if _, err := s.GetSurfaceSession(ctx, early.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an ended session survived the purge: %v", err)
	}
	if _, err := s.GetSurfaceSession(ctx, ss.Hash); err != nil {
		t.Fatalf("a live session was purged: %v", err)
	}
	must(t, "delete", s.DeleteSurfaceSession(ctx, ss.Hash, ev("acme", "psauth.signout")))
	if _, err := s.GetSurfaceSession(ctx, ss.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	must(t, "delete again", s.DeleteSurfaceSession(ctx, ss.Hash))
	// Disabling or deleting a principal ends its surface sessions.
	mustPrincipal(t, s, newUser("acme", "p9", "nine"))
	mine := model.SurfaceSession{Hash: []byte{9, 9}, Account: "acme", Kind: model.SessionPending, RegistrationID: "reg-a",
		RegistrationVersion: 1, PrincipalID: "p9", Level: 2, CreatedAt: base, LastUsedAt: base, ExpiresAt: at(time.Hour)}
	must(t, "session of p9", s.CreateSurfaceSession(ctx, mine))
	_, err = s.UpdatePrincipal(ctx, "acme", "p9", func(p model.Principal) (model.Principal, error) {
		p.Status = model.StatusDisabled
		return p, nil
	})
	must(t, "disable p9", err)
	if _, err := s.GetSurfaceSession(ctx, mine.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("session of a disabled principal: %v, want ErrNotFound", err)
	}
	// A disabled principal gets no session; the disable raised its epoch,
	// so a session whose checks read the old epoch is refused after a
	// re-enable too (review r23b, G).
	if err := s.CreateSurfaceSession(ctx, mine); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("session of a disabled principal stored: %v, want ErrNotFound", err)
	}
	_, err = s.UpdatePrincipal(ctx, "acme", "p9", func(p model.Principal) (model.Principal, error) {
		p.Status = model.StatusActive
		return p, nil
	})
	must(t, "enable p9", err)
	if err := s.CreateSurfaceSession(ctx, mine); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("session made under the epoch before a disable and re-enable: %v, want ErrNotFound", err)
	}
	epoch, err := s.PrincipalSessionEpoch(ctx, "acme", "p9")
	must(t, "epoch of p9", err)
	if epoch != 1 {
		t.Fatalf("epoch after one disable: %d, want 1", epoch)
	}
	if _, err := s.PrincipalSessionEpoch(ctx, "acme", "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("epoch of an unknown principal: %v, want ErrNotFound", err)
	}
	mine.PrincipalEpoch = epoch
	must(t, "session of p9 again", s.CreateSurfaceSession(ctx, mine))
	mine.PrincipalEpoch = 0 // GetSurfaceSession does not return it
	must(t, "delete p9", s.DeletePrincipal(ctx, "acme", "p9"))
	if _, err := s.GetSurfaceSession(ctx, mine.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("session of a deleted principal: %v, want ErrNotFound", err)
	}
}

// testSurfaceSessionRace: a session insert made under the version an
// update is replacing, arriving while that update's transaction is open,
// waits for it and is refused (ErrNotFound), never stored after the
// update ended the registration's sessions (review 23, F4).
func testSurfaceSessionRace(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAccount(t, s, "acme")
	mustPrincipal(t, s, newUser("acme", "p1", "one"))
	must(t, "registration", s.CreateAPIRegistration(ctx, newAPIReg("acme", "reg-a", "alpha", 1)))
	inside, release, created := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	ss := model.SurfaceSession{Hash: []byte{4, 2}, Account: "acme", Kind: model.SessionCookie, RegistrationID: "reg-a",
		RegistrationVersion: 1, PrincipalID: "p1", Level: 1, CreatedAt: base, LastUsedAt: base, ExpiresAt: at(time.Hour)}
	go func() {
		<-inside
		created <- s.CreateSurfaceSession(ctx, ss)
	}()
	_, err := s.UpdateAPIRegistration(ctx, "acme", "reg-a", func(g model.APIRegistration) (model.APIRegistration, error) {
		close(inside)
		select { // let the insert reach the registration's lock (not an assertion: any order must refuse it)
		case <-release:
		case <-time.After(50 * time.Millisecond):
		}
		g.KeyHash = []byte{8}
		return g, nil
	})
	must(t, "update", err)
	if err := <-created; !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("session insert racing an update: %v, want ErrNotFound", err)
	}
	if _, err := s.GetSurfaceSession(ctx, ss.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a session made under the old version survived the update: %v", err)
	}
}

func testPrincipalNumbers(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAccount(t, s, "acme")
	a, err := s.PrincipalNumber(ctx, "acme", "p1")
	must(t, "p1", err)
	b, err := s.PrincipalNumber(ctx, "acme", "p2")
	must(t, "p2", err)
	again, err := s.PrincipalNumber(ctx, "acme", "p1")
	must(t, "p1 again", err)
	if a <= 0 || b <= 0 || a == b || again != a {
		t.Fatalf("numbers: p1 %d, p2 %d, p1 again %d", a, b, again)
	}
}
