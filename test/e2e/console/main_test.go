// Package console is the admin console's end-to-end test: the built binary,
// driven through real headless Chromium (Debian's chromium) with chromedp.
package console

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/test/e2e/e2ekit"
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
	kw.url = e2ekit.Serve(t, binary, e2ekit.ServeConfig{Data: data, Account: account, Logs: kw.logs,
		Client: kw.hc, StopWait: 10 * time.Second}).URL
	return kw
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
