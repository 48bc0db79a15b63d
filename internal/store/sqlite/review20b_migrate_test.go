package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/store/sqlstore"
	"github.com/keyward/keyward/internal/store/storetest"
)

// TestCompactMigrationKeepsTheBreak (review 20b, finding 3): a record the
// keyward of before migration 0006 reports as broken (its time text
// disagrees with time_us, or its prev_hash does not link) must not verify
// as intact once 0006 drops the columns that showed it: the upgrade must
// not erase evidence of tampering.
func TestCompactMigrationKeepsTheBreak(t *testing.T) {
	ctx := context.Background()
	for name, q := range map[string]string{
		"time text": "UPDATE audit_events SET time = '2020-01-01T00:00:00Z' WHERE seq = 5",
		"prev_hash": "UPDATE audit_events SET prev_hash = 'ab' WHERE seq = 5",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keyward.db")
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			ms, err := sqlstore.LoadMigrations(migrations, "migrations")
			if err != nil {
				t.Fatal(err)
			}
			mustExec := func(q string, args ...any) {
				t.Helper()
				if _, err := db.Exec(numberedParams(q), args...); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			mustExec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
			for _, m := range ms {
				if m.Version >= 6 {
					break
				}
				for _, stmt := range sqlstore.SplitStatements(m.SQL) {
					mustExec(stmt)
				}
				mustExec("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)", m.Version, m.Name, time.Now().Format(time.RFC3339))
			}
			want := storetest.OldChain()
			for _, r := range want {
				mustExec(storetest.OldInsert, storetest.OldArgs(r, r.Detail)...)
			}
			mustExec("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", len(want), want[len(want)-1].Hash)
			mustExec(q) // before the upgrade: the keyward of then says "BROKEN at record 5"
			db.Close()

			s, err := Open(ctx, path, storetest.Key)
			if err != nil {
				return // refusing to migrate a broken chain is fine too
			}
			defer s.Close()
			if c, err := s.VerifyAudit(ctx); err != nil || c.Broken == 0 {
				t.Fatalf("record 5 was broken before migration 0006 (%s); after it verify = %+v, %v: the upgrade erased the evidence", name, c, err)
			}
		})
	}
}
