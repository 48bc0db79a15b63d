package server_test

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/keyward/keyward/internal/server"
)

// keywardBin is the binary built once for this package's tests.
var keywardBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "keyward-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	keywardBin = filepath.Join(dir, "keyward")
	out, err := exec.Command("go", "build", "-o", keywardBin, "github.com/keyward/keyward/cmd/keyward").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build keyward: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cleanEnv is the environment without KEYWARD_ settings, so only flags count.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KEYWARD_") && !strings.HasPrefix(kv, "CONJUR_") {
			env = append(env, kv)
		}
	}
	return env
}

// run runs a keyward command to its end.
func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(keywardBin, args...)
	cmd.Env = cleanEnv()
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("keyward %v: %v", args, err)
		}
	}
	return o.String(), e.String(), cmd.ProcessState.ExitCode()
}

type initAnswer struct {
	Account string `json:"account"`
	Login   string `json:"login"`
	APIKey  string `json:"api_key"`
}

// initData runs keyward init and checks its stdout is exactly one JSON object.
func initData(t *testing.T, dir string) initAnswer {
	t.Helper()
	out, errOut, code := run(t, "init", "--data", dir, "--account", "acme")
	if code != 0 {
		t.Fatalf("init exited %d: %s", code, errOut)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	var a initAnswer
	if err := dec.Decode(&a); err != nil {
		t.Fatalf("init stdout is not the answer object: %v: %q", err, out)
	}
	if rest, _ := io.ReadAll(dec.Buffered()); strings.TrimSpace(string(rest)) != "" || strings.Count(out, "\n") != 1 {
		t.Fatalf("init stdout holds more than one JSON object: %q", out)
	}
	var raw map[string]any
	_ = json.Unmarshal([]byte(out), &raw)
	if len(raw) != 3 || a.Account != "acme" || a.Login != "admin" || !strings.HasPrefix(a.APIKey, "kw_") {
		t.Fatalf("init answer %q", out)
	}
	return a
}

// proc is a running keyward serve.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	base   string
	mu     sync.Mutex
	stderr bytes.Buffer
	stdout string // the file its standard output goes to
	done   chan struct{}
}

// serve starts keyward serve on dir at a free loopback port and waits for
// it to listen (read from its log, so no polling).
func serve(t *testing.T, dir string) *proc {
	t.Helper()
	cmd := exec.Command(keywardBin, "serve", "--data", dir, "--listen", "127.0.0.1:0", "--account", "acme")
	cmd.Env = cleanEnv()
	out, err := os.CreateTemp(t.TempDir(), "stdout")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout = out
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, stdout: out.Name(), done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		re := regexp.MustCompile(`keyward listening.*?addr[=":]+([0-9.:\[\]a-f]+)`)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.stderr.WriteString(line + "\n")
			p.mu.Unlock()
			if m := re.FindStringSubmatch(line); m != nil {
				addr <- m[1]
			}
		}
	}()
	go func() {
		_ = cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case a := <-addr:
		p.base = "http://" + a
	case <-p.done:
		t.Fatalf("keyward serve exited early: %s", p.logs())
	case <-time.After(30 * time.Second):
		t.Fatalf("keyward serve did not start: %s", p.logs())
	}
	return p
}

func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// kill9 stops the process at once, as a crash would.
func (p *proc) kill9() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatal(err)
	}
	<-p.done
}

func (p *proc) do(method, path, auth string, body any) (int, map[string]any) {
	p.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, p.base+path, rd)
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(res.Body)
	_ = json.Unmarshal(b, &m)
	return res.StatusCode, m
}

