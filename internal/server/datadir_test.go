package server_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestDataFolderModes: with umask 022 and a data folder made 0755, init
// and serve leave the folder 0700 and every file in it 0600 (the database,
// its -wal and -shm while serving, the audit journals, the master key),
// and say so in the log. Not parallel: the umask is the process's.
func TestDataFolderModes(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o755 {
		t.Fatalf("setup: folder is %v", fi.Mode())
	}
	_, errOut, code := run(t, "init", "--data", dir, "--account", "acme")
	if code != 0 || !strings.Contains(errOut, "tightened permissions") {
		t.Fatalf("init exited %d, logging %q; want a line saying the folder was tightened", code, errOut)
	}
	modes := func(when string, want []string) {
		t.Helper()
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: folder mode %v, %v; want 0700", when, fi.Mode().Perm(), err)
		}
		entries, _ := os.ReadDir(dir)
		seen := map[string]bool{}
		for _, e := range entries {
			fi, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			seen[e.Name()] = true
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: %s is %04o, want 0600", when, e.Name(), fi.Mode().Perm())
			}
		}
		for _, name := range want {
			if !seen[name] {
				t.Errorf("%s: %s missing (have %v)", when, name, seen)
			}
		}
	}
	modes("after init", []string{"master.key", "keyward.db", "keyward.db-audit1", "keyward.db-audit2"})
	// A file an older keyward (or a copy) left readable is tightened too.
	os.Chmod(filepath.Join(dir, "keyward.db"), 0o644)
	os.Chmod(dir, 0o755)
	p := serve(t, dir)
	p.do("POST", "/api/v1/api-keys/verify", "", map[string]any{"key": "kw_nope"})
	modes("while serving", []string{"master.key", "keyward.db", "keyward.db-wal", "keyward.db-shm", "keyward.db-audit1", "keyward.db-audit2"})
	if !strings.Contains(p.logs(), "tightened permissions") || !strings.Contains(p.logs(), `"was":"0644"`) {
		t.Errorf("serve did not log the tightening: %s", p.logs())
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done
	modes("after serve", []string{"master.key", "keyward.db"})
}
