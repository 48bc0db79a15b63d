package sqlite

import (
	"context"
	"testing"
)

// TestAuditBacklogAndIngestFailures: records in the journal count as
// backlog until an ingest moves them into the table; an ingest the table
// refuses counts as a failure and leaves them in the backlog.
func TestAuditBacklogAndIngestFailures(t *testing.T) {
	ctx := context.Background()
	_, s := journalOnly(t, 10)
	if n := s.AuditBacklog(); n != 10 {
		t.Fatalf("backlog with 10 records in the journal: %d", n)
	}
	if err := rawExec(s, `CREATE TRIGGER refuse BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'disk says no'); END`); err != nil {
		t.Fatal(err)
	}
	if err := s.db.ingest(ctx); err == nil {
		t.Fatal("ingest into a refusing table succeeded")
	}
	if s.AuditIngestFailures() != 1 || s.AuditBacklog() != 10 {
		t.Fatalf("after a failed ingest: failures %d, backlog %d; want 1, 10", s.AuditIngestFailures(), s.AuditBacklog())
	}
	if err := rawExec(s, "DROP TRIGGER refuse"); err != nil {
		t.Fatal(err)
	}
	if err := s.db.ingest(ctx); err != nil {
		t.Fatal(err)
	}
	if s.AuditIngestFailures() != 1 || s.AuditBacklog() != 0 {
		t.Fatalf("after a good ingest: failures %d, backlog %d; want 1, 0", s.AuditIngestFailures(), s.AuditBacklog())
	}
}
