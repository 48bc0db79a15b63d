package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

func testRoles(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAccount(t, s, "acme")
	mustAccount(t, s, "other")
	r := newRole("acme", "r1", "ops")
	must(t, "create", s.CreateRole(ctx, r, ev("acme", "role-create")))
	n := auditCount(t, s)
	wantErr(t, "duplicate name", s.CreateRole(ctx, newRole("acme", "r2", "ops"), ev("acme", "dup")), store.ErrAlreadyExists)
	wantErr(t, "duplicate id", s.CreateRole(ctx, newRole("acme", "r1", "dev"), ev("acme", "dup")), store.ErrAlreadyExists)
	if auditCount(t, s) != n {
		t.Fatal("failed role creates wrote audit records")
	}
	must(t, "same name elsewhere", s.CreateRole(ctx, newRole("other", "o1", "ops")))
	plain := newRole("acme", "r3", "plain")
	plain.Context, plain.Permissions, plain.BuiltIn = nil, nil, true
	must(t, "create plain", s.CreateRole(ctx, plain))

	got, err := s.GetRole(ctx, "acme", "r1")
	must(t, "get", err)
	wantEqual(t, "role", got, r)
	got, err = s.GetRole(ctx, "acme", "r3")
	must(t, "get plain", err)
	wantEqual(t, "plain role", got, plain)
	got, err = s.GetRoleByName(ctx, "acme", "ops")
	must(t, "by name", err)
	wantEqual(t, "by name", got, r)
	_, err = s.GetRoleByName(ctx, "acme", "nope")
	wantErr(t, "missing name", err, store.ErrNotFound)
	_, err = s.GetRole(ctx, "other", "r1")
	wantErr(t, "other account", err, store.ErrNotFound)

	up, err := s.UpdateRole(ctx, "acme", "r1", func(old model.Role) (model.Role, error) {
		old.Description = "changed"
		old.UpdatedAt = at(time.Hour)
		return old, nil
	}, ev("acme", "role-update"))
	must(t, "update", err)
	want := r
	want.Description, want.UpdatedAt = "changed", at(time.Hour)
	wantEqual(t, "update result", up, want)
	got, _ = s.GetRole(ctx, "acme", "r1")
	wantEqual(t, "after update", got, want)
	if lastEvent(t, s) != "role-update" {
		t.Fatal("update wrote no audit record")
	}
	_, err = s.UpdateRole(ctx, "acme", "r1", func(old model.Role) (model.Role, error) {
		old.Name = "plain"
		return old, nil
	}, ev("acme", "rename"))
	wantErr(t, "rename onto taken name", err, store.ErrAlreadyExists)
	_, err = s.UpdateRole(ctx, "acme", "r404", func(old model.Role) (model.Role, error) { return old, nil })
	wantErr(t, "update missing", err, store.ErrNotFound)

	mustPrincipal(t, s, newUser("acme", "p1", "alice"))
	gs := []model.Grant{
		{RoleID: "r1", Type: model.GrantPermanent, CreatedAt: base},
		{RoleID: "r3", Type: model.GrantPermanent, CreatedAt: base},
	}
	must(t, "grants", s.SetGrants(ctx, "acme", "p1", model.GrantExplicit, gs))
	wantErr(t, "delete missing", s.DeleteRole(ctx, "acme", "r404"), store.ErrNotFound)
	must(t, "delete", s.DeleteRole(ctx, "acme", "r1", ev("acme", "role-delete")))
	_, err = s.GetRole(ctx, "acme", "r1")
	wantErr(t, "get deleted", err, store.ErrNotFound)
	left, err := s.ListGrants(ctx, "acme", "p1")
	must(t, "list grants", err)
	if len(left) != 1 || left[0].RoleID != "r3" {
		t.Fatalf("grants after deleting r1 = %+v, want only r3", left)
	}
	// The name is free again.
	must(t, "recreate ops", s.CreateRole(ctx, newRole("acme", "r9", "ops")))
	mustVerify(t, s)
}

func testRoleList(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAccount(t, s, "acme")
	for i, n := range []string{"Viewer", "admin", "Auditor", "keys_admin", "ops"} {
		must(t, "role", s.CreateRole(ctx, newRole("acme", "r"+name(i), n)))
	}
	names := func(rs []model.Role) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Name)
		}
		return out
	}
	rs, total, err := s.ListRoles(ctx, "acme", store.Page{Search: "AD"})
	must(t, "search", err)
	wantEqual(t, "search AD", names(rs), []string{"admin", "keys_admin"})
	if total != 2 {
		t.Fatalf("total = %d, want 2", total)
	}
	rs, total, err = s.ListRoles(ctx, "acme", store.Page{Limit: 2, Offset: 2})
	must(t, "page", err)
	if total != 5 || len(rs) != 2 {
		t.Fatalf("page = %d of %d, want 2 of 5", len(rs), total)
	}
	all, _, err := s.ListRoles(ctx, "acme", store.Page{})
	must(t, "all", err)
	if len(all) != 5 || all[2].Name != rs[0].Name {
		t.Fatalf("pages disagree: %v vs %v", names(all), names(rs))
	}
	rs, _, err = s.ListRoles(ctx, "acme", store.Page{Search: "s_a"})
	must(t, "literal underscore", err)
	wantEqual(t, "search s_a", names(rs), []string{"keys_admin"})
}

