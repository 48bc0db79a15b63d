package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/store"
)

// testAuditFiltered checks every filter of ListAuditFiltered alone and
// together, the time bounds (since inclusive, until exclusive), the total
// counting only matches, and paging.
func testAuditFiltered(t *testing.T, s store.Store) {
	ctx := context.Background()
	var evs []audit.Event
	for i := range 10 {
		e := ev("acme", "login")
		e.Time = base.Add(time.Duration(i) * time.Second)
		if i%2 == 1 {
			e.Event, e.Outcome, e.Reason = "key.rotate", audit.Failure, "bad_credential"
		}
		if i == 3 {
			e.Actor, e.KeyID, e.ClientIP = "acme:user:ops", "k-3", "10.0.0.3"
		}
		evs = append(evs, e)
	}
	other := ev("other", "login")
	other.Actor = "acme:user:ops"
	evs = append(evs, other)
	must(t, "append", s.AppendAudit(ctx, evs...))
	cases := []struct {
		name  string
		f     audit.Filter
		total int
		first time.Time
	}{
		{"none", audit.Filter{}, 10, base.Add(9 * time.Second)},
		{"event", audit.Filter{Event: "key.rotate"}, 5, base.Add(9 * time.Second)},
		{"outcome", audit.Filter{Outcome: audit.Success}, 5, base.Add(8 * time.Second)},
		{"actor", audit.Filter{Actor: "acme:user:ops"}, 1, base.Add(3 * time.Second)},
		{"key", audit.Filter{KeyID: "k-3"}, 1, base.Add(3 * time.Second)},
		{"client", audit.Filter{ClientIP: "10.0.0.3"}, 1, base.Add(3 * time.Second)},
		{"since", audit.Filter{Since: base.Add(7 * time.Second)}, 3, base.Add(9 * time.Second)},
		{"until", audit.Filter{Until: base.Add(2 * time.Second)}, 2, base.Add(1 * time.Second)},
		{"range", audit.Filter{Since: base.Add(2 * time.Second), Until: base.Add(6 * time.Second), Event: "login"}, 2, base.Add(4 * time.Second)},
		{"unknown name", audit.Filter{Event: "nothing.like.it"}, 0, time.Time{}},
		{"no match together", audit.Filter{Actor: "acme:user:ops", Outcome: audit.Success}, 0, time.Time{}},
	}
	for _, tc := range cases {
		recs, total, err := s.ListAuditFiltered(ctx, "acme", tc.f, 100, 0)
		must(t, tc.name, err)
		if total != tc.total || len(recs) != tc.total {
			t.Fatalf("%s: %d records, total %d; want %d", tc.name, len(recs), total, tc.total)
		}
		if total > 0 && !recs[0].Time.Equal(tc.first) {
			t.Fatalf("%s: newest %v, want %v", tc.name, recs[0].Time, tc.first)
		}
		for _, r := range recs {
			if r.Account != "acme" || (tc.f.Event != "" && r.Event.Event != tc.f.Event) {
				t.Fatalf("%s: record %+v does not match", tc.name, r)
			}
		}
	}
	recs, total, err := s.ListAuditFiltered(ctx, "acme", audit.Filter{Event: "key.rotate"}, 2, 2)
	must(t, "page", err)
	if total != 5 || len(recs) != 2 || !recs[0].Time.Equal(base.Add(5*time.Second)) {
		t.Fatalf("page = %d of %d, first %v", len(recs), total, recs)
	}
	recs, total, err = s.ListAuditFiltered(ctx, "", audit.Filter{Actor: "acme:user:ops"}, 10, 0)
	must(t, "every account", err)
	if total != 2 || len(recs) != 2 {
		t.Fatalf("every account = %d of %d", len(recs), total)
	}
}
