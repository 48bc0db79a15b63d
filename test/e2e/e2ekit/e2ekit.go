// Package e2ekit is what every end-to-end package shares: the keyward
// binary built once per package, a process-output buffer, a free loopback
// port and a running keyward serve.
package e2ekit

import (
	"bytes"
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

// Root is the repository's root, set by Run.
var Root string

// Run builds ./cmd/keyward into a temporary folder, sets *binary to it, runs
// the package's tests and removes the folder. It is a TestMain body:
// os.Exit(e2ekit.Run(m, "conjur", &binary)).
func Run(m *testing.M, name string, binary *string) int {
	dir, err := os.MkdirTemp("", "keyward-e2e-"+name+"-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	Root, err = filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	*binary = filepath.Join(dir, "keyward")
	build := exec.Command("go", "build", "-o", *binary, "./cmd/keyward")
	build.Dir = Root
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build keyward:", err)
		return 1
	}
	return m.Run()
}

// SyncBuffer collects a process's output safely while it runs.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// FreePort is a loopback TCP port free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ServeConfig is how Serve runs keyward serve.
type ServeConfig struct {
	Data, Account string
	Logs          *SyncBuffer // the process's stdout and stderr (and the failure messages')
	Env           []string    // added to the process's environment
	Args          []string    // flags after the common ones (--tls-cert …)
	// HTTPS: the server speaks TLS; Client (then required) trusts its CA.
	HTTPS  bool
	Client *http.Client // polls /readyz; nil: http.DefaultClient
	// StopWait is how long the process may take to exit on SIGTERM before
	// it is killed: 20 s when zero. FailSlowStop fails the test then.
	StopWait     time.Duration
	FailSlowStop bool
}

// Server is a keyward serve process started by Serve.
type Server struct {
	URL string // http(s)://127.0.0.1:PORT
	// Stop sends SIGTERM and waits for the process to exit (see
	// ServeConfig.StopWait); a second call does nothing. Serve registers it
	// as a cleanup.
	Stop func()
}

// Serve runs bin serve --data --listen (a free loopback port) --account
// --log-level debug and c.Args, and waits up to 20 s for /readyz to answer
// 200; a process that exits first, or is not ready by then, fails the test
// with its output.
func Serve(t testing.TB, bin string, c ServeConfig) Server {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	srv := Server{URL: "http://" + addr}
	if c.HTTPS {
		srv.URL = "https://" + addr
	}
	args := append([]string{"serve", "--data", c.Data, "--listen", addr, "--account", c.Account, "--log-level", "debug"}, c.Args...)
	serve := exec.Command(bin, args...)
	serve.Env = append(os.Environ(), c.Env...)
	serve.Stdout, serve.Stderr = c.Logs, c.Logs
	if err := serve.Start(); err != nil {
		t.Fatalf("keyward serve: %v", err)
	}
	// exited is closed once the process has exited, waitErr set before: both
	// the readiness loop and Stop may wait for it.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = serve.Wait(); close(exited) }()
	wait := c.StopWait
	if wait == 0 {
		wait = 20 * time.Second
	}
	var once sync.Once
	srv.Stop = func() {
		once.Do(func() {
			_ = serve.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(wait):
				_ = serve.Process.Kill()
				<-exited
				if c.FailSlowStop {
					t.Errorf("keyward serve did not stop on SIGTERM")
				}
			}
		})
	}
	t.Cleanup(srv.Stop)
	client := c.Client
	if client == nil {
		client = http.DefaultClient
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := client.Get(srv.URL + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return srv
			}
		}
		select {
		case <-exited:
			t.Fatalf("keyward serve exited: %v\n%s", waitErr, c.Logs)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("keyward serve not ready: %v\n%s", err, c.Logs)
		}
	}
}
