package conjur

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/test/e2e/e2ekit"
)

const account = "myorg"

// binary is the keyward binary built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int { return e2ekit.Run(m, "conjur", &binary) }

// keyward is a running keyward serve process.
type keyward struct {
	url      string
	adminKey string
	logs     *e2ekit.SyncBuffer // stderr of init and serve
}

// start runs keyward init, then keyward serve on a free loopback port with
// debug logs, and waits for /readyz. env adds environment variables.
func start(t *testing.T, env ...string) *keyward {
	t.Helper()
	data := filepath.Join(t.TempDir(), "data")
	kw := &keyward{logs: &e2ekit.SyncBuffer{}}
	var out bytes.Buffer
	initCmd := exec.Command(binary, "init", "--data", data, "--account", account)
	initCmd.Stdout, initCmd.Stderr = &out, kw.logs
	if err := initCmd.Run(); err != nil {
		t.Fatalf("keyward init: %v\n%s", err, kw.logs)
	}
	var ans struct {
		Account, Login string
		APIKey         string `json:"api_key"`
	}
	if err := json.Unmarshal(out.Bytes(), &ans); err != nil || ans.APIKey == "" || ans.Account != account {
		t.Fatalf("keyward init answered %q: %v", out.String(), err)
	}
	kw.adminKey = ans.APIKey
	kw.url = e2ekit.Serve(t, binary, e2ekit.ServeConfig{Data: data, Account: account, Logs: kw.logs, Env: env, FailSlowStop: true}).URL
	return kw
}

// call sends a request to keyward; headers are name, value pairs. It
// returns the status and body.
func (kw *keyward) call(t *testing.T, method, path string, body io.Reader, headers ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, kw.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

// tokenHeader is Conjur's Authorization value for a raw token.
func tokenHeader(tok []byte) string {
	return `Token token="` + base64.StdEncoding.EncodeToString(tok) + `"`
}

// native calls the native API with auth and decodes its JSON answer,
// failing unless the status is want.
func (kw *keyward) native(t *testing.T, auth, method, path string, body any, want int) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	status, out := kw.call(t, method, path, rd, "Authorization", auth, "Content-Type", "application/json")
	if status != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, status, want, out)
	}
	m := map[string]any{}
	if strings.TrimSpace(out) != "" {
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, out)
		}
	}
	return m
}

// noSecrets fails if any secret appears in the server's logs.
func (kw *keyward) noSecrets(t *testing.T, secrets map[string]string) {
	t.Helper()
	logs := kw.logs.String()
	if len(logs) < 100 {
		t.Fatalf("suspiciously few logs captured (%d bytes)", len(logs))
	}
	for name, s := range secrets {
		if s == "" {
			t.Fatalf("secret %s is empty: the test lost it", name)
		}
		if strings.Contains(logs, s) {
			t.Errorf("the logs contain %s", name)
		}
		if len(s) > 20 {
			if b64 := base64.StdEncoding.EncodeToString([]byte(s)); strings.Contains(logs, b64[:len(b64)-4]) {
				t.Errorf("the logs contain %s in base64", name)
			}
		}
	}
}
