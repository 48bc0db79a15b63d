package psauth

import (
	"bytes"
	"crypto/tls"
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
	kw.admin = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool()}}}
	kw.url = e2ekit.Serve(t, binary, e2ekit.ServeConfig{Data: data, Account: account, Logs: kw.logs,
		Args:  []string{"--tls-cert", certFile, "--tls-key", keyFile, "--client-ca", caFile},
		HTTPS: true, Client: kw.admin, StopWait: 10 * time.Second}).URL
	return kw
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
