// Package e2ekit is what every end-to-end package shares: the keyward
// binary built once per package, a process-output buffer and a free
// loopback port.
package e2ekit

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
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
func FreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
