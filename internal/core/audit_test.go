package core

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/model"
)

// TestAuditService: records go through the group commit and are listed
// newest first, only to a holder of audit-view and only of its own account;
// a refusal is itself recorded, and the counts say what was written.
func TestAuditService(t *testing.T) {
	ctx := context.Background()
	st, _ := testStore(t)
	clk := &clock{t: time.Date(2030, 1, 7, 12, 0, 0, 0, time.UTC)}
	for _, acct := range []string{"acme", "beta"} {
		seedAccount(t, st, acct, map[string]model.Kind{}, map[string][]string{})
	}
	rec := runAuditor(t, st, clk.now)
	access := &accessService{st: st, now: clk.now, keys: newKeyring(st), audit: rec}
	svc := &auditService{st: st, audit: rec, access: access}

	for i, name := range []string{"first", "second", "third"} {
		clk.advance(time.Second)
		ev := rec.event(loopback, "acme", name)
		ev.Actor = "acme:user:alice"
		if i == 1 {
			ev = fail(ev, ReasonBadSecret)
		}
		if err := rec.record(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	other := rec.event(loopback, "beta", "first")
	if err := rec.record(ctx, other); err != nil {
		t.Fatal(err)
	}

	viewer := &Access{Session: Session{Account: "acme", PrincipalID: "p1", Login: "alice", Kind: "user"}, Caller: loopback,
		Now: clk.now(), perms: permsOf([]string{PermAuditView})}
	rs, total, err := svc.ListAudit(ctx, viewer, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if total != 3 || len(rs) != 2 || rs[0].Event.Event != "third" || rs[1].Event.Event != "second" || rs[1].Outcome != audit.Failure {
		t.Fatalf("page: total %d, %+v; want 3 records, newest first, the second a failure", total, rs)
	}
	if !rs[0].Time.Equal(clk.now()) {
		t.Errorf("record time %v, want the service's clock %v", rs[0].Time, clk.now())
	}
	if _, _, err := svc.ListAudit(ctx, viewer, -1, 0); AsError(err).Kind != Invalid {
		t.Errorf("negative limit: %v, want Invalid", err)
	}

	nobody := &Access{Session: Session{Account: "acme", PrincipalID: "p2", Login: "bob", Kind: "user"}, Caller: loopback, Now: clk.now()}
	if _, _, err := svc.ListAudit(ctx, nobody, 10, 0); AsError(err).Reason != ReasonMissingPermission {
		t.Fatalf("without audit-view: %v, want missing_permission", err)
	}
	if d := auditEvents(t, st, "acme", "authorize"); len(d) != 1 || d[0].Actor != "acme:user:bob" || d[0].Outcome != audit.Failure {
		t.Fatalf("the refusal's record: %+v", d)
	}
	counts := svc.AuditCounts()
	if counts[[2]string{"first", audit.Success}] != 2 || counts[[2]string{"second", audit.Failure}] != 1 ||
		counts[[2]string{"authorize", audit.Failure}] != 1 {
		t.Errorf("counts %v", counts)
	}
}
