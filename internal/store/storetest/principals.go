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

func testAccounts(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, "create", s.CreateAccount(ctx, model.Account{Name: "beta", CreatedAt: base}, ev("beta", "account-create")))
	must(t, "create", s.CreateAccount(ctx, model.Account{Name: "alpha", CreatedAt: at(1)}))
	wantErr(t, "create again", s.CreateAccount(ctx, model.Account{Name: "beta", CreatedAt: base}, ev("beta", "dup")), store.ErrAlreadyExists)
	if n := auditCount(t, s); n != 1 {
		t.Fatalf("audit records = %d, want 1 (the failed create writes none)", n)
	}
	a, err := s.GetAccount(ctx, "beta")
	must(t, "get", err)
	wantEqual(t, "account", a, model.Account{Name: "beta", CreatedAt: base})
	_, err = s.GetAccount(ctx, "gamma")
	wantErr(t, "get missing", err, store.ErrNotFound)
	as, err := s.ListAccounts(ctx)
	must(t, "list", err)
	if len(as) != 2 || as[0].Name != "alpha" || as[1].Name != "beta" {
		t.Fatalf("list = %+v, want alpha, beta", as)
	}
	// A principal needs its account.
	wantErr(t, "principal of missing account", s.CreatePrincipal(ctx, newUser("nope", "p1", "alice"), nil), store.ErrNotFound)
}

func testPrincipals(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAccount(t, s, "acme")
	p := newUser("acme", "p1", "alice")
	key := newKey("acme", "p1", "k1")
	must(t, "create", s.CreatePrincipal(ctx, p, &key, ev("acme", "user-create")))
	if got := lastEvent(t, s); got != "user-create" {
		t.Fatalf("last audit event = %q, want user-create", got)
	}
	got, err := s.GetPrincipal(ctx, "acme", "p1")
	must(t, "get", err)
	wantEqual(t, "principal", got, p)
	gotKey, err := s.GetAPIKey(ctx, "k1")
	must(t, "get first key", err)
	wantEqual(t, "first key", gotKey, key)

	got, err = s.GetPrincipalByLogin(ctx, "acme", model.KindUser, "alice")
	must(t, "get by login", err)
	wantEqual(t, "by login", got, p)
	_, err = s.GetPrincipalByLogin(ctx, "acme", model.KindHost, "alice")
	wantErr(t, "get by login, other kind", err, store.ErrNotFound)
	_, err = s.GetPrincipal(ctx, "other", "p1")
	wantErr(t, "get from other account", err, store.ErrNotFound)
	_, err = s.GetPrincipal(ctx, "acme", "p404")
	wantErr(t, "get missing", err, store.ErrNotFound)
	// GetPrincipals: the existing ones among the named, any account,
	// across chunks, each once.
	mustAccount(t, s, "other")
	q := newUser("other", "q1", "quinn")
	must(t, "create in other", s.CreatePrincipal(ctx, q, nil))
	many := []string{"p404", "p1"}
	for i := range 1200 {
		many = append(many, fmt.Sprintf("nop%d", i))
	}
	many = append(many, "q1", "p1")
	byID, err := s.GetPrincipals(ctx, many)
	must(t, "get many", err)
	slices.SortFunc(byID, func(a, b model.Principal) int { return strings.Compare(a.ID, b.ID) })
	if len(byID) != 2 {
		t.Fatalf("GetPrincipals of p404, p1, 1,200 missing, q1, p1 = %d principals, want p1 and q1", len(byID))
	}
	wantEqual(t, "GetPrincipals p1", byID[0], p)
	wantEqual(t, "GetPrincipals q1 (other account)", byID[1], q)
	if none, err := s.GetPrincipals(ctx, nil); err != nil || len(none) != 0 {
		t.Fatalf("GetPrincipals(nil) = %v, %v; want none", none, err)
	}

	n := auditCount(t, s)
	up, err := s.UpdatePrincipal(ctx, "acme", "p1", func(old model.Principal) (model.Principal, error) {
		old.Email = "new@example.com"
		old.UpdatedAt = at(time.Hour)
		return old, nil
	}, ev("acme", "user-update"))
	must(t, "update", err)
	want := p
	want.Email, want.UpdatedAt = "new@example.com", at(time.Hour)
	wantEqual(t, "update result", up, want)
	got, err = s.GetPrincipal(ctx, "acme", "p1")
	must(t, "get after update", err)
	wantEqual(t, "after update (other fields kept)", got, want)
	if auditCount(t, s) != n+1 || lastEvent(t, s) != "user-update" {
		t.Fatalf("update did not write its audit record")
	}

	boom := errors.New("boom")
	_, err = s.UpdatePrincipal(ctx, "acme", "p1", func(old model.Principal) (model.Principal, error) {
		return old, boom
	}, ev("acme", "user-update-failed"))
	wantErr(t, "updater error", err, boom)
	_, err = s.UpdatePrincipal(ctx, "acme", "p1", func(old model.Principal) (model.Principal, error) {
		old.ID = "p2"
		return old, nil
	}, ev("acme", "user-update-failed"))
	if err == nil {
		t.Fatal("an updater changing the id succeeded")
	}
	_, err = s.UpdatePrincipal(ctx, "acme", "p404", func(old model.Principal) (model.Principal, error) {
		return old, nil
	}, ev("acme", "user-update-failed"))
	wantErr(t, "update missing", err, store.ErrNotFound)
	if auditCount(t, s) != n+1 {
		t.Fatal("failed updates wrote audit records")
	}

	wantErr(t, "delete missing", s.DeletePrincipal(ctx, "acme", "p404", ev("acme", "user-delete-failed")), store.ErrNotFound)
	must(t, "delete", s.DeletePrincipal(ctx, "acme", "p1", ev("acme", "user-delete")))
	_, err = s.GetPrincipal(ctx, "acme", "p1")
	wantErr(t, "get deleted", err, store.ErrNotFound)
	if auditCount(t, s) != n+2 || lastEvent(t, s) != "user-delete" {
		t.Fatal("delete did not write exactly its audit record")
	}
	mustVerify(t, s)
}

