package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/server"
)

func clearSettingsEnv(t *testing.T) {
	t.Helper()
	for _, s := range settingsTable {
		t.Setenv(s.Env(), "")
	}
	t.Setenv("KEYWARD_CONFIG", "")
	t.Setenv("KEYWARD_MASTER_KEY", "")
}

// entries lists a folder's names.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// TestServeChecksBeforeCreating: a port in use, a bad --listen, a bad
// setting or a missing parent folder fail serve before a data folder or an
// admin key exists.
func TestServeChecksBeforeCreating(t *testing.T) {
	clearSettingsEnv(t)
	parent := t.TempDir()
	data := filepath.Join(parent, "data")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--listen", busy.Addr().String()}, 1, busy.Addr().String()},
		{[]string{"--listen", "not an address"}, 1, "not an address"},
		{[]string{"--listen", "127.0.0.1:0", "--token-ttl", "soon"}, 2, "token-ttl"},
		{[]string{"--listen", "127.0.0.1:0", "--store", "mysql://x"}, 2, "postgres://"},
		{[]string{"--listen", "127.0.0.1:0", "--log-level", "loud"}, 2, "log-level"},
		{[]string{"--listen", "127.0.0.1:0", "--account", "bad account!"}, 2, "letters, digits"},
		{[]string{"--listen", "127.0.0.1:0", "--tls-cert", filepath.Join(parent, "nope.pem"), "--tls-key", filepath.Join(parent, "nope.key")}, 2, "nope.pem"},
		{[]string{"--listen", "127.0.0.1:0", "--client-ca", filepath.Join(parent, "ca.pem")}, 2, "--tls-cert"},
		{[]string{"--listen", "127.0.0.1:0", "--config", filepath.Join(parent, "missing.json")}, 2, "missing.json"},
	} {
		code, out, errs := cli(t, append([]string{"serve", "--data", data}, c.args...)...)
		if code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("serve %v: exit %d, stderr %q; want exit %d naming %q", c.args, code, errs, c.code, c.want)
		}
		if out != "" {
			t.Errorf("serve %v printed %q", c.args, out)
		}
		if names := entries(t, parent); len(names) != 0 {
			t.Fatalf("serve %v left %v behind", c.args, names)
		}
	}
	// A missing parent is an error naming it, not a new empty service.
	typo := filepath.Join(parent, "dta", "keyward")
	code, _, errs := cli(t, "serve", "--data", typo, "--listen", "127.0.0.1:0")
	if code != 1 || !strings.Contains(errs, filepath.Join(parent, "dta")) || !strings.Contains(errs, "does not exist") {
		t.Errorf("missing parent: exit %d, %q", code, errs)
	}
	if names := entries(t, parent); len(names) != 0 {
		t.Fatalf("missing parent: left %v behind", names)
	}
}

// TestInitLeavesNothingOnFailure: a failed init leaves no folder and no
// temporary folder, and a retry succeeds; a bad account name is explained.
func TestInitLeavesNothingOnFailure(t *testing.T) {
	clearSettingsEnv(t)
	parent := t.TempDir()
	data := filepath.Join(parent, "data")
	code, out, errs := cli(t, "init", "--data", data, "--account", "bad account!")
	if code != 2 || out != "" || !strings.Contains(errs, "letters, digits and / @ . - _") || !strings.Contains(errs, "no spaces") {
		t.Errorf("bad account: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if names := entries(t, parent); len(names) != 0 {
		t.Fatalf("a refused init left %v", names)
	}
	// A failure in the middle (the master key cannot be read): nothing left.
	t.Setenv("KEYWARD_MASTER_KEY", "not-a-key")
	if code, _, errs := cli(t, "init", "--data", data, "--account", "acme"); code != 1 || !strings.Contains(errs, "KEYWARD_MASTER_KEY") {
		t.Fatalf("init with a bad master key: exit %d, %q", code, errs)
	}
	if names := entries(t, parent); len(names) != 0 {
		t.Fatalf("a failed init left %v", names)
	}
	// The same into an existing empty folder (a mount point, a StateDirectory).
	os.Mkdir(data, 0o700)
	if code, _, _ := cli(t, "init", "--data", data, "--account", "acme"); code != 1 {
		t.Fatalf("init with a bad master key: exit %d", code)
	}
	if names := entries(t, data); len(names) != 0 {
		t.Fatalf("a failed init left %v in the folder", names)
	}
	t.Setenv("KEYWARD_MASTER_KEY", "")
	var a initAnswer
	if err := json.Unmarshal([]byte(cliOK(t, "init", "--data", data, "--account", "acme")), &a); err != nil || !strings.HasPrefix(a.APIKey, "kw_") {
		t.Fatalf("retry: %v %+v", err, a)
	}
	for _, n := range entries(t, data) {
		if strings.HasPrefix(n, ".keyward-init") {
			t.Errorf("init left its temporary folder %s", n)
		}
	}
}

// TestAdminRecover: a new admin key, printed once; the old one stops
// working; audited as admin.recover by operator; refused while a server
// holds the folder.
func TestAdminRecover(t *testing.T) {
	clearSettingsEnv(t)
	data := filepath.Join(t.TempDir(), "data")
	var first initAnswer
	json.Unmarshal([]byte(cliOK(t, "init", "--data", data, "--account", "acme")), &first)
	os.WriteFile(filepath.Join(data, InitialAdminKeyFile), []byte(first.APIKey+"\n"), 0o600)

	var rec initAnswer
	out := cliOK(t, "admin", "recover", "--data", data, "--account", "acme")
	if err := json.Unmarshal([]byte(out), &rec); err != nil || rec.APIKey == "" || rec.APIKey == first.APIKey || rec.Login != "admin" {
		t.Fatalf("admin recover printed %q", out)
	}
	if _, err := os.Stat(filepath.Join(data, InitialAdminKeyFile)); !os.IsNotExist(err) {
		t.Errorf("initial-admin-key is still there: %v", err)
	}
	ctx := context.Background()
	s, err := server.Open(ctx, server.Config{DataDir: data, Account: "acme"}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// While a server holds the folder: refused, "in use".
	if code, out, errs := cli(t, "admin", "recover", "--data", data, "--account", "acme"); code != 1 || out != "" || !strings.Contains(errs, "in use") {
		t.Errorf("recover beside a running server: exit %d, %q %q", code, out, errs)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	t.Setenv("KEYWARD_ADDR", ts.URL)
	srv := testServer{URL: ts.URL}
	if v := verifyKey(t, srv, first.APIKey); v["valid"] == true {
		t.Error("the lost key still works")
	}
	if v := verifyKey(t, srv, rec.APIKey); v["valid"] != true {
		t.Errorf("the recovered key: %v", v)
	}
	req, _ := http.NewRequest("GET", ts.URL+"/api/v1/audit?limit=50", nil)
	req.Header.Set("Authorization", "Bearer "+rec.APIKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var list struct {
		Items []map[string]any `json:"items"`
	}
	json.NewDecoder(res.Body).Decode(&list)
	found := false
	for _, r := range list.Items {
		if r["event"] == "admin.recover" && r["actor"] == "operator" && r["outcome"] == "success" && r["subject"] == "acme:user:admin" {
			found = true
		}
	}
	if !found {
		t.Errorf("no admin.recover record by operator in %v", list.Items)
	}
}
