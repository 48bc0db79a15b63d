package main

// Review of issue 20 part A (docs/notes/review-20a.md): the reviewer's tests
// for F1, F2, F3 and F5, each of which failed before its fix.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/keyward/keyward/internal/server"
)

// The first admin key must never be written through a file or link that
// someone else planted at DATA/initial-admin-key (a shared store's data
// folder is not tightened, and the file is opened O_TRUNC without O_EXCL or
// O_NOFOLLOW, and a failed Chmod is ignored).
func TestReviewInitialAdminKeyNotThroughPlantedLink(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o777); err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(dir, "attacker-readable")
	if err := os.WriteFile(elsewhere, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, filepath.Join(data, InitialAdminKeyFile)); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	err := deliverAdminKey(server.Config{DataDir: data, Account: "acme"}, "kw_secret_admin_key", &out, &errb, slog.New(slog.DiscardHandler))
	b, _ := os.ReadFile(elsewhere)
	if strings.Contains(string(b), "kw_secret_admin_key") {
		t.Fatalf("the admin key was written through the planted link (err %v)", err)
	}
}

// Two inits racing on the same existing, empty folder (a mount point, a
// StateDirectory) must not both report success: only one admin key can work.
func TestReviewConcurrentInitOneWinner(t *testing.T) {
	bin := keywardBinary(t)
	for round := 0; round < 4; round++ {
		data := filepath.Join(t.TempDir(), "data")
		if err := os.Mkdir(data, 0o700); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		codes := make([]int, 2)
		outs := make([]string, 2)
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cmd := exec.Command(bin, "init", "--data", data)
				cmd.Env = cleanEnv()
				out, _ := cmd.Output()
				codes[i], outs[i] = cmd.ProcessState.ExitCode(), string(out)
			}()
		}
		wg.Wait()
		if codes[0] == 0 && codes[1] == 0 {
			t.Fatalf("round %d: both inits said they initialised %s, with different admin keys:\n%s%s", round, data, outs[0], outs[1])
		}
	}
}

// A data folder that another user owns (squatted in a shared parent before
// a root keyward first starts) must be refused: its owner can rename and
// replace keyward's files in it.
func TestReviewForeignOwnedDataFolderRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the folder to another user")
	}
	clearSettingsEnv(t)
	parent := t.TempDir()
	data := filepath.Join(parent, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(data, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := cli(t, "init", "--data", data); code == exitOK {
		t.Errorf("init adopted a folder owned by uid 65534 (%s)", errs)
	}
}

// admin recover on a shared (PostgreSQL) store while a server runs on it:
// refused "in use", as for SQLite; if it runs, the running server must no
// longer take the old key (it says "the old one no longer works").
func TestReviewRecoverSharedStoreWhileServing(t *testing.T) {
	dsn := os.Getenv("KEYWARD_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("KEYWARD_TEST_POSTGRES is not set")
	}
	ctx := context.Background()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "kwreview_" + hex.EncodeToString(b)
	admin, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admin.Close)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	// Registered before startServe's cleanup, so it runs after the server
	// is killed.
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, _ := url.Parse(dsn)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	data := filepath.Join(t.TempDir(), "data")
	// Since the review, serve --store no longer initialises a store:
	// keyward init --store does, once, and prints the key.
	clearSettingsEnv(t)
	code, out, errs := cli(t, "init", "--store", u.String(), "--data", data)
	if code != exitOK {
		t.Fatalf("init --store: exit %d, %s", code, errs)
	}
	var first initAnswer
	if err := json.Unmarshal([]byte(out), &first); err != nil {
		t.Fatal(err)
	}
	old := first.APIKey
	p := startServe(t, cleanEnv("KEYWARD_LOG_FORMAT=json"), "--listen", "127.0.0.1:0", "--store", u.String(), "--data", data)
	code, out, errs = cli(t, "admin", "recover", "--store", u.String(), "--data", data)
	if code == exitOK {
		var rec initAnswer
		json.Unmarshal([]byte(out), &rec)
		req, _ := http.NewRequest("GET", "http://"+p.addr+"/api/v1/users", nil)
		req.Header.Set("Authorization", "Bearer "+old)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		t.Errorf("recover ran beside a running server (%s); the running server answers the old key with %d", errs, res.StatusCode)
		return
	}
	if !strings.Contains(errs, "in use") {
		t.Errorf("recover beside a running server: exit %d, %s", code, errs)
	}
	// Once the server is stopped, recover runs: when PostgreSQL has ended
	// the killed server's session (asynchronously), and with it its lock.
	p.kill()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, _, errs := cli(t, "admin", "recover", "--store", u.String(), "--data", data)
		if code == exitOK {
			break
		}
		if !strings.Contains(errs, "in use") || time.Now().After(deadline) {
			t.Fatalf("recover with the server stopped: exit %d, %s", code, errs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
