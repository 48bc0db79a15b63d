package core

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

// loadHookStore runs during a PrincipalSearchEntries, after the store was
// read: a change that lands while an index loads.
type loadHookStore struct {
	store.Store
	during func()
}

func (s *loadHookStore) PrincipalSearchEntries(ctx context.Context, account string) ([]store.SearchEntry, error) {
	es, err := s.Store.PrincipalSearchEntries(ctx, account)
	if s.during != nil {
		s.during()
		s.during = nil
	}
	return es, err
}

func searchLogins(t *testing.T, x *searchIndex, st store.Store, now time.Time) []string {
	t.Helper()
	es, err := x.scan(context.Background(), st, "acme", now, func(e *store.SearchEntry) bool { return e.Kind == model.KindUser })
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Login)
	}
	return out
}

// TestSearchIndexChangeDuringLoad: a principal written (and announced)
// while the index was being read from the store is found by the next
// search, not a minute later; a change notification's put and drop apply
// to a loaded index at once; forgetAll makes the next search read again.
func TestSearchIndexChangeDuringLoad(t *testing.T) {
	base, _ := testStore(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	if err := base.CreateAccount(ctx, model.Account{Name: "acme", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	mk := func(id, login string) model.Principal {
		p := model.Principal{ID: id, Account: "acme", Login: login, Kind: model.KindUser, Status: "active", CreatedAt: now, UpdatedAt: now}
		if err := base.CreatePrincipal(ctx, p, nil); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mk("u1", "alice")
	x := newSearchIndex()
	st := &loadHookStore{Store: base}
	st.during = func() { x.put(mk("u2", "bob")) } // the account is not loaded yet: put is a no-op
	if got := searchLogins(t, x, st, now); len(got) != 1 || got[0] != "alice" {
		t.Fatalf("first search: %v, want the snapshot [alice]", got)
	}
	if got := searchLogins(t, x, st, now.Add(time.Second)); len(got) != 2 {
		t.Fatalf("search after a change during the load: %v, want alice and bob", got)
	}
	// Loaded now: put and drop apply without a reload.
	carol := mk("u3", "carol")
	x.put(carol)
	x.drop("acme", "u1")
	if got := searchLogins(t, x, st, now.Add(2*time.Second)); len(got) != 2 || got[0] == "alice" || got[1] == "alice" {
		t.Fatalf("after put carol and drop alice: %v", got)
	}
	x.forgetAll()
	if got := searchLogins(t, x, st, now.Add(3*time.Second)); len(got) != 3 {
		t.Fatalf("after forgetAll the store's three: %v", got)
	}
}

// TestSearchUsersCustomerScope: a session constrained to customers lists
// (users/search, roles/{id}/members) only the users it may act on, those
// of its customers and itself, so the count and the items agree with what
// GetUserDetail lets it read; an unconstrained session lists every user.
func TestSearchUsersCustomerScope(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
	c, admin, _ := testCore(t, clk.now)
	full := acc(c, admin)
	ids := map[string]string{}
	for login, customer := range map[string]string{"alice": "acme-eu", "bob": "acme-us", "carol": ""} {
		p, _, err := c.CreatePrincipal(ctx, full, PrincipalSpec{Login: login, Kind: "user", Customer: customer})
		if err != nil {
			t.Fatal(err)
		}
		ids[login] = p.ID
	}
	role, err := c.CreateRole(ctx, full, RoleSpec{Name: "viewers", Permissions: []string{PermUsersView}})
	if err != nil {
		t.Fatal(err)
	}
	for _, login := range []string{"alice", "bob", "carol"} {
		if _, err := c.SetGrants(ctx, full, ids[login], []GrantSpec{{RoleID: role.ID, Type: model.GrantPermanent}}); err != nil {
			t.Fatal(err)
		}
	}
	logins := func(ps []model.Principal) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Login)
		}
		return out
	}
	ps, total, err := c.SearchUsers(ctx, full, UserQuery{}, UserPage{})
	if err != nil || total != 4 {
		t.Fatalf("unconstrained search: %v of %d, %v", logins(ps), total, err)
	}
	scoped := admin
	scoped.Customers = []string{"acme-eu"}
	sa := acc(c, scoped)
	ps, total, err = c.SearchUsers(ctx, sa, UserQuery{}, UserPage{})
	if got := logins(ps); err != nil || total != 2 || len(got) != 2 || got[0] != "admin" || got[1] != "alice" {
		t.Fatalf("search constrained to acme-eu: %v of %d, %v; want admin (itself) and alice", got, total, err)
	}
	ps, total, err = c.RoleMembers(ctx, sa, role.ID, UserPage{})
	if got := logins(ps); err != nil || total != 1 || len(got) != 1 || got[0] != "alice" {
		t.Fatalf("members constrained to acme-eu: %v of %d, %v; want alice", got, total, err)
	}
	if _, err := c.GetUserDetail(ctx, sa, ids["alice"]); err != nil {
		t.Fatalf("alice's detail to the constrained session: %v", err)
	}
	if _, err := c.GetUserDetail(ctx, sa, ids["bob"]); AsError(err).Kind != Forbidden {
		t.Fatalf("bob's detail to the constrained session: %v, want forbidden", err)
	}
}
