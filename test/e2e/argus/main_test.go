package argus

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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
	dir, err := os.MkdirTemp("", "keyward-e2e-argus-")
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
