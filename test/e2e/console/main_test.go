// Package console is the admin console's end-to-end test: the built binary,
// driven through real headless Chromium (Debian's chromium) with chromedp.
package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/keyward/keyward/test/e2e/e2ekit"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const account = "acme"

var binary string

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int { return e2ekit.Run(m, "console", &binary) }

type keyward struct {
	url      string
	adminKey string
	logs     *e2ekit.SyncBuffer
	hc       *http.Client
}

// start runs keyward init and keyward serve on a temporary folder.
func start(t *testing.T) *keyward {
	t.Helper()
	data := filepath.Join(t.TempDir(), "data")
	kw := &keyward{logs: &e2ekit.SyncBuffer{}, hc: &http.Client{Timeout: 10 * time.Second}}
	var out bytes.Buffer
	initCmd := exec.Command(binary, "init", "--data", data, "--account", account)
	initCmd.Stdout, initCmd.Stderr = &out, kw.logs
	if err := initCmd.Run(); err != nil {
		t.Fatalf("keyward init: %v\n%s", err, kw.logs)
	}
	var ans struct {
		APIKey string `json:"api_key"`
	}
	if err := json.Unmarshal(out.Bytes(), &ans); err != nil || ans.APIKey == "" {
		b, ferr := os.ReadFile(filepath.Join(data, "initial-admin-key"))
		if ferr != nil {
			t.Fatalf("keyward init answered %q: %v", out.String(), err)
		}
		ans.APIKey = strings.TrimSpace(string(b))
	}
	kw.adminKey = ans.APIKey
	addr := fmt.Sprintf("127.0.0.1:%d", e2ekit.FreePort(t))
	kw.url = "http://" + addr
	serve := exec.Command(binary, "serve", "--data", data, "--listen", addr, "--account", account, "--log-level", "debug")
	serve.Stdout, serve.Stderr = kw.logs, kw.logs
	if err := serve.Start(); err != nil {
		t.Fatalf("keyward serve: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- serve.Wait() }()
	t.Cleanup(func() {
		_ = serve.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = serve.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("keyward serve exited: %v\n%s", err, kw.logs)
		default:
		}
		if res, err := kw.hc.Get(kw.url + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return kw
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("keyward did not get ready\n%s", kw.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// native calls the native API as the initial admin (its API key).
func (kw *keyward) native(t *testing.T, method, path string, body any, want int, out any) {
	t.Helper()
	kw.nativeAs(t, kw.adminKey, method, path, body, want, out)
}

// nativeAs calls the native API with a bearer credential.
func (kw *keyward) nativeAs(t *testing.T, auth, method, path string, body any, want int, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, kw.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+auth)
	req.Header.Set("Content-Type", "application/json")
	res, err := kw.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, res.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// signAppin is PS-Auth's sign-in with a key, run-as user and optional XFF.
func (kw *keyward) signAppin(t *testing.T, key, runas, xff string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", kw.url+"/BeyondTrust/api/public/v3/Auth/SignAppin", nil)
	req.Header.Set("Authorization", "PS-Auth key="+key+"; runas="+runas+";")
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	res, err := kw.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}
