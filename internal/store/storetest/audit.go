package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/store"
)

func testAuditWithChanges(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAccount(t, s, "acme")
	// Several events with one change land together, in order.
	must(t, "create", s.CreatePrincipal(ctx, newUser("acme", "p1", "alice"), nil,
		ev("acme", "user-create"), ev("acme", "key-create")))
	recs, total, err := s.ListAudit(ctx, "", 10, 0)
	must(t, "list", err)
	if total != 2 || recs[0].Event.Event != "key-create" || recs[1].Event.Event != "user-create" {
		t.Fatalf("records = %+v (total %d)", recs, total)
	}
	// A failing change leaves no record, even with several events.
	err = s.CreatePrincipal(ctx, newUser("acme", "p2", "alice"), nil, ev("acme", "a"), ev("acme", "b"))
	wantErr(t, "duplicate", err, store.ErrAlreadyExists)
	if auditCount(t, s) != 2 {
		t.Fatal("a failed change wrote audit records")
	}
	// A write with no events writes no record.
	must(t, "create quietly", s.CreatePrincipal(ctx, newUser("acme", "p3", "bob"), nil))
	if auditCount(t, s) != 2 {
		t.Fatal("a write without events wrote a record")
	}
	mustVerify(t, s)
}

func testAuditAppendList(t *testing.T, s store.Store) {
	ctx := context.Background()
	seq, why, err := s.VerifyAudit(ctx)
	if err != nil || seq != 0 || why != "" {
		t.Fatalf("empty chain: %d %q %v", seq, why, err)
	}
	recs, total, err := s.ListAudit(ctx, "", 10, 0)
	must(t, "list empty", err)
	if len(recs) != 0 || total != 0 {
		t.Fatalf("empty list = %d of %d", len(recs), total)
	}
	must(t, "append nothing", s.AppendAudit(ctx))
	// A batch larger than one INSERT.
	var evs []audit.Event
	for i := range 250 {
		acct := "acme"
		if i%5 == 0 {
			acct = "other"
		}
		e := ev(acct, fmt.Sprintf("e%03d", i))
		e.Time = base.Add(time.Duration(i) * time.Millisecond)
		evs = append(evs, e)
	}
	must(t, "append", s.AppendAudit(ctx, evs...))
	must(t, "append more", s.AppendAudit(ctx, ev("acme", "e250"), ev("acme", "e251")))
	recs, total, err = s.ListAudit(ctx, "", 3, 0)
	must(t, "list", err)
	if total != 252 || len(recs) != 3 || recs[0].Seq != 252 || recs[0].Event.Event != "e251" || recs[2].Seq != 250 {
		t.Fatalf("newest page = %+v (total %d)", recs, total)
	}
	recs, total, err = s.ListAudit(ctx, "other", 2, 1)
	must(t, "list other", err)
	if total != 50 || len(recs) != 2 || recs[0].Event.Event != "e240" || recs[1].Event.Event != "e235" {
		t.Fatalf("other, page 2 = %+v (total %d)", recs, total)
	}
	for _, r := range recs {
		if r.Account != "other" {
			t.Fatalf("account filter let through %+v", r)
		}
	}
	recs, _, err = s.ListAudit(ctx, "acme", 0, 0)
	must(t, "default limit", err)
	if len(recs) != 100 {
		t.Fatalf("default limit gave %d records, want 100", len(recs))
	}
	mustVerify(t, s)
}

// testAuditRoundTrip checks that a record reads back exactly as sealed.
func testAuditRoundTrip(t *testing.T, s store.Store) {
	ctx := context.Background()
	e := audit.Event{
		Time:    time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.FixedZone("X", 3600)),
		Account: "acme", Event: "login", Outcome: audit.Failure, Reason: "bad_password",
		Actor: "acme:user:alice", Subject: "acme:user:alice", KeyID: "k1", ClientIP: "192.0.2.1",
		PeerIP: "10.0.0.1", RequestID: "r1", Authenticator: "authn-ldap/corp", Detail: "ünïcode ✓",
	}
	must(t, "append", s.AppendAudit(ctx, e))
	recs, _, err := s.ListAudit(ctx, "acme", 1, 0)
	must(t, "list", err)
	want := audit.Seal(1, audit.GenesisHash, e)
	wantEqual(t, "record", recs[0], want)
	if recs[0].Time.Nanosecond() != 123456000 || recs[0].Time.Location() != time.UTC {
		t.Fatalf("time = %v, want UTC at microseconds", recs[0].Time)
	}
	// An event without a time is stamped with the time of writing.
	noTime := ev("acme", "no-time")
	noTime.Time = time.Time{}
	mustAccount(t, s, "acme")
	must(t, "create", s.CreatePrincipal(ctx, newUser("acme", "p1", "alice"), nil, noTime))
	recs, _, _ = s.ListAudit(ctx, "acme", 1, 0)
	if recs[0].Time.IsZero() || time.Since(recs[0].Time) > time.Hour {
		t.Fatalf("an event without a time got %v, want now", recs[0].Time)
	}
	mustVerify(t, s)
}

// RunTamper checks that VerifyAudit finds altered, removed and truncated
// records. exec runs raw SQL on the store's database ($1 placeholders).
func RunTamper(t *testing.T, open func(t *testing.T) (store.Store, func(query string, args ...any) error)) {
	cases := []struct {
		name    string
		query   string
		args    []any
		wantSeq int64
	}{
		{"altered", "UPDATE audit_events SET detail = $1 WHERE seq = 3", []any{"forged"}, 3},
		{"altered time", "UPDATE audit_events SET time_us = time_us + 1 WHERE seq = 2", nil, 2},
		{"altered time text", "UPDATE audit_events SET time = $1 WHERE seq = 4", []any{"2001-01-01T00:00:00Z"}, 4},
		{"rehashed", "UPDATE audit_events SET hash = $1 WHERE seq = 3", []any{audit.GenesisHash}, 3},
		{"removed middle", "DELETE FROM audit_events WHERE seq = 3", nil, 3},
		{"removed tail", "DELETE FROM audit_events WHERE seq >= 4", nil, 4},
		{"removed all", "DELETE FROM audit_events", nil, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s, exec := open(t)
			for i := range 5 {
				must(t, "append", s.AppendAudit(ctx, ev("acme", fmt.Sprintf("e%d", i))))
			}
			mustVerify(t, s)
			must(t, "tamper", exec(tc.query, tc.args...))
			seq, why, err := s.VerifyAudit(ctx)
			must(t, "verify", err)
			if seq != tc.wantSeq || why == "" {
				t.Fatalf("verify after %s = %d, %q; want %d and a reason", tc.name, seq, why, tc.wantSeq)
			}
		})
	}
}
