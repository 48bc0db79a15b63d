package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Review 20a, F4: a store URL with the wrong scheme was echoed with its
// password, which put the password in the journal after a typo.
func TestReviewStoreURLNotEchoed(t *testing.T) {
	clearSettingsEnv(t)
	for _, cmd := range [][]string{
		{"serve", "--listen", "127.0.0.1:0", "--store", "mysql://keyward:SECRETPW@db/keyward"},
		{"init", "--store", "Postgres://keyward:SECRETPW@db/keyward"},
		{"admin", "recover", "--store", "postgress://keyward:SECRETPW@db/keyward"},
	} {
		_, out, errs := cli(t, cmd...)
		if strings.Contains(out+errs, "SECRETPW") {
			t.Errorf("%v: the password is in the error: %s", cmd, errs)
		}
	}
}

// The CLI must not send a password (or a token, or an API key) in clear
// text to a server that is not on this machine.
func TestReviewCLIRefusesPlainHTTPToRemote(t *testing.T) {
	clearSettingsEnv(t)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("KEYWARD_TOKEN", "")
	t.Setenv("KEYWARD_ADDR", "http://keyward.invalid:9")
	withStdin(t, "hunter2\n")
	code, _, errs := cli(t, "login", "--login", "alice")
	if code != exitUsage || !strings.Contains(errs, "https") {
		t.Errorf("login over http:// to a remote host: exit %d, %s (want a usage error asking for https://)", code, errs)
	}
	t.Setenv("KEYWARD_TOKEN", "kw_abcdefghijklmnop_secret")
	if code, _, errs := cli(t, "user", "list"); code != exitUsage || !strings.Contains(errs, "https") {
		t.Errorf("user list over http:// to a remote host: exit %d, %s", code, errs)
	}
}

// A shared store that cannot be reached leaves no master key and no data
// folder behind (a key no store was sealed with would be adopted by the
// next try; a test once left one in the source tree this way).
func TestInitUnreachableStoreLeavesNothing(t *testing.T) {
	clearSettingsEnv(t)
	t.Setenv("KEYWARD_MASTER_KEY", "")
	data := filepath.Join(t.TempDir(), "kw")
	code, _, errs := cli(t, "init", "--data", data, "--store", "postgres://keyward:pw@127.0.0.1:1/keyward?sslmode=disable&connect_timeout=2")
	if code == exitOK {
		t.Fatalf("init against a closed port succeeded: %s", errs)
	}
	if _, err := os.Lstat(data); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a failed init left %s behind (err %v)", data, err)
	}
}
