package server_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// TestBackupWhileServing: keyward backup copies the database of a folder a
// keyward is serving from, under a stream of audited writes; the copy
// (0600, checked), restored beside the master key as the documented steps
// say, serves the data and its audit chain verifies. An existing file is
// never overwritten.
func TestBackupWhileServing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	admin := initData(t, dir).APIKey
	p := serve(t, dir)
	st, u := p.do("POST", "/api/v1/users", admin, map[string]any{"login": "kept", "kind": "user"})
	if st != 201 {
		t.Fatalf("create user: %d %v", st, u)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var verified atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if st, _ := p.do("POST", "/api/v1/api-keys/verify", "", map[string]any{"key": admin}); st == 200 {
					verified.Add(1)
				}
			}
		}()
	}
	to := filepath.Join(t.TempDir(), "keyward-backup.db")
	out, e, code := run(t, "backup", "--data", dir, "--to", to)
	stop.Store(true)
	wg.Wait()
	if code != 0 || !strings.Contains(out, "backed up") || !strings.Contains(out, "master key is not in it") {
		t.Fatalf("backup while serving exited %d: %s %s", code, out, e)
	}
	if verified.Load() == 0 {
		t.Fatal("no verification ran during the backup")
	}
	fi, err := os.Stat(to)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() == 0 {
		t.Fatalf("backup file: %v %v", fi, err)
	}
	if _, e, code := run(t, "backup", "--data", dir, "--to", to); code != 1 || !strings.Contains(e, "exists") {
		t.Fatalf("backup over an existing file exited %d: %s", code, e)
	}
	if _, e, code := run(t, "backup", "--data", dir); code != 2 || !strings.Contains(e, "--to") {
		t.Fatalf("backup without --to exited %d: %s", code, e)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-p.done

	// Restore into a new folder: the backup as keyward.db, the same master key.
	restored := t.TempDir()
	copyFile(t, filepath.Join(dir, "master.key"), filepath.Join(restored, "master.key"))
	copyFile(t, to, filepath.Join(restored, "keyward.db"))
	out, _, code = run(t, "audit", "verify", "--data", restored)
	if code != 0 || !strings.Contains(out, "audit chain intact") {
		t.Fatalf("verify of the restored folder exited %d: %s", code, out)
	}
	r := serve(t, restored)
	if st, u := r.do("GET", "/api/v1/users/"+u["id"].(string), admin, nil); st != 200 || u["login"] != "kept" {
		t.Fatalf("restored folder: user %d %v", st, u)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