func testPrincipalLoginUnique(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAccount(t, s, "acme")
	mustAccount(t, s, "other")
	must(t, "create", s.CreatePrincipal(ctx, newUser("acme", "p1", "alice"), nil, ev("acme", "user-create")))
	n := auditCount(t, s)
	err := s.CreatePrincipal(ctx, newUser("acme", "p2", "alice"), nil, ev("acme", "user-create-dup"))
	wantErr(t, "duplicate login", err, store.ErrAlreadyExists)
	err = s.CreatePrincipal(ctx, newUser("acme", "p1", "bob"), nil, ev("acme", "user-create-dup"))
	wantErr(t, "duplicate id", err, store.ErrAlreadyExists)
	if got := auditCount(t, s); got != n {
		t.Fatalf("audit records = %d after failed creates, want %d", got, n)
	}
	// A duplicate first key fails the whole create.
	mustPrincipal(t, s, newUser("acme", "p9", "zed"))
	must(t, "key", s.CreateAPIKey(ctx, newKey("acme", "p9", "kdup")))
	k := newKey("acme", "", "kdup")
	wantErr(t, "create with duplicate key", s.CreatePrincipal(ctx, newUser("acme", "p3", "carol"), &k), store.ErrAlreadyExists)
	_, err = s.GetPrincipal(ctx, "acme", "p3")
	wantErr(t, "principal of failed create", err, store.ErrNotFound)

	// Same login: another kind, another account.
	h := newUser("acme", "h1", "alice")
	h.Kind = model.KindHost
	must(t, "host alice", s.CreatePrincipal(ctx, h, nil))
	must(t, "alice elsewhere", s.CreatePrincipal(ctx, newUser("other", "o1", "alice"), nil))
	// Renaming onto a taken login fails.
	mustPrincipal(t, s, newUser("acme", "p4", "dave"))
	_, err = s.UpdatePrincipal(ctx, "acme", "p4", func(p model.Principal) (model.Principal, error) {
		p.Login = "alice"
		return p, nil
	}, ev("acme", "rename"))
	wantErr(t, "rename onto alice", err, store.ErrAlreadyExists)
	// A deleted principal's login can be used again.
	must(t, "delete", s.DeletePrincipal(ctx, "acme", "p1"))
	must(t, "recreate alice", s.CreatePrincipal(ctx, newUser("acme", "p5", "alice"), nil))
	got, err := s.GetPrincipalByLogin(ctx, "acme", model.KindUser, "alice")
	must(t, "get recreated", err)
	if got.ID != "p5" {
		t.Fatalf("alice is %s, want p5", got.ID)
	}
}