func testGrants(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAccount(t, s, "acme")
	mustPrincipal(t, s, newUser("acme", "p1", "alice"))
	for i, n := range []string{"a", "b", "c"} {
		must(t, "role", s.CreateRole(ctx, newRole("acme", "r"+n, "role"+name(i))))
	}
	explicit := []model.Grant{
		{RoleID: "ra", Type: model.GrantPermanent, CreatedAt: base},
		{RoleID: "rb", Type: model.GrantTimeRestricted, CreatedAt: base,
			Periods: []model.Period{{Start: at(time.Hour), End: at(2 * time.Hour)}}},
	}
	must(t, "set explicit", s.SetGrants(ctx, "acme", "p1", model.GrantExplicit, explicit, ev("acme", "grants-set")))
	if lastEvent(t, s) != "grants-set" {
		t.Fatal("SetGrants wrote no audit record")
	}
	mapped := []model.Grant{{RoleID: "rc", Type: model.GrantFloating, FloatingLength: 8, CreatedAt: base}}
	must(t, "set mapped", s.SetGrants(ctx, "acme", "p1", model.GrantMapped, mapped))
	gs, err := s.ListGrants(ctx, "acme", "p1")
	must(t, "list", err)
	want := []model.Grant{
		{Account: "acme", PrincipalID: "p1", RoleID: "ra", Source: model.GrantExplicit, Type: model.GrantPermanent, CreatedAt: base},
		{Account: "acme", PrincipalID: "p1", RoleID: "rb", Source: model.GrantExplicit, Type: model.GrantTimeRestricted, CreatedAt: base,
			Periods: []model.Period{{Start: at(time.Hour), End: at(2 * time.Hour)}}},
		{Account: "acme", PrincipalID: "p1", RoleID: "rc", Source: model.GrantMapped, Type: model.GrantFloating, FloatingLength: 8, CreatedAt: base},
	}
	wantEqual(t, "grants", gs, want)

	// RoleHolders names each holder once, by any grant, in this account only.
	holders, err := s.RoleHolders(ctx, "acme", "rc")
	must(t, "holders", err)
	wantEqual(t, "holders of rc", holders, []string{"p1"})
	holders, err = s.RoleHolders(ctx, "other", "rc")
	must(t, "holders in another account", err)
	if len(holders) != 0 {
		t.Fatalf("holders of rc in another account = %v, want none", holders)
	}

	// ActivateGrant sets the time once, and appends its events.
	must(t, "activate", s.ActivateGrant(ctx, "acme", "p1", "rc", at(time.Minute), ev("acme", "grant-activated")))
	if lastEvent(t, s) != "grant-activated" {
		t.Fatal("ActivateGrant wrote no audit record")
	}
	must(t, "activate again", s.ActivateGrant(ctx, "acme", "p1", "rc", at(time.Hour)))
	wantErr(t, "activate missing", s.ActivateGrant(ctx, "acme", "p1", "rzz", at(time.Minute)), store.ErrNotFound)
	gs, _ = s.ListGrants(ctx, "acme", "p1")
	if gs[2].ActivatedAt == nil || !gs[2].ActivatedAt.Equal(at(time.Minute)) {
		t.Fatalf("activated_at = %v, want the first activation %v", gs[2].ActivatedAt, at(time.Minute))
	}

	// Replacing explicit grants leaves mapped ones alone.
	must(t, "replace explicit", s.SetGrants(ctx, "acme", "p1", model.GrantExplicit,
		[]model.Grant{{RoleID: "rb", Type: model.GrantPermanent, CreatedAt: base}}))
	gs, _ = s.ListGrants(ctx, "acme", "p1")
	if len(gs) != 2 || gs[0].RoleID != "rb" || gs[0].Type != model.GrantPermanent || gs[1].RoleID != "rc" {
		t.Fatalf("after replace = %+v", gs)
	}
	// Re-syncing mapped grants keeps the floating grant's activation.
	must(t, "resync mapped", s.SetGrants(ctx, "acme", "p1", model.GrantMapped, mapped))
	gs, _ = s.ListGrants(ctx, "acme", "p1")
	if gs[1].ActivatedAt == nil || !gs[1].ActivatedAt.Equal(at(time.Minute)) {
		t.Fatalf("resync lost the activation: %+v", gs[1])
	}
	// An empty set removes them.
	must(t, "clear mapped", s.SetGrants(ctx, "acme", "p1", model.GrantMapped, nil))
	gs, _ = s.ListGrants(ctx, "acme", "p1")
	if len(gs) != 1 {
		t.Fatalf("after clearing mapped: %d grants, want 1", len(gs))
	}
	// Missing role or principal: not found, nothing changed, no audit.
	n := auditCount(t, s)
	err = s.SetGrants(ctx, "acme", "p1", model.GrantExplicit,
		[]model.Grant{{RoleID: "nope", Type: model.GrantPermanent, CreatedAt: base}}, ev("acme", "bad"))
	wantErr(t, "grant of missing role", err, store.ErrNotFound)
	err = s.SetGrants(ctx, "acme", "p404", model.GrantExplicit, nil, ev("acme", "bad"))
	wantErr(t, "grants of missing principal", err, store.ErrNotFound)
	if auditCount(t, s) != n {
		t.Fatal("failed SetGrants wrote audit records")
	}
	gs, _ = s.ListGrants(ctx, "acme", "p1")
	if len(gs) != 1 || gs[0].RoleID != "rb" {
		t.Fatalf("failed SetGrants changed grants: %+v", gs)
	}
}
