package psauth

import (
	"bytes"
	"crypto/tls"
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

// binary is the keyward binary built once by TestMain.
var binary string

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int { return e2ekit.Run(m, "psauth", &binary) }

// keyward is a running keyward serve process over TLS.
type keyward struct {
	url      string // https://127.0.0.1:PORT
	adminKey string
	ca       *testCA
	logs     *e2ekit.SyncBuffer
	admin    *http.Client
}

// start runs keyward init, then keyward serve with --tls-cert, --tls-key and
// --client-ca of a test CA, and waits for /readyz over HTTPS.
func start(t *testing.T, ca *testCA) *keyward {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	kw := &keyward{ca: ca, logs: &e2ekit.SyncBuffer{}}
	certPEM, keyPEM := ca.issue(t, "keyward", true)
	certFile, keyFile, caFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.pem")
	for f, b := range map[string]string{certFile: certPEM, keyFile: keyPEM, caFile: string(ca.pem)} {
		if err := os.WriteFile(f, []byte(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
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
	kw.url = "https://" + addr
	serve := exec.Command(binary, "serve", "--data", data, "--listen", addr, "--account", account, "--log-level", "debug",
		"--tls-cert", certFile, "--tls-key", keyFile, "--client-ca", caFile)
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
	kw.admin = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool()}}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("keyward serve exited: %v\n%s", err, kw.logs)
		default:
		}
		if res, err := kw.admin.Get(kw.url + "/readyz"); err == nil {
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

// native calls the native API as the admin and decodes the answer.
func (kw *keyward) native(t *testing.T, method, path string, body any, want int, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, kw.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+kw.adminKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := kw.admin.Do(req)
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
