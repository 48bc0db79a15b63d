package postgres

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keyward/keyward/internal/store/sqlstore"
	"github.com/keyward/keyward/internal/store/storetest"
)

// TestCompactMigration: a schema written before migration 0006 keeps its
// audit chain through it (see the SQLite test of the same name).
func TestCompactMigration(t *testing.T) {
	ctx := context.Background()
	for _, tamper := range []bool{false, true} {
		t.Run(fmt.Sprintf("tampered=%v", tamper), func(t *testing.T) {
			dsn := freshSchema(t)
			pool, err := pgxpool.New(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			ms, err := sqlstore.LoadMigrations(migrations, "migrations")
			if err != nil {
				t.Fatal(err)
			}
			mustExec := func(q string, args ...any) {
				t.Helper()
				if _, err := pool.Exec(ctx, q, args...); err != nil {
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
			s, err := Open(ctx, dsn, storetest.Key)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			storetest.CheckMigrated(t, s, want, tamper)
		})
	}
}
