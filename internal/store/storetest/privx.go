package storetest

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

// testAuthorsAndRoleFields: principals and roles keep their author and last
// writer; roles their ARN and source rules.
func testAuthorsAndRoleFields(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAccount(t, s, "acme")
	p := newUser("acme", "p1", "alice")
	p.Author, p.UpdatedBy = "admin-id", "admin-id"
	mustPrincipal(t, s, p)
	got, err := s.GetPrincipal(ctx, "acme", "p1")
	if err != nil || got.Author != "admin-id" || got.UpdatedBy != "admin-id" {
		t.Fatalf("principal authors: %+v %v", got, err)
	}
	got, err = s.UpdatePrincipal(ctx, "acme", "p1", func(p model.Principal) (model.Principal, error) {
		p.UpdatedBy = "bob-id"
		return p, nil
	})
	if err != nil || got.UpdatedBy != "bob-id" || got.Author != "admin-id" {
		t.Fatalf("update principal authors: %+v %v", got, err)
	}
	r := newRole("acme", "r1", "ops")
	r.ARN, r.Author, r.UpdatedBy = "arn:aws:iam::123456789012:role/ops", "admin-id", "admin-id"
	r.SourceRules = &model.SourceRules{Match: model.MatchAll, Rules: []model.SourceRule{{Source: "s1", Group: "cn=ops,dc=x"}}}
	if err := s.CreateRole(ctx, r); err != nil {
		t.Fatal(err)
	}
	gr, err := s.GetRole(ctx, "acme", "r1")
	if err != nil || gr.ARN != r.ARN || !reflect.DeepEqual(gr.SourceRules, r.SourceRules) || gr.Author != "admin-id" {
		t.Fatalf("role fields: %+v %v", gr, err)
	}
	gr, err = s.UpdateRole(ctx, "acme", "r1", func(r model.Role) (model.Role, error) {
		r.ARN, r.SourceRules, r.UpdatedBy = "", nil, "bob-id"
		return r, nil
	})
	if err != nil || gr.ARN != "" || gr.SourceRules != nil || gr.UpdatedBy != "bob-id" {
		t.Fatalf("update role fields: %+v %v", gr, err)
	}
	gr, _ = s.GetRole(ctx, "acme", "r1")
	if gr.SourceRules != nil || gr.UpdatedBy != "bob-id" || gr.Author != "admin-id" {
		t.Fatalf("reread role: %+v", gr)
	}
	k := newKey("acme", "p1", "k1")
	k.Author, k.UpdatedBy = "admin-id", "admin-id"
	if err := s.CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateAPIKey(ctx, "k1", func(k model.APIKey) (model.APIKey, error) { k.UpdatedBy = "bob-id"; return k, nil }); err != nil {
		t.Fatal(err)
	}
	gk, err := s.GetAPIKey(ctx, "k1")
	if err != nil || gk.Author != "admin-id" || gk.UpdatedBy != "bob-id" {
		t.Fatalf("key authors: %+v %v", gk, err)
	}
}

func newAuthorizedKey(id, principalID, name, fp string) model.AuthorizedKey {
	return model.AuthorizedKey{
		ID: id, Account: "acme", PrincipalID: principalID, Name: name, Comment: "c " + name,
		PublicKey: "ssh-ed25519 AAAA" + fp, Fingerprint: "SHA256:" + fp, NotBefore: ptr(at(time.Hour)),
		NotAfter: ptr(at(2 * time.Hour)), ExpiresIn: 3600, SourceAddress: []string{"10.0.0.0/8"},
		CreatedAt: at(time.Second), UpdatedAt: at(time.Second), Author: "a", UpdatedBy: "a",
	}
}

