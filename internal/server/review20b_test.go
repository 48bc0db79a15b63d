package server_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/server"
)

// waitGone waits (up to 30 s) until path no longer exists.
func waitGone(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
			return
		}
	}
	t.Fatalf("%s was never taken", path)
}

// TestPruneRequestFileHardened (review 20b, finding 4): the request file a
// running keyward answers is read and answered like the CLI's own request,
// never beyond: a TIME in the future (everything, records written a moment
// ago included) is refused, the id is the CLI's hex, the result is not
// written through a symlink, and a FIFO in its place neither blocks the
// maintenance loop (and so --audit-retention) nor keeps keyward from
// stopping.
func TestPruneRequestFileHardened(t *testing.T) {
	t.Parallel()
	t.Run("future TIME and a crafted id", func(t *testing.T) {
		dir := t.TempDir()
		admin := initData(t, dir).APIKey
		p := serve(t, dir)
		p.do("POST", "/api/v1/api-keys/verify", "", map[string]any{"key": admin})
		req := filepath.Join(dir, server.PruneRequestFile)
		body := `{"id":"x\"] [keyward@32473 seq=\"1\"]\n<13>1 forged","before":"2999-01-01T00:00:00Z"}`
		if err := os.WriteFile(req, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		waitGone(t, req)
		// The CLI's own request is answered after the crafted one.
		_, _, _ = run(t, "audit", "prune", "--data", dir, "--before", "2000-01-01T00:00:00Z")
		out, _, code := run(t, "audit", "verify", "--data", dir)
		if code != 0 || strings.Contains(out, "checkpoint") {
			t.Fatalf("a crafted request file (before 2999, id with quotes and a newline) pruned the chain: %s", out)
		}
	})
	t.Run("result not written through a symlink", func(t *testing.T) {
		dir := t.TempDir()
		initData(t, dir)
		serve(t, dir)
		victim := filepath.Join(t.TempDir(), "victim")
		if err := os.WriteFile(victim, []byte("precious"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(victim, filepath.Join(dir, "audit-prune.s1.result")); err != nil {
			t.Fatal(err)
		}
		req := filepath.Join(dir, server.PruneRequestFile)
		if err := os.WriteFile(req, []byte(`{"id":"s1","before":"2000-01-01T00:00:00Z"}`), 0o600); err != nil {
			t.Fatal(err)
		}
		waitGone(t, req)
		// Answered in turn, so s1's result has been written by then.
		_, _, _ = run(t, "audit", "prune", "--data", dir, "--before", "2000-01-01T00:00:00Z")
		if b, _ := os.ReadFile(victim); string(b) != "precious" {
			t.Fatalf("keyward wrote its prune result through a symlink in the data folder to %s: %q", victim, b)
		}
	})
	t.Run("a FIFO does not keep keyward from stopping", func(t *testing.T) {
		dir := t.TempDir()
		initData(t, dir)
		p := serve(t, dir)
		req := filepath.Join(dir, server.PruneRequestFile)
		if err := syscall.Mkfifo(req, 0o600); err != nil {
			t.Fatal(err)
		}
		// Opening the FIFO for writing without blocking succeeds once
		// keyward has opened it for reading: then hold it open.
		var w *os.File
		for deadline := time.Now().Add(30 * time.Second); w == nil; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Log("keyward never opened the FIFO (it checks the file type first): fine")
				break
			}
			if f, err := os.OpenFile(req, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				w = f
			}
		}
		if w != nil {
			defer w.Close()
		}
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			t.Fatalf("keyward did not stop within 30 s of SIGTERM: its maintenance loop is stuck reading a FIFO named %s", server.PruneRequestFile)
		}
	})
}

// gate is an io.Writer whose first write waits until open is closed.
type gate struct {
	once        sync.Once
	first, open chan struct{}
	mu          sync.Mutex
	buf         bytes.Buffer
}

