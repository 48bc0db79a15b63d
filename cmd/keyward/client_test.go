package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

// TestEveryCommandHelp: --help of every command exits 0 and prints, on
// stdout, its usage and only its own flags with their defaults; keyward
// help TOPIC prints the same.
func TestEveryCommandHelp(t *testing.T) {
	clearSettingsEnv(t)
	t.Setenv("KEYWARD_TOKEN", "")
	cmds := [][]string{{"serve"}, {"init"}, {"account", "add"}, {"audit", "verify"}, {"audit", "rekey"}, {"admin", "recover"},
		{"login"}, {"logout"}, {"whoami"}, {"token"}, {"audit", "list"}}
	for group, subs := range adminGroups {
		for sub := range subs {
			cmds = append(cmds, []string{group, sub})
		}
	}
	for _, c := range cmds {
		var out, errb bytes.Buffer
		code := run(append(append([]string{}, c...), "--help"), &out, &errb)
		if code != 0 || !strings.HasPrefix(out.String(), "Usage") || !strings.Contains(out.String(), "Flags of keyward "+strings.Join(c, " ")) || errb.Len() != 0 {
			t.Errorf("%v --help: exit %d, stdout %q, stderr %q", c, code, out.String(), errb.String())
			continue
		}
		var viaHelp bytes.Buffer
		if code := run(append([]string{"help"}, c...), &viaHelp, &errb); code != 0 || viaHelp.String() != out.String() {
			t.Errorf("keyward help %v: exit %d, %q", c, code, viaHelp.String())
		}
	}
	// Only the command's own flags, with their defaults.
	for _, c := range []struct {
		args      []string
		has, hasn []string
	}{
		{[]string{"serve"}, []string{"-listen", "(default 127.0.0.1:8080)", "-tls-cert", "-client-ca", "-access-log", "KEYWARD_LISTEN"}, nil},
		{[]string{"init"}, []string{"-data", "(default ./keyward-data)", "-account"}, []string{"-listen", "-tls-cert", "-token-ttl"}},
		{[]string{"audit", "verify"}, []string{"-data"}, []string{"-listen", "-account"}},
		{[]string{"user", "create"}, []string{"keyward user create --login", "-login", "-password-stdin", "-output"}, []string{"-permission", "-grace", "user delete"}},
		{[]string{"apikey", "rotate"}, []string{"-grace"}, []string{"-valid-sources", "apikey create"}},
		{[]string{"login"}, []string{"-api-key-stdin", "-totp", "-login"}, []string{"-output"}},
	} {
		_, out, _ := cli(t, append(c.args, "--help")...)
		for _, s := range c.has {
			if !strings.Contains(out, s) {
				t.Errorf("%v --help lacks %q:\n%s", c.args, s, out)
			}
		}
		for _, s := range c.hasn {
			if strings.Contains(out, s) {
				t.Errorf("%v --help shows %q, not its own:\n%s", c.args, s, out)
			}
		}
	}
	if code, _, _ := cli(t, "help", "nonsense"); code != 2 {
		t.Errorf("help nonsense: exit %d", code)
	}
	if code, out, _ := cli(t, "help", "user"); code != 0 || !strings.Contains(out, "keyward user mfa") {
		t.Errorf("help user: exit %d, %q", code, out)
	}
}

