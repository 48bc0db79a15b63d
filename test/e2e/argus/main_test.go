package argus

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/keyward/keyward/test/e2e/e2ekit"
)

const account = "acme"

// binary is the keyward binary built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int { return e2ekit.Run(m, "argus", &binary) }

// keyward is a running keyward serve process.
type keyward struct {
	url      string
	adminKey string
	logs     *e2ekit.SyncBuffer // stderr of init and serve
	data     string
	env      []string
	stop     func() // stops the serve process and waits for it
}

// start runs keyward init, then keyward serve on a free loopback port with
// debug logs, and waits for /readyz. env adds environment variables.
func start(t *testing.T, env ...string) *keyward {
	t.Helper()
	data := filepath.Join(t.TempDir(), "data")
	kw := &keyward{logs: &e2ekit.SyncBuffer{}, data: data, env: env}
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
	kw.serve(t)
	return kw
}

// restart stops keyward serve (SIGTERM) and starts it again on the same
// data folder, on a new port.
func (kw *keyward) restart(t *testing.T) {
	t.Helper()
	kw.stop()
	kw.serve(t)
}

// serve runs keyward serve on the data folder and waits for /readyz.
func (kw *keyward) serve(t *testing.T) {
	t.Helper()
	srv := e2ekit.Serve(t, binary, e2ekit.ServeConfig{Data: kw.data, Account: account, Logs: kw.logs, Env: kw.env, FailSlowStop: true})
	kw.url, kw.stop = srv.URL, srv.Stop
}
