package core

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/model"
)

// TestAccessService: an accessService built over a store alone computes
// effective permissions from grants valid now (narrowed by a key's scope),
// audits a missing permission, and refuses to act on a principal whose
// grant starts only later but would give more than the caller holds.
func TestAccessService(t *testing.T) {
	ctx := context.Background()
	st, _ := testStore(t)
	clk := &clock{t: time.Date(2030, 1, 7, 12, 0, 0, 0, time.UTC)}
	pids, rids := seedAccount(t, st, "acme",
		map[string]model.Kind{"alice": model.KindUser, "bob": model.KindUser},
		map[string][]string{"viewer": {PermUsersView, PermUsersManage}, "auditor": {PermAuditView}})
	later := []model.Period{{Start: clk.now().Add(time.Hour), End: clk.now().Add(2 * time.Hour)}}
	for _, g := range []model.Grant{
		{Account: "acme", PrincipalID: pids["alice"], RoleID: rids["viewer"], Source: model.GrantExplicit, Type: model.GrantPermanent},
		{Account: "acme", PrincipalID: pids["bob"], RoleID: rids["auditor"], Source: model.GrantExplicit, Type: model.GrantTimeRestricted, Periods: later},
	} {
		if err := st.SetGrants(ctx, "acme", g.PrincipalID, model.GrantExplicit, []model.Grant{g}); err != nil {
			t.Fatal(err)
		}
	}
	svc := &accessService{st: st, now: clk.now, keys: newKeyring(st), audit: runAuditor(t, st, clk.now)}

	alice := Session{Account: "acme", PrincipalID: pids["alice"], Login: "alice", Kind: "user", Level: LevelKey}
	a, err := svc.Access(ctx, loopback, alice)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Permissions(); len(got) != 2 || !a.Has(PermUsersView) || !a.Has(PermUsersManage) {
		t.Fatalf("alice's permissions %v, want users-manage and users-view", got)
	}
	if err := svc.Require(ctx, a, PermAuditView); AsError(err).Kind != Forbidden || AsError(err).Reason != ReasonMissingPermission {
		t.Fatalf("Require audit-view: %v, want Forbidden missing_permission", err)
	}
	denials := auditEvents(t, st, "acme", "authorize")
	if len(denials) != 1 || denials[0].Outcome != audit.Failure || denials[0].Detail != PermAuditView || denials[0].Actor != "acme:user:alice" {
		t.Fatalf("denial records %+v, want one failure naming audit-view", denials)
	}

	// A key scoped to another role narrows alice to nothing.
	scoped := alice
	scoped.Scope = []string{rids["auditor"]}
	if sa, err := svc.Access(ctx, loopback, scoped); err != nil || len(sa.Permissions()) != 0 {
		t.Fatalf("scoped access %v %v, want no permissions", sa.Permissions(), err)
	}

	// bob holds nothing now, but his grant starting in an hour gives
	// audit-view, which alice lacks: she may not act on him.
	bob, err := svc.principalIn(ctx, a, pids["bob"])
	if err != nil {
		t.Fatal(err)
	}
	if ba, _ := svc.Access(ctx, loopback, Session{Account: "acme", PrincipalID: bob.ID, Login: "bob", Kind: "user"}); len(ba.Permissions()) != 0 {
		t.Fatalf("bob's permissions now %v, want none", ba.Permissions())
	}
	if err := svc.outranks(ctx, a, bob); AsError(err).Reason != ReasonEscalation {
		t.Fatalf("alice outranks bob: %v, want privilege_escalation", err)
	}
	if _, err := svc.principalIn(ctx, &Access{Session: Session{Account: "other"}}, pids["bob"]); AsError(err).Kind != NotFound {
		t.Fatalf("bob from another account: %v, want NotFound", err)
	}
}