// TestWritesSurviveKill9 kills the server the moment a write is answered
// 2xx, restarts it, and finds the write there; the audit chain verifies.
func TestWritesSurviveKill9(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	admin := initData(t, dir).APIKey

	type made struct{ userID, userKey, keyID, key string }
	var all []made
	for i := range 3 {
		p := serve(t, dir)
		// Earlier writes are all there after the crash.
		for j, m := range all {
			if st, u := p.do("GET", "/api/v1/users/"+m.userID, admin, nil); st != 200 || u["login"] != fmt.Sprintf("crash-%d", j) {
				t.Fatalf("after restart %d, user %d: %d %v", i, j, st, u)
			}
			for _, k := range []string{m.userKey, m.key} {
				if st, v := p.do("POST", "/api/v1/api-keys/verify", "", map[string]any{"key": k}); st != 200 || v["valid"] != true {
					t.Fatalf("after restart %d, key of user %d: %d %v", i, j, st, v)
				}
			}
		}
		st, u := p.do("POST", "/api/v1/users", admin, map[string]any{"login": fmt.Sprintf("crash-%d", i), "kind": "user"})
		if st != 201 {
			t.Fatalf("create user: %d %v", st, u)
		}
		m := made{userID: u["id"].(string), userKey: u["api_key"].(string)}
		st, k := p.do("POST", "/api/v1/users/"+m.userID+"/api-keys", admin, map[string]any{"description": "made before a crash"})
		if st != 201 {
			t.Fatalf("create key: %d %v", st, k)
		}
		m.keyID, m.key = k["id"].(string), k["key"].(string)
		// A rotation answered 200 is the one that counts after the crash.
		st, k = p.do("POST", "/api/v1/api-keys/"+m.keyID+"/rotate", admin, map[string]any{})
		if st != 200 {
			t.Fatalf("rotate: %d %v", st, k)
		}
		old := m.key
		m.key = k["key"].(string)
		p.kill9()
		all = append(all, m)

		p2 := serve(t, dir)
		if st, v := p2.do("POST", "/api/v1/api-keys/verify", "", map[string]any{"key": old}); st != 200 || v["valid"] != false {
			t.Fatalf("a rotated-away secret works after a crash: %v", v)
		}
		// A revoke answered 204, then a crash: still revoked.
		st, k2 := p2.do("POST", "/api/v1/users/"+m.userID+"/api-keys", admin, map[string]any{})
		if st != 201 {
			t.Fatalf("second key: %d", st)
		}
		if st, _ := p2.do("DELETE", "/api/v1/api-keys/"+k2["id"].(string), admin, nil); st != 204 {
			t.Fatalf("revoke: %d", st)
		}
		p2.kill9()
		p3 := serve(t, dir)
		if st, v := p3.do("POST", "/api/v1/api-keys/verify", "", map[string]any{"key": k2["key"]}); st != 200 || v["valid"] != false || v["code"] != "revoked" {
			t.Fatalf("a key revoked before a crash after it: %d %v", st, v)
		}
		p3.kill9()
	}
	p := serve(t, dir)
	st, l := p.do("GET", "/api/v1/users?search=crash-", admin, nil)
	if st != 200 || l["total"].(float64) != 3 {
		t.Fatalf("users after crashes: %d %v", st, l)
	}
	p.kill9()

	out, errOut, code := run(t, "audit", "verify", "--data", dir)
	if code != 0 {
		t.Fatalf("audit verify after kill -9 exited %d: %s %s", code, out, errOut)
	}
}