// testAuthorizedKeys: create, read, list by name, one public key per user,
// update, delete, and the principal's deletion takes its keys.
func testAuthorizedKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAccount(t, s, "acme")
	mustPrincipal(t, s, newUser("acme", "p1", "alice"))
	mustPrincipal(t, s, newUser("acme", "p2", "bob"))
	k1 := newAuthorizedKey("k1", "p1", "work", "fp1")
	k2 := newAuthorizedKey("k2", "p1", "home", "fp2")
	k2.NotBefore, k2.NotAfter, k2.SourceAddress = nil, nil, nil
	for _, k := range []model.AuthorizedKey{k1, k2, newAuthorizedKey("k3", "p2", "work", "fp1")} {
		if err := s.CreateAuthorizedKey(ctx, k, ev("acme", "authorized_key.create")); err != nil {
			t.Fatalf("create %s: %v", k.ID, err)
		}
	}
	if err := s.CreateAuthorizedKey(ctx, newAuthorizedKey("k4", "p1", "again", "fp1")); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("same key twice for one user: %v", err)
	}
	if err := s.CreateAuthorizedKey(ctx, newAuthorizedKey("k5", "nobody", "x", "fp9")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("key of a missing principal: %v", err)
	}
	got, err := s.GetAuthorizedKey(ctx, "acme", "k1")
	if err != nil || !reflect.DeepEqual(got, k1) {
		t.Fatalf("get k1:\n got %+v\nwant %+v (%v)", got, k1, err)
	}
	if _, err := s.GetAuthorizedKey(ctx, "other", "k1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another account's key: %v", err)
	}
	ks, err := s.ListAuthorizedKeys(ctx, "acme", "p1")
	if err != nil || len(ks) != 2 || ks[0].ID != "k2" || ks[1].ID != "k1" || ks[0].NotBefore != nil {
		t.Fatalf("list p1: %+v %v", ks, err)
	}
	up, err := s.UpdateAuthorizedKey(ctx, "acme", "k1", func(k model.AuthorizedKey) (model.AuthorizedKey, error) {
		k.Name, k.UpdatedBy, k.SourceAddress = "laptop", "b", []string{"192.0.2.1/32"}
		return k, nil
	}, ev("acme", "authorized_key.update"))
	if err != nil || up.Name != "laptop" || up.Author != "a" {
		t.Fatalf("update: %+v %v", up, err)
	}
	if _, err := s.UpdateAuthorizedKey(ctx, "acme", "k1", func(k model.AuthorizedKey) (model.AuthorizedKey, error) {
		k.Fingerprint = "SHA256:fp2"
		return k, nil
	}); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("update to a key the user holds: %v", err)
	}
	if err := s.DeleteAuthorizedKey(ctx, "acme", "k1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAuthorizedKey(ctx, "acme", "k1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	if err := s.DeletePrincipal(ctx, "acme", "p1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAuthorizedKey(ctx, "acme", "k2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("key outlived its principal: %v", err)
	}
	mustVerify(t, s)
}