func testPrincipalList(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAccount(t, s, "acme")
	mustAccount(t, s, "other")
	for i, login := range []string{"Carol", "alice", "bob", "ALBERT", "mal_x", "malyx"} {
		mustPrincipal(t, s, newUser("acme", "p"+name(i), login))
	}
	mustPrincipal(t, s, newUser("other", "o1", "alicia"))
	logins := func(ps []model.Principal) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Login)
		}
		return out
	}
	ps, total, err := s.ListPrincipals(ctx, "acme", store.Page{})
	must(t, "list", err)
	if total != 6 || len(ps) != 6 {
		t.Fatalf("list all = %d of %d, want 6 of 6", len(ps), total)
	}
	ps, total, err = s.ListPrincipals(ctx, "acme", store.Page{Search: "AL"})
	must(t, "search", err)
	wantEqual(t, "search AL (case-insensitive, by login)", logins(ps), []string{"ALBERT", "alice", "mal_x", "malyx"})
	if total != 4 {
		t.Fatalf("total = %d, want 4", total)
	}
	ps, total, err = s.ListPrincipals(ctx, "acme", store.Page{Search: "al", Limit: 2, Offset: 1})
	must(t, "page", err)
	wantEqual(t, "page 2 of size 2", logins(ps), []string{"alice", "mal_x"})
	if total != 4 {
		t.Fatalf("paged total = %d, want 4", total)
	}
	ps, _, err = s.ListPrincipals(ctx, "acme", store.Page{Search: "l_"})
	must(t, "wildcard", err)
	wantEqual(t, "search l_ is literal", logins(ps), []string{"mal_x"})
	ps, total, err = s.ListPrincipals(ctx, "acme", store.Page{Search: "zzz"})
	must(t, "no match", err)
	if len(ps) != 0 || total != 0 {
		t.Fatalf("no match = %d of %d", len(ps), total)
	}
	// A customer-limited listing: principals of those customers (never one
	// without a customer, even if "" is asked for) and Self; another
	// account's principal of the same customer is not seen.
	none := newUser("acme", "pnone", "nocustomer")
	none.Customer = ""
	mustPrincipal(t, s, none)
	mustPrincipal(t, s, newUser("other", "o2", "alice"))
	limited := store.Page{Customers: []string{"", "cust-alice", "cust-bob", "cust-nobody"}, Self: "p" + name(0)}
	ps, total, err = s.ListPrincipals(ctx, "acme", limited)
	must(t, "customers", err)
	wantEqual(t, "customers cust-alice, cust-bob and self Carol", logins(ps), []string{"Carol", "alice", "bob"})
	if total != 3 {
		t.Fatalf("customer total = %d, want 3", total)
	}
	limited.Search, limited.Limit, limited.Offset = "A", 1, 1
	ps, total, err = s.ListPrincipals(ctx, "acme", limited)
	must(t, "customers page", err)
	wantEqual(t, "customers, search a, page 2 of size 1", logins(ps), []string{"alice"})
	if total != 2 {
		t.Fatalf("customer search total = %d, want 2 (Carol and alice; ALBERT, mal_x and malyx are of no listed customer)", total)
	}
	ps, _, err = s.ListPrincipals(ctx, "acme", store.Page{Customers: []string{"cust-nobody"}})
	must(t, "no customer match", err)
	if len(ps) != 0 {
		t.Fatalf("customer cust-nobody listed %v", logins(ps))
	}
}

func testPrincipalDeleteCascades(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAccount(t, s, "acme")
	mustPrincipal(t, s, newUser("acme", "p1", "alice"))
	mustPrincipal(t, s, newUser("acme", "p2", "bob"))
	must(t, "role", s.CreateRole(ctx, newRole("acme", "r1", "ops")))
	for _, k := range []model.APIKey{newKey("acme", "p1", "k1"), newKey("acme", "p1", "k2"), newKey("acme", "p2", "k3")} {
		must(t, "key", s.CreateAPIKey(ctx, k))
	}
	g := model.Grant{RoleID: "r1", Type: model.GrantPermanent, CreatedAt: base}
	must(t, "grant p1", s.SetGrants(ctx, "acme", "p1", model.GrantExplicit, []model.Grant{g}))
	must(t, "grant p2", s.SetGrants(ctx, "acme", "p2", model.GrantExplicit, []model.Grant{g}))
	must(t, "delete", s.DeletePrincipal(ctx, "acme", "p1", ev("acme", "user-delete")))
	for _, id := range []string{"k1", "k2"} {
		_, err := s.GetAPIKey(ctx, id)
		wantErr(t, "key of deleted principal "+id, err, store.ErrNotFound)
	}
	if _, err := s.GetAPIKey(ctx, "k3"); err != nil {
		t.Fatalf("other principal's key: %v", err)
	}
	gs, err := s.ListGrants(ctx, "acme", "p1")
	must(t, "grants", err)
	if len(gs) != 0 {
		t.Fatalf("deleted principal keeps %d grants", len(gs))
	}
	gs, err = s.ListGrants(ctx, "acme", "p2")
	must(t, "grants", err)
	if len(gs) != 1 {
		t.Fatalf("other principal has %d grants, want 1", len(gs))
	}
}