// TestVerificationsSurviveKill9 kills the server the moment a verification
// is answered: every verification answered has its audit record after the
// restart, and the chain verifies, offline and beside a running server.
func TestVerificationsSurviveKill9(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	admin := initData(t, dir).APIKey
	p := serve(t, dir)
	st, u := p.do("POST", "/api/v1/users", admin, map[string]any{"login": "verified", "kind": "host"})
	if st != 201 {
		t.Fatalf("create host: %d %v", st, u)
	}
	st, k := p.do("POST", "/api/v1/users/"+u["id"].(string)+"/api-keys", admin, map[string]any{})
	if st != 201 {
		t.Fatalf("create key: %d %v", st, k)
	}
	const n = 40
	for i := range n {
		if st, v := p.do("POST", "/api/v1/api-keys/verify", "", map[string]any{"key": k["key"]}); st != 200 || v["valid"] != true {
			t.Fatalf("verify %d: %d %v", i, st, v)
		}
	}
	p.kill9()

	out, errOut, code := run(t, "audit", "verify", "--data", dir)
	if code != 0 || !strings.Contains(out, "intact") {
		t.Fatalf("audit verify after kill -9 exited %d: %s %s", code, out, errOut)
	}
	p = serve(t, dir)
	st, l := p.do("GET", "/api/v1/audit?limit=1000", admin, nil)
	if st != 200 {
		t.Fatalf("audit list: %d %v", st, l)
	}
	var got int
	for _, it := range l["items"].([]any) {
		r := it.(map[string]any)
		if r["event"] == "apikey.verify" && r["key_id"] == k["id"] && r["outcome"] == "success" {
			got++
		}
	}
	if got != n {
		t.Fatalf("%d verifications answered before kill -9, %d audited after it", n, got)
	}
	// Beside the running server: a second server is refused, audit verify
	// reads the table.
	cmd := exec.Command(keywardBin, "serve", "--data", dir, "--listen", "127.0.0.1:0")
	cmd.Env = cleanEnv()
	if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "in use by another keyward process") {
		t.Fatalf("second serve on one folder: %v %s; want a refusal saying it is in use", err, b)
	}
	out, errOut, code = run(t, "audit", "verify", "--data", dir)
	if code != 0 || !strings.Contains(out, "intact") || !strings.Contains(errOut, "running keyward") {
		t.Fatalf("audit verify beside a running server exited %d: %s %s", code, out, errOut)
	}
}

// TestAuditVerifyFindsTampering alters and removes rows of the audit table
// and expects audit verify to fail naming the record.
func TestAuditVerifyFindsTampering(t *testing.T) {
	t.Parallel()
	// pick chooses the record to tamper with; sql changes it (seq as ?1).
	for _, tc := range []struct {
		name, pick, sql string
		tail            bool
	}{
		{"altered actor", "SELECT 3", "UPDATE audit_events SET actor = (SELECT max(id) FROM audit_names) WHERE seq = ?", false},
		{"failure made success", "SELECT min(seq) FROM audit_log WHERE outcome = 'failure'",
			"UPDATE audit_events SET outcome = (SELECT id FROM audit_names WHERE name = 'success'), reason = NULL WHERE seq = ?", false},
		{"altered time", "SELECT 5", "UPDATE audit_events SET time_us = time_us + 1 WHERE seq = ?", false},
		{"removed row", "SELECT 2", "DELETE FROM audit_events WHERE seq = ?", false},
		{"removed tail", "SELECT max(seq) FROM audit_events", "DELETE FROM audit_events WHERE seq = ?", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			admin := initData(t, dir).APIKey
			p := serve(t, dir)
			p.do("POST", "/api/v1/token", "", map[string]any{"login": "ghost", "password": "Nope-Nope-1234"})
			p.do("POST", "/api/v1/users", admin, map[string]any{"login": "x"})
			p.do("POST", "/api/v1/api-keys/verify", "", map[string]any{"key": admin})
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			<-p.done
			if out, e, code := run(t, "audit", "verify", "--data", dir); code != 0 {
				t.Fatalf("untouched chain fails: %s %s", out, e)
			}
			db, err := sql.Open("sqlite", filepath.Join(dir, server.DBFile))
			if err != nil {
				t.Fatal(err)
			}
			var n int
			if err := db.QueryRow("SELECT count(*) FROM audit_events").Scan(&n); err != nil || n < 6 {
				t.Fatalf("audit rows: %d %v", n, err)
			}
			var seq int
			if err := db.QueryRow(tc.pick).Scan(&seq); err != nil {
				t.Fatal(err)
			}
			res, err := db.Exec(tc.sql, seq)
			if err != nil {
				t.Fatal(err)
			}
			if k, _ := res.RowsAffected(); k != 1 {
				t.Fatalf("tamper changed %d rows", k)
			}
			db.Close()
			out, errOut, code := run(t, "audit", "verify", "--data", dir)
			if code == 0 {
				t.Fatalf("audit verify passed a tampered chain: %s", out)
			}
			want := fmt.Sprintf("record %d", seq)
			if tc.tail {
				want = fmt.Sprintf("record %d", n) // the head names the removed last record
			}
			if !strings.Contains(out+errOut, want) {
				t.Errorf("audit verify does not name %s: %s %s", want, out, errOut)
			}
		})
	}
}