// testSearchPrincipals: terms AND together over login, email, full name,
// first and last name (exactly those, ignoring case); ids, source and kind
// narrow; an empty id list matches nothing; order, direction and paging;
// the search text follows updates.
func testSearchPrincipals(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAccount(t, s, "acme")
	mustAccount(t, s, "other")
	a := newUser("acme", "p1", "alice")
	a.Attributes = map[string]string{"first_name": "Ålice", "last_name": "Liddell", "dept": "smith-dept"}
	a.CreatedAt = at(3 * time.Second)
	b := newUser("acme", "p2", "Bob")
	b.FullName, b.Source = "Robert Smith", "ldap1"
	c := newUser("other", "p3", "alice2")
	for _, p := range []model.Principal{a, b, c} {
		mustPrincipal(t, s, p)
	}
	ids := func(q store.PrincipalQuery) ([]string, int) {
		ps, total, err := s.SearchPrincipals(ctx, "acme", q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range ps {
			out = append(out, p.ID)
		}
		return out, total
	}
	for _, tc := range []struct {
		q     store.PrincipalQuery
		want  []string
		total int
	}{
		{store.PrincipalQuery{}, []string{"p1", "p2"}, 2},
		{store.PrincipalQuery{Terms: []string{"liddell"}}, []string{"p1"}, 1},
		{store.PrincipalQuery{Terms: []string{"ålice"}}, []string{"p1"}, 1},
		{store.PrincipalQuery{Terms: []string{"smith", "bob"}}, []string{"p2"}, 1},
		{store.PrincipalQuery{Terms: []string{"smith", "alice"}}, nil, 0},
		{store.PrincipalQuery{Terms: []string{"dept"}}, nil, 0},
		{store.PrincipalQuery{Terms: []string{"example.com"}}, []string{"p1", "p2"}, 2},
		{store.PrincipalQuery{Terms: []string{"100%"}}, nil, 0},
		{store.PrincipalQuery{Terms: []string{"_"}}, nil, 0},
		{store.PrincipalQuery{Source: "ldap1"}, []string{"p2"}, 1},
		{store.PrincipalQuery{IDs: []string{"p1", "p3"}}, []string{"p1"}, 1},
		{store.PrincipalQuery{IDs: []string{}}, nil, 0},
		{store.PrincipalQuery{Kind: model.KindHost}, nil, 0},
		{store.PrincipalQuery{Desc: true}, []string{"p2", "p1"}, 2},
		{store.PrincipalQuery{ByCreated: true}, []string{"p2", "p1"}, 2},
		{store.PrincipalQuery{ByCreated: true, Desc: true}, []string{"p1", "p2"}, 2},
		{store.PrincipalQuery{Limit: 1, Offset: 1}, []string{"p2"}, 2},
		{store.PrincipalQuery{Limit: 1, Offset: 5}, nil, 2},
	} {
		if got, total := ids(tc.q); !slices.Equal(got, tc.want) || total != tc.total {
			t.Errorf("%+v: got %v of %d, want %v of %d", tc.q, got, total, tc.want, tc.total)
		}
	}
	if _, err := s.UpdatePrincipal(ctx, "acme", "p2", func(p model.Principal) (model.Principal, error) {
		p.Email = "robert@corp.example"
		p.Customer = "globex"
		return p, nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, _ := ids(store.PrincipalQuery{Terms: []string{"corp.example"}}); !slices.Equal(got, []string{"p2"}) {
		t.Errorf("after an update: %v", got)
	}
	es, err := s.PrincipalSearchEntries(ctx, "acme")
	if err != nil || len(es) != 2 {
		t.Fatalf("search entries: %v %v", es, err)
	}
	slices.SortFunc(es, func(x, y store.SearchEntry) int { return strings.Compare(x.ID, y.ID) })
	want := store.SearchEntry{ID: "p2", Login: "Bob", Source: "ldap1", Kind: model.KindUser, CreatedAt: b.CreatedAt,
		Text: "bob\nrobert@corp.example\nrobert smith\n\n", Customer: "globex"}
	if es[1] != want || es[0].Customer != "cust-alice" || es[0].Text != "alice\nalice@example.com\nf alice\nålice\nliddell" {
		t.Fatalf("search entries:\n got %+v\nwant %+v", es, want)
	}
}

// testRoleMemberCounts: holders by any grant and by an explicit one.
func testRoleMemberCounts(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAccount(t, s, "acme")
	for _, id := range []string{"p1", "p2"} {
		mustPrincipal(t, s, newUser("acme", id, "u"+id))
	}
	for _, id := range []string{"r1", "r2", "r3"} {
		if err := s.CreateRole(ctx, newRole("acme", id, "n"+id)); err != nil {
			t.Fatal(err)
		}
	}
	g := func(p, r, src string) model.Grant {
		return model.Grant{Account: "acme", PrincipalID: p, RoleID: r, Source: src, Type: model.GrantPermanent, CreatedAt: base}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.SetGrants(ctx, "acme", "p1", model.GrantExplicit, []model.Grant{g("p1", "r1", model.GrantExplicit)}))
	must(s.SetGrants(ctx, "acme", "p1", model.GrantMapped, []model.Grant{g("p1", "r1", model.GrantMapped), g("p1", "r2", model.GrantMapped)}))
	must(s.SetGrants(ctx, "acme", "p2", model.GrantExplicit, []model.Grant{g("p2", "r1", model.GrantExplicit)}))
	got, err := s.RoleMemberCounts(ctx, "acme")
	must(err)
	want := map[string]store.MemberCount{"r1": {All: 2, Explicit: 2}, "r2": {All: 1, Explicit: 0}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("counts: got %v, want %v", got, want)
	}
}
