package sqlite

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/store/sqlstore"
	"github.com/keyward/keyward/internal/store/storetest"
)

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "keyward.db"), storetest.Key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

func TestTamper(t *testing.T) {
	storetest.RunTamper(t, func(t *testing.T) (store.Store, storetest.Exec) {
		s := openTemp(t)
		return s, func(q string, args ...any) error { return rawExec(s, q, args...) }
	})
}

func TestRekey(t *testing.T) {
	storetest.RunRekey(t, func(t *testing.T) (store.Store, storetest.Exec) {
		s := openTemp(t)
		return s, func(q string, args ...any) error { return rawExec(s, q, args...) }
	})
}

func TestSchemaTooNew(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keyward.db")
	s, err := Open(ctx, path, storetest.Key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.wc.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future.sql', 'x')"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(ctx, path, storetest.Key)
	if !errors.Is(err, store.ErrSchemaTooNew) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("open newer schema: err = %v, want ErrSchemaTooNew", err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keyward.db")
	s, err := Open(ctx, path, storetest.Key)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAccount(ctx, model.Account{Name: "acme"}, audit.Event{Account: "acme", Event: "x"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = nil
	s2, err := Open(ctx, path, storetest.Key)
	if err != nil {
		t.Fatalf("reopen (migrations applied twice?): %v", err)
	}
	defer s2.Close()
	if _, err := s2.GetAccount(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
}

// TestCommitSurvivesKill commits in a child process, kills it with SIGKILL
// and checks the write is there: WAL with synchronous=NORMAL is durable
// against a process crash.
func TestCommitSurvivesKill(t *testing.T) {
	if path := os.Getenv("KEYWARD_SQLITE_KILL_CHILD"); path != "" {
		ctx := context.Background()
		s, err := Open(ctx, path, storetest.Key)
		if err == nil {
			err = s.CreateAccount(ctx, model.Account{Name: "acme"}, audit.Event{Account: "acme", Event: "account-create"})
		}
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("committed")
		select {} // wait to be killed, connections open
	}
	path := filepath.Join(t.TempDir(), "keyward.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCommitSurvivesKill$")
	cmd.Env = append(os.Environ(), "KEYWARD_SQLITE_KILL_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "committed\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child said %q", line)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	s, err := Open(context.Background(), path, storetest.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.GetAccount(context.Background(), "acme"); err != nil {
		t.Fatalf("committed account lost after kill -9: %v", err)
	}
	if c, err := s.VerifyAudit(context.Background()); err != nil || c.Broken != 0 || c.Unkeyed != 0 {
		t.Fatalf("audit after kill -9: %+v %v", c, err)
	}
}

// TestPragmas checks the writer's durability settings and that readers cannot write.
func TestPragmas(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	var mode string
	var sync, fk int
	if err := s.db.wc.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
	}
	if err := s.db.wc.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil || sync != 1 {
		t.Fatalf("synchronous = %d, %v; want 1 (NORMAL)", sync, err)
	}
	if err := s.db.r.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Fatalf("reader foreign_keys = %d, %v; want 1", fk, err)
	}
	if _, err := s.db.r.ExecContext(ctx, "DELETE FROM accounts"); err == nil {
		t.Fatal("the read pool accepted a write")
	}
}

// BenchmarkAppendAudit200 measures one group-commit batch of 200 events.
func BenchmarkAppendAudit200(b *testing.B) {
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "keyward.db"), storetest.Key)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	evs := make([]audit.Event, 200)
	for i := range evs {
		evs[i] = audit.Event{Account: "acme", Event: "authenticate", Outcome: audit.Success,
			Actor: "acme:host:app", Subject: "acme:host:app", ClientIP: "192.0.2.1", RequestID: fmt.Sprint(i)}
	}
	for b.Loop() {
		if err := s.AppendAudit(context.Background(), evs...); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMigrateAppliesSkippedNumber: migration numbers may skip (0003 landed
// before another branch's 0002); a database that recorded 1 and 3 gets 2
// when a binary knowing it opens it, and a recorded number the binary does
// not know is a newer schema.
func TestMigrateAppliesSkippedNumber(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	ms, err := sqlstore.LoadMigrations(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 2 {
		t.Fatalf("migrations %v: want several", ms)
	}
	// Migration last+2 lands first; last+1, from another branch, arrives later.
	last := ms[len(ms)-1].Version
	early := sqlstore.Migration{Version: last + 2, Name: "early.sql", SQL: "CREATE TABLE early_five (x INTEGER);"}
	late := sqlstore.Migration{Version: last + 1, Name: "late.sql", SQL: "CREATE TABLE late_four (x INTEGER);"}
	if err := sqlstore.Migrate(ctx, s.db, append(slices.Clone(ms), early), sqlstore.SplitStatements); err != nil {
		t.Fatal(err)
	}
	all := append(slices.Clone(ms), late, early)
	if err := sqlstore.Migrate(ctx, s.db, all, sqlstore.SplitStatements); err != nil {
		t.Fatal(err)
	}
	if err := rawExec(s, "INSERT INTO late_four (x) VALUES (1)"); err != nil {
		t.Fatalf("migration 4 was not applied after 5: %v", err)
	}
	// The binary without 0002 refuses the database that has it.
	err = sqlstore.Migrate(ctx, s.db, ms, sqlstore.SplitStatements)
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("unknown recorded migration: err = %v, want ErrSchemaTooNew", err)
	}
	// Two files with one number are refused.
	twice := fstest.MapFS{"m/0001_a.sql": {Data: []byte("SELECT 1;")}, "m/0001_b.sql": {Data: []byte("SELECT 1;")}}
	if _, err := sqlstore.LoadMigrations(twice, "m"); err == nil {
		t.Fatal("two migrations numbered 1 were loaded")
	}
}

func TestPruneTamper(t *testing.T) {
	storetest.RunPruneTamper(t, func(t *testing.T) (store.Store, storetest.Exec) {
		s := openTemp(t)
		return s, func(q string, args ...any) error { return rawExec(s, q, args...) }
	})
}