func TestInitTwiceChangesNothing(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	a := initData(t, dir)
	fi, err := os.Stat(filepath.Join(dir, server.MasterKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("master.key mode %v, want 0600", fi.Mode().Perm())
	}
	snapshot := func() map[string]string {
		m := map[string]string{}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			info, _ := e.Info()
			m[e.Name()] = fmt.Sprintf("%x|%v|%v", b, info.ModTime(), info.Mode())
		}
		return m
	}
	before := snapshot()
	out, errOut, code := run(t, "init", "--data", dir, "--account", "other")
	if code == 0 {
		t.Fatalf("second init succeeded: %s", out)
	}
	if strings.TrimSpace(out) != "" {
		t.Errorf("second init wrote to stdout: %q", out)
	}
	if !strings.Contains(errOut, "initialised") {
		t.Errorf("second init's message is unclear: %q", errOut)
	}
	after := snapshot()
	if len(after) != len(before) {
		t.Errorf("files %d → %d", len(before), len(after))
	}
	for name, v := range before {
		if after[name] != v {
			t.Errorf("second init changed %s", name)
		}
	}
	// The first admin key still works.
	p := serve(t, dir)
	if st, v := p.do("POST", "/api/v1/api-keys/verify", "", map[string]any{"key": a.APIKey}); st != 200 || v["valid"] != true {
		t.Errorf("admin key after a refused init: %v", v)
	}
}

func TestServeOnEmptyFolderAndSIGTERM(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.Command(keywardBin, "serve", "--data", dir, "--listen", "127.0.0.1:0")
	cmd.Env = cleanEnv()
	// A file, not a buffer: exec copies into a buffer from a pipe in its
	// own goroutine, which may still be behind when the log line arrives.
	outFile, err := os.CreateTemp(t.TempDir(), "stdout")
	if err != nil {
		t.Fatal(err)
	}
	defer outFile.Close()
	cmd.Stdout = outFile
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); pw.Close() }()
	addr := make(chan string, 1)
	var logMu sync.Mutex
	var logs strings.Builder
	go func() {
		sc := bufio.NewScanner(pr)
		re := regexp.MustCompile(`keyward listening.*?addr[=":]+([0-9.:\[\]a-f]+)`)
		for sc.Scan() {
			logMu.Lock()
			logs.WriteString(sc.Text() + "\n")
			logMu.Unlock()
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("serve did not start")
	}
	// Standard output is not a terminal: the key is in a file only
	// keyward's user may read, and the log says where.
	if printed, _ := os.ReadFile(outFile.Name()); len(printed) != 0 {
		t.Errorf("serve with stdout not a terminal printed %q", printed)
	}
	keyFile := filepath.Join(dir, "initial-admin-key")
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	a := initAnswer{Login: "admin", APIKey: strings.TrimSpace(string(kb))}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 || !strings.HasPrefix(a.APIKey, "kw_") {
		t.Fatalf("initial-admin-key: %v %v %q", fi.Mode(), err, kb)
	}
	logMu.Lock()
	if !strings.Contains(logs.String(), keyFile) {
		t.Errorf("the log does not say where the key is: %s", logs.String())
	}
	logMu.Unlock()
	res, err := http.Get(base + "/readyz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", err, res)
	}
	res.Body.Close()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("SIGTERM: exit %v", err)
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("serve did not stop on SIGTERM")
	}
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(logs.String(), "keyward stopped") {
		t.Errorf("no graceful stop in the log: %s", logs.String())
	}
	if strings.Contains(logs.String(), a.APIKey) {
		t.Error("the admin key is in the log")
	}
	// A second serve on the now-initialised folder keeps the admin and
	// prints nothing: the credentials are shown once.
	p := serve(t, dir)
	if st, v := p.do("POST", "/api/v1/api-keys/verify", "", map[string]any{"key": a.APIKey}); st != 200 || v["valid"] != true {
		t.Errorf("admin key after restart: %v", v)
	}
	p.kill9()
	if b, err := os.ReadFile(p.stdout); err != nil || len(b) != 0 {
		t.Errorf("a restart printed %q (%v), want nothing", b, err)
	}
}
