package main

import (
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
