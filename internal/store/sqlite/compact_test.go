package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/keyward/keyward/internal/store/sqlstore"
	"github.com/keyward/keyward/internal/store/storetest"
)

// TestCompactMigration: a database written before migration 0006 (text
// hashes, previous hashes and times) keeps its chain through the
// migration: every record reads back as it was sealed and the chain
// verifies; a record altered before the migration is still found after it.
func TestCompactMigration(t *testing.T) {
	ctx := context.Background()
	for _, tamper := range []bool{false, true} {
		t.Run(fmt.Sprintf("tampered=%v", tamper), func(t *testing.T) {
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
				mustExec("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, 'x')", m.Version, m.Name)
			}
			want := storetest.OldChain()
			for _, r := range want {
				detail := r.Detail
				if tamper && r.Seq == 4 {
					detail = "forged"
				}
				mustExec(storetest.OldInsert, storetest.OldArgs(r, detail)...)
			}
			mustExec("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", len(want), want[len(want)-1].Hash)
			db.Close()

			s, err := Open(ctx, path, storetest.Key)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			storetest.CheckMigrated(t, s, want, tamper)
		})
	}
}