func (g *gate) Write(b []byte) (int, error) {
	g.once.Do(func() { close(g.first); <-g.open })
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.Write(b)
}

func (g *gate) String() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.String()
}

// TestExportFollowReportsGaps (review 20b, finding 5): a follower that
// falls behind a prune (a slow SIEM pipe) must not skip the pruned records
// silently: the records it never wrote are named, or it fails.
func TestExportFollowReportsGaps(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	admin := initData(t, dir).APIKey
	p := serve(t, dir)
	for range 3 {
		p.do("POST", "/api/v1/api-keys/verify", "", map[string]any{"key": admin})
	}
	if _, _, code := run(t, "audit", "verify", "--data", dir); code != 0 {
		t.Fatal("verify")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &gate{first: make(chan struct{}), open: make(chan struct{})}
	var warn pruneSyncBuffer
	errc := make(chan error, 1)
	go func() {
		errc <- server.ExportAudit(ctx, server.Config{DataDir: dir}, server.ExportOptions{Format: "jsonl", Follow: true}, out, &warn)
	}()
	<-out.first // the follower has read the chain so far and is writing it
	for range 5 {
		p.do("POST", "/api/v1/api-keys/verify", "", map[string]any{"key": admin})
	}
	if o, e, code := run(t, "audit", "prune", "--data", dir, "--before", "0s"); code != 0 {
		t.Fatalf("prune: %s %s", o, e)
	}
	close(out.open)
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(out.String(), "audit.prune"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the follower never wrote the prune's record: %s", out.String())
		}
	}
	cancel()
	err := <-errc
	recs := decodeLines(t, strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"))
	for i := 1; i < len(recs); i++ {
		if recs[i].Seq != recs[i-1].Seq+1 && err == nil && !strings.Contains(warn.String(), strconv.FormatInt(recs[i-1].Seq+1, 10)) {
			t.Fatalf("--follow skipped records %d-%d (pruned while it was behind) without a word: stderr %q", recs[i-1].Seq+1, recs[i].Seq-1, warn.String())
		}
	}
}

type pruneSyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *pruneSyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *pruneSyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestExportFollowDoesNotHoldTheFolder (review 20b, finding 6): an
// `audit export --follow` started while keyward is stopped (a log shipper
// that starts first) must not take the folder: keyward must still start.
func TestExportFollowDoesNotHoldTheFolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	initData(t, dir)
	cmd := exec.Command(keywardBin, "audit", "export", "--data", dir, "--follow")
	cmd.Env = cleanEnv()
	var stdout pruneSyncBuffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	for deadline := time.Now().Add(30 * time.Second); stdout.String() == ""; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("export --follow wrote nothing")
		}
	}
	// serve fails the test if keyward exits early ("in use").
	serve(t, dir)
}

// TestRFC5424NoControlCharacters (review 20b, finding 7): an unknown login
// is attacker's text; in an RFC 5424 line it must not carry terminal
// escapes (ESC, BEL), vertical tabs or the line separators some
// receivers split on (NEL U+0085, U+2028, U+2029).
func TestRFC5424NoControlCharacters(t *testing.T) {
	bad := "esc\x1b]0;pwned\x07\x1b[2Jx\u2028y\u0085z\u2029\x0bw"
	r := &audit.Record{Seq: 1, Hash: strings.Repeat("a", 64), PrevHash: audit.GenesisHash, Keyed: true,
		Event: audit.Event{Time: time.Now(), Account: "acme", Event: "token", Outcome: audit.Failure, Reason: "unknown_login",
			Actor: "acme:user:" + bad, Subject: "acme:user:" + bad, ClientIP: "192.0.2.1", RequestID: "r1", Detail: bad}}
	line := strings.TrimSuffix(server.RFC5424(r, "host"), "\n")
	for _, c := range line {
		if c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == '\u2028' || c == '\u2029' {
			t.Fatalf("RFC 5424 line holds control character %U: %q", c, line)
		}
	}
}
