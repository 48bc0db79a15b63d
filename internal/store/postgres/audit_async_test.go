package postgres

import (
	"context"
	"fmt"
	"testing"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store/sqlstore"
	"github.com/keyward/keyward/internal/store/storetest"
)

// Audit-only appends commit with synchronous_commit off unless AuditSync
// asks otherwise; writes, with the records they carry, always commit with
// it on. A trigger the test adds on audit_pending notes the setting in
// force in each inserting transaction.
func TestAuditOnlyAppendsCommitWithoutFlush(t *testing.T) {
	ctx := context.Background()
	open := func(sync bool) *Store {
		s, err := OpenWith(ctx, freshSchema(t), storetest.Key, Options{AuditSync: sync})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		for _, q := range []string{
			"CREATE TABLE sync_seen (event TEXT, setting TEXT)",
			`CREATE FUNCTION note_sync() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN INSERT INTO sync_seen SELECT e, current_setting('synchronous_commit') FROM unnest(NEW.event) e; RETURN NEW; END $$`,
			"CREATE TRIGGER note_sync AFTER INSERT ON audit_pending FOR EACH ROW EXECUTE FUNCTION note_sync()",
		} {
			if _, err := s.db.pool.Exec(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	seen := func(s *Store) map[string]string {
		t.Helper()
		rows, err := s.db.pool.Query(ctx, "SELECT event, setting FROM sync_seen")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		m := map[string]string{}
		for rows.Next() {
			var e, v string
			if err := rows.Scan(&e, &v); err != nil {
				t.Fatal(err)
			}
			m[e] = v
		}
		return m
	}
	big := func(tag string) []audit.Event { // more than one pending row: a transaction of its own
		evs := make([]audit.Event, sqlstore.PendingMaxRecords+1)
		for i := range evs {
			evs[i] = audit.Event{Account: "acme", Event: fmt.Sprintf("%s-%d", tag, i), Outcome: audit.Success}
		}
		return evs
	}
	for _, c := range []struct {
		sync bool
		want string
	}{{false, "off"}, {true, "on"}} {
		s := open(c.sync)
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(s.AppendAudit(ctx, audit.Event{Account: "acme", Event: "one", Outcome: audit.Success}))
		must(s.AppendAudit(ctx, big("big")...))
		must(s.CreateAccount(ctx, model.Account{Name: "acme2"}, audit.Event{Account: "acme2", Event: "write", Outcome: audit.Success}))
		// Forgetting signature sessions is a write: its record commits
		// with it (review r25c F1).
		_, err := s.ForgetSignatureSessions(ctx, "acme2", "p1", func(n int) audit.Event {
			return audit.Event{Account: "acme2", Event: "evict", Outcome: audit.Success}
		})
		must(err)
		got := seen(s)
		for _, e := range []string{"one", "big-0", fmt.Sprintf("big-%d", sqlstore.PendingMaxRecords)} {
			if got[e] != c.want {
				t.Errorf("AuditSync %v: audit-only record %s committed with synchronous_commit %q, want %q", c.sync, e, got[e], c.want)
			}
		}
		for _, e := range []string{"write", "evict"} {
			if got[e] != "on" {
				t.Errorf("AuditSync %v: a write's record (%s) committed with synchronous_commit %q, want on", c.sync, e, got[e])
			}
		}
		// Either way every acknowledged record is committed: the chain
		// holds them all.
		_, total, err := s.ListAudit(ctx, "acme", 1, 0)
		must(err)
		if want := sqlstore.PendingMaxRecords + 2; total != want {
			t.Errorf("AuditSync %v: the chain holds %d of acme's %d records", c.sync, total, want)
		}
		var shown string
		must(s.db.pool.QueryRow(ctx, "SHOW synchronous_commit").Scan(&shown))
		if shown != "on" {
			t.Errorf("a pooled session's synchronous_commit is %q after the appends; the setting must not outlive their transaction", shown)
		}
	}
}
