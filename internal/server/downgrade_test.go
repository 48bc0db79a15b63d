package server_test

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/server"
)

// TestDowngradeRefused: a keyward older than the schema of its data folder
// refuses to start (and every command that opens the store refuses), saying
// why and what to do, and changes nothing.
func TestDowngradeRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	initData(t, dir)
	db, err := sql.Open("sqlite", filepath.Join(dir, server.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// What a newer keyward's migration leaves.
	if _, err := db.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 'x')"); err != nil {
		t.Fatal(err)
	}
	tables := func() string {
		var n string
		if err := db.QueryRow("SELECT group_concat(name) FROM (SELECT name FROM sqlite_schema ORDER BY name)").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := tables()
	for _, args := range [][]string{
		{"serve", "--data", dir, "--listen", "127.0.0.1:0"},
		{"audit", "verify", "--data", dir},
		{"audit", "prune", "--data", dir, "--before", "1h"},
	} {
		out, e, code := run(t, args...)
		if code != 1 || !strings.Contains(e, "migrated by a newer keyward (it has migration 9999") ||
			!strings.Contains(e, "restore the backup taken before the upgrade") {
			t.Fatalf("%v exited %d: %s %s; want a refusal naming migration 9999", args, code, out, e)
		}
	}
	if after := tables(); after != before {
		t.Fatalf("the refused commands changed the schema: %s -> %s", before, after)
	}
}
