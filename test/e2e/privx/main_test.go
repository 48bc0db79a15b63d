package privx

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const account = "acme"

// binary is the keyward binary built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "keyward-e2e-privx-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	binary = filepath.Join(dir, "keyward")
	build := exec.Command("go", "build", "-o", binary, "./cmd/keyward")
	build.Dir = root
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build keyward:", err)
		return 1
	}
	return m.Run()
}

// syncBuffer collects a process's output safely while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// keyward is a running keyward serve process.
type keyward struct {
	url      string
	adminKey string
	logs     *syncBuffer // stderr of init and serve
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs keyward init, then keyward serve on a free loopback port with
// debug logs, and waits for /readyz. env adds environment variables.
func start(t *testing.T, env ...string) *keyward {
	t.Helper()
	data := filepath.Join(t.TempDir(), "data")
	kw := &keyward{logs: &syncBuffer{}}
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
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	kw.url = "http://" + addr
	serve := exec.Command(binary, "serve", "--data", data, "--listen", addr, "--account", account, "--log-level", "debug")
	serve.Env = append(os.Environ(), env...)
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
		case <-time.After(20 * time.Second):
			_ = serve.Process.Kill()
			<-exited
			t.Errorf("keyward serve did not stop on SIGTERM")
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get(kw.url + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return kw
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("keyward serve exited: %v\n%s", err, kw.logs)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("keyward serve not ready: %v\n%s", err, kw.logs)
		}
	}
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
