package storetest

import (
	"context"
	"errors"
	"reflect"
	"slices"
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

// testSearchPrincipals: terms AND together over login, email, full name and
// attributes; ids and source narrow; an empty id list matches nothing.
func testSearchPrincipals(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAccount(t, s, "acme")
	mustAccount(t, s, "other")
	a := newUser("acme", "p1", "alice")
	a.Attributes = map[string]string{"first_name": "Alice", "last_name": "Liddell"}
	b := newUser("acme", "p2", "bob")
	b.FullName, b.Source = "Robert Smith", "ldap1"
	c := newUser("other", "p3", "alice2")
	for _, p := range []model.Principal{a, b, c} {
		mustPrincipal(t, s, p)
	}
	ids := func(q store.PrincipalQuery) []string {
		ps, err := s.SearchPrincipals(ctx, "acme", q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range ps {
			out = append(out, p.ID)
		}
		slices.Sort(out)
		return out
	}
	for _, tc := range []struct {
		q    store.PrincipalQuery
		want []string
	}{
		{store.PrincipalQuery{}, []string{"p1", "p2"}},
		{store.PrincipalQuery{Terms: []string{"liddell"}}, []string{"p1"}},
		{store.PrincipalQuery{Terms: []string{"smith", "bob"}}, []string{"p2"}},
		{store.PrincipalQuery{Terms: []string{"smith", "alice"}}, nil},
		{store.PrincipalQuery{Terms: []string{"example.com"}}, []string{"p1", "p2"}},
		{store.PrincipalQuery{Terms: []string{"100%"}}, nil},
		{store.PrincipalQuery{Source: "ldap1"}, []string{"p2"}},
		{store.PrincipalQuery{IDs: []string{"p1", "p3"}}, []string{"p1"}},
		{store.PrincipalQuery{IDs: []string{}}, nil},
		{store.PrincipalQuery{Kind: model.KindHost}, nil},
	} {
		if got := ids(tc.q); !slices.Equal(got, tc.want) {
			t.Errorf("%+v: got %v, want %v", tc.q, got, tc.want)
		}
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