// TestLoginSession: login with a password on standard input or an API key,
// the token stored 0600 under XDG_CONFIG_HOME and used by other commands;
// whoami, token, logout; exit codes.
func TestLoginSession(t *testing.T) {
	srv := startServer(t)
	cfgHome := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfgHome)
	const pw = "Correct-Horse-42-battery"
	withStdin(t, pw+"\n")
	var alice struct {
		ID string `json:"id"`
	}
	cliJSON(t, &alice, "user", "create", "--login", "alice", "--password-stdin")
	t.Setenv("KEYWARD_TOKEN", "")

	if code, out, errs := cli(t, "whoami"); code != 1 || out != "" || !strings.Contains(errs, "not logged in") {
		t.Errorf("whoami before login: exit %d, %q %q", code, out, errs)
	}
	if code, _, errs := cli(t, "user", "list"); code != 2 || !strings.Contains(errs, "keyward login") {
		t.Errorf("user list before login: exit %d, %q", code, errs)
	}
	if code, _, _ := cli(t, "login"); code != 2 {
		t.Errorf("login without --login: exit %d", code)
	}
	withStdin(t, "Wrong-Horse-43-battery\n")
	if code, _, _ := cli(t, "login", "--login", "alice"); code != 1 {
		t.Errorf("wrong password: exit %d", code)
	}
	withStdin(t, pw+"\n")
	cliOK(t, "login", "--login", "alice", "--account", "acme")
	file := filepath.Join(cfgHome, "keyward", "sessions.json")
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("session file: %v %v", fi, err)
	}
	if di, _ := os.Stat(filepath.Dir(file)); di.Mode().Perm() != 0o700 {
		t.Errorf("config folder mode %v", di.Mode().Perm())
	}
	b, _ := os.ReadFile(file)
	if strings.Contains(string(b), pw) || !strings.Contains(string(b), srv.URL) {
		t.Errorf("session file: %s", b)
	}
	if out := cliOK(t, "whoami"); out != "alice\n" {
		t.Errorf("whoami: %q", out)
	}
	tok := strings.TrimSpace(cliOK(t, "token"))
	if tok == "" || strings.HasPrefix(tok, "kw_") {
		t.Errorf("token: %q", tok)
	}
	// Other commands use the stored token.
	if out := cliOK(t, "user", "show", alice.ID); !strings.Contains(out, "alice") {
		t.Errorf("user show with the stored token: %q", out)
	}
	cliOK(t, "logout")
	if code, _, _ := cli(t, "whoami"); code != 1 {
		t.Errorf("whoami after logout: exit %d", code)
	}
	if code, _, _ := cli(t, "token"); code != 1 {
		t.Errorf("token after logout: exit %d", code)
	}
	// An API key on standard input.
	withStdin(t, srv.Key+"\n")
	cliOK(t, "login", "--api-key-stdin")
	if out := cliOK(t, "whoami"); out != "admin\n" {
		t.Errorf("whoami after --api-key-stdin: %q", out)
	}
	b, _ = os.ReadFile(file)
	if strings.Contains(string(b), srv.Key) {
		t.Error("the API key is stored")
	}
	// With MFA: refused without --totp, logged in with it.
	t.Setenv("KEYWARD_TOKEN", srv.Key)
	out := cliOK(t, "user", "mfa", "enable", "alice")
	m := regexp.MustCompile(`secret=([A-Z2-7]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("mfa enable: %s", out)
	}
	code, _ := totp.GenerateCode(m[1], time.Now())
	cliOK(t, "user", "mfa", "verify", "alice", code)
	t.Setenv("KEYWARD_TOKEN", "")
	withStdin(t, pw+"\n")
	if code, _, errs := cli(t, "login", "--login", "alice"); code != 1 || !strings.Contains(strings.ToLower(errs), "mfa") && !strings.Contains(errs, "code") {
		t.Errorf("login without --totp for a user with MFA: exit %d, %q", code, errs)
	}
	next, _ := totp.GenerateCode(m[1], time.Now().Add(30*time.Second)) // a code not spent yet
	withStdin(t, pw+"\n")
	cliOK(t, "login", "--login", "alice", "--totp", next)
	if out := cliOK(t, "whoami"); out != "alice\n" {
		t.Errorf("whoami after an MFA login: %q", out)
	}
	// keyward token with KEYWARD_TOKEN an API key: a new access token.
	t.Setenv("KEYWARD_TOKEN", srv.Key)
	if out := strings.TrimSpace(cliOK(t, "token")); out == "" || strings.HasPrefix(out, "kw_") {
		t.Errorf("token from an API key: %q", out)
	}
}

// TestOutputFormats: --output table|json; JSON by default off a terminal;
// a bad value is a usage error.
func TestOutputFormats(t *testing.T) {
	startServer(t)
	var out, errb bytes.Buffer
	if code := run([]string{"user", "list"}, &out, &errb); code != 0 || !json.Valid(out.Bytes()) {
		t.Errorf("default off a terminal: exit %d, %q", code, out.String())
	}
	if out := cliOK(t, "user", "list", "--output", "json"); !json.Valid([]byte(out)) {
		t.Errorf("--output json: %q", out)
	}
	if out := cliOK(t, "user", "list", "--output", "table"); !strings.HasPrefix(out, "ID") {
		t.Errorf("--output table: %q", out)
	}
	if code, _, errs := cli(t, "user", "list", "--output", "yaml"); code != 2 || !strings.Contains(errs, "table or json") {
		t.Errorf("--output yaml: exit %d, %q", code, errs)
	}
}

// TestPermissionDeniedDataFolder: a data folder this user may not use is
// "permission denied: PATH", not SQLite's code 14; the database, the
// journal files and the key are 0600 whatever the umask.
func TestPermissionDeniedDataFolder(t *testing.T) {
	bin := keywardBinary(t)
	base, err := os.MkdirTemp("", "keyward-perm-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(base)
	os.Chmod(base, 0o755)
	data := filepath.Join(base, "data")
	old := syscall.Umask(0)
	cmd := exec.Command(bin, "init", "--data", data, "--account", "acme")
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	syscall.Umask(old)
	if err != nil {
		t.Fatalf("init: %v %s", err, out)
	}
	for _, name := range []string{"master.key", "keyward.db", "keyward.db-audit1", "keyward.db-audit2"} {
		if fi, err := os.Stat(filepath.Join(data, name)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want 0600 under umask 0", name, fi, err)
		}
	}
	as := func(c *exec.Cmd) {
		if os.Getuid() == 0 {
			c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		}
	}
	if os.Getuid() != 0 {
		os.Chmod(data, 0)
		defer os.Chmod(data, 0o700)
	}
	for _, args := range [][]string{
		{"audit", "verify", "--data", data},
		{"serve", "--data", data, "--listen", "127.0.0.1:0"},
		{"admin", "recover", "--data", data, "--account", "acme"},
		{"init", "--data", data},
	} {
		c := exec.Command(bin, args...)
		c.Env = cleanEnv()
		as(c)
		out, err := c.CombinedOutput()
		if err == nil || c.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), "permission denied: "+data) || strings.Contains(string(out), "(14)") {
			t.Errorf("%v as another user: %v %s", args, err, out)
		}
	}
}
