package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/internal/server"
)

// storeDB creates a database of its own for the test (dropped at the end).
func storeDB(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("KEYWARD_TEST_POSTGRES")
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("KEYWARD_TEST_POSTGRES is not set, and CI is")
		}
		t.Skip("KEYWARD_TEST_POSTGRES is not set")
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 5)
	rand.Read(b)
	name := "kw_boot_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer admin.Close(context.Background())
		_, _ = admin.Exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)")
	})
	u, _ := url.Parse(dsn)
	u.Path = "/" + name
	return u.String()
}

// TestServeWithStoreNeverInitialises: with --store, serve exits 1 on an
// empty database (naming keyward init --store), without a master key
// (naming master.key and KEYWARD_MASTER_KEY), and with another master key
// (naming the master key) before it writes anything; init --store
// initialises once, and a copy of its master.key or KEYWARD_MASTER_KEY lets
// another instance start.
func TestServeWithStoreNeverInitialises(t *testing.T) {
	clearSettingsEnv(t)
	db := storeDB(t)
	run := func(cmd func([]string, *bytes.Buffer, *bytes.Buffer) int, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := cmd(args, &out, &errb)
		return code, out.String(), errb.String()
	}
	serve := func(args []string, o, e *bytes.Buffer) int { return cmdServe(args, o, e) }
	initCmd := func(args []string, o, e *bytes.Buffer) int { return cmdInit(args, o, e) }

	parent := t.TempDir()
	dirB := filepath.Join(parent, "b")
	if err := os.Mkdir(dirB, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dirB, "master.key"), bytes.Repeat([]byte{7}, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(serve, "--data", dirB, "--store", db, "--listen", "127.0.0.1:0")
	if code != 1 || !strings.Contains(stderr, "keyward init --store") {
		t.Fatalf("serve on an empty database: %d %q, want 1 naming keyward init --store", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dirB, "initial-admin-key")); err == nil {
		t.Error("serve on an empty database left an admin key")
	}

	dirA := filepath.Join(parent, "a")
	code, stdout, stderr := run(initCmd, "--data", dirA, "--store", db, "--account", "acme")
	if code != 0 {
		t.Fatalf("init --store: %d %s", code, stderr)
	}
	var ans struct {
		Login  string `json:"login"`
		APIKey string `json:"api_key"`
	}
	if err := json.Unmarshal([]byte(stdout), &ans); err != nil || ans.Login != "admin" || !strings.HasPrefix(ans.APIKey, "kw_") {
		t.Fatalf("init --store printed %q", stdout)
	}
	mk, err := os.ReadFile(filepath.Join(dirA, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	count := func() int {
		c, err := pgx.Connect(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		var n int
		if err := c.QueryRow(context.Background(), "SELECT (SELECT count(*) FROM audit_events) + (SELECT count(*) FROM audit_pending) + (SELECT count(*) FROM signing_keys)").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := count()

	// B's folder holds another key: refused before anything is written.
	code, _, stderr = run(serve, "--data", dirB, "--store", db, "--listen", "127.0.0.1:0")
	if code != 1 || !strings.Contains(stderr, "master key") {
		t.Fatalf("serve with another master key: %d %q, want 1 naming the master key", code, stderr)
	}
	if after := count(); after != before {
		t.Errorf("serve with another master key wrote %d rows", after-before)
	}

	// No key at all.
	dirC := filepath.Join(parent, "c")
	code, _, stderr = run(serve, "--data", dirC, "--store", db, "--listen", "127.0.0.1:0")
	if code != 1 || !strings.Contains(stderr, "master.key") || !strings.Contains(stderr, "KEYWARD_MASTER_KEY") {
		t.Fatalf("serve without a master key: %d %q, want 1 naming master.key and KEYWARD_MASTER_KEY", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dirC, "master.key")); err == nil {
		t.Error("serve --store made a master key")
	}

	// The right key in the environment opens the store, as a copy of
	// master.key would.
	t.Setenv("KEYWARD_MASTER_KEY", hex.EncodeToString(mk))
	srv, err := server.Open(context.Background(), server.Config{DataDir: dirC, StoreURL: db}, false)
	if err != nil {
		t.Fatalf("open with KEYWARD_MASTER_KEY: %v", err)
	}
	srv.Close()
}
