package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer that serve's goroutines may write while
// the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Review 20a, F8: a SIGHUP that comes while a TLS server starts (a
// certificate-renewal hook during a restart) used to kill it (the default
// action: SIGHUP was caught only once serving). Serve runs in this process,
// and the hook sends SIGHUP to it just before the store opens: before the
// fix the test binary died of it. Now serve comes up and acts on it as a
// reload once serving.
func TestServeSIGHUPDuringStartup(t *testing.T) {
	clearSettingsEnv(t)
	dir := t.TempDir()
	ca := newCA(t, "keyward test CA")
	certFile, keyFile := ca.serverPair(t, dir, "keyward-1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	serveContext = func() context.Context { return ctx }
	beforeOpen = func() {
		// kill(2) to oneself delivers the signal before it returns.
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() { serveContext, beforeOpen = context.Background, func() {} })
	var stdout, stderr lockedBuffer
	exit := make(chan int, 1)
	go func() {
		exit <- cmdServe([]string{"--data", filepath.Join(dir, "data"), "--listen", "127.0.0.1:0",
			"--tls-cert", certFile, "--tls-key", keyFile, "--log-format", "json"}, &stdout, &stderr)
	}()
	deadline := time.After(60 * time.Second)
	for !strings.Contains(stderr.String(), "TLS certificate reloaded") {
		select {
		case code := <-exit:
			t.Fatalf("serve exited %d: %s", code, stderr.String())
		case <-deadline:
			t.Fatalf("serve never acted on the SIGHUP sent while it started: %s", stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if !strings.Contains(stderr.String(), "keyward listening") {
		t.Errorf("reloaded but not listening: %s", stderr.String())
	}
	cancel()
	if code := <-exit; code != exitOK {
		t.Errorf("serve stopped with %d: %s", code, stderr.String())
	}
}

// Review 20a, F9: serve on a shared store never makes --data nor its
// parents (nor a master key in them): a missing parent is an error naming
// it, before the store is contacted.
func TestServeStoreMissingDataParent(t *testing.T) {
	clearSettingsEnv(t)
	root := t.TempDir()
	data := filepath.Join(root, "nope", "a", "b")
	code, _, errs := cli(t, "serve", "--listen", "127.0.0.1:0", "--store", "postgres://keyward@127.0.0.1:1/none", "--data", data)
	if code == exitOK || !strings.Contains(errs, "does not exist") || !strings.Contains(errs, filepath.Dir(data)) {
		t.Errorf("serve --store with a missing --data parent: exit %d, %s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(root, "nope")); err == nil {
		t.Errorf("serve --store created %s", filepath.Join(root, "nope"))
	}
}
