package e2ekit_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/keyward/keyward/test/e2e/e2ekit"
)

// The test binary is also the fake keyward Serve runs (E2EKIT_FAKE set):
// "serve" prints its arguments and E2EKIT_EXTRA, answers /readyz 503 twice
// then 200 (the body: how many polls) on its --listen address, and says
// "stopping" on SIGTERM; "exit"
// fails at once, as keyward serve does with a bad flag.
func TestMain(m *testing.M) {
	switch os.Getenv("E2EKIT_FAKE") {
	case "serve":
		fakeServe()
		return
	case "exit":
		fmt.Fprintln(os.Stderr, "boom: bad flag")
		os.Exit(3)
	}
	os.Exit(m.Run())
}

func fakeServe() {
	fmt.Fprintf(os.Stderr, "args: %s\nextra: %s\n", strings.Join(os.Args[1:], " "), os.Getenv("E2EKIT_EXTRA"))
	l, err := net.Listen("tcp", os.Args[5]) // serve --data D --listen ADDR
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var mu sync.Mutex
	polls := 0
	go func() {
		_ = http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			polls++
			n := polls
			mu.Unlock()
			if r.URL.Path != "/readyz" || n <= 2 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			fmt.Fprint(w, n)
		}))
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	<-sig
	fmt.Fprintln(os.Stderr, "stopping")
	os.Exit(0)
}

func TestServe(t *testing.T) {
	logs := &e2ekit.SyncBuffer{}
	srv := e2ekit.Serve(t, os.Args[0], e2ekit.ServeConfig{Data: "/data", Account: "acme", Logs: logs,
		Env: []string{"E2EKIT_FAKE=serve", "E2EKIT_EXTRA=from-env"}, Args: []string{"--tls-cert", "c.pem"}})
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Errorf("URL %q", srv.URL)
	}
	res, err := http.Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "4" { // Serve polled twice in vain, then once more
		t.Errorf("this poll is the fake's %sth, want 4th", b)
	}
	srv.Stop()
	srv.Stop() // once
	// Stop waited for the process and so for its output.
	addr := strings.TrimPrefix(srv.URL, "http://")
	want := "args: serve --data /data --listen " + addr + " --account acme --log-level debug --tls-cert c.pem\nextra: from-env\nstopping\n"
	if got := logs.String(); got != want {
		t.Errorf("the fake wrote\n%s\nwant\n%s", got, want)
	}
	if res, err := http.Get(srv.URL + "/readyz"); err == nil {
		res.Body.Close()
		t.Errorf("after Stop /readyz still answers %d", res.StatusCode)
	}
}

// fatalTB records what Serve fails with, and its cleanups, to run them.
type fatalTB struct {
	testing.TB
	mu       sync.Mutex
	fatal    string
	cleanups []func()
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatal = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fatalTB) Fatal(args ...any) { f.Fatalf("%s", fmt.Sprint(args...)) }

func (f *fatalTB) Errorf(format string, args ...any) { f.Fatalf(format, args...) }

func (f *fatalTB) Cleanup(fn func()) { f.mu.Lock(); f.cleanups = append(f.cleanups, fn); f.mu.Unlock() }

// TestServeExits: a serve that exits before it is ready fails the test with
// its exit status and output, and the cleanup then returns (it waited
// forever on the exit the readiness loop had already taken).
func TestServeExits(t *testing.T) {
	f := &fatalTB{TB: t}
	logs := &e2ekit.SyncBuffer{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		e2ekit.Serve(f, os.Args[0], e2ekit.ServeConfig{Data: "/data", Account: "acme", Logs: logs, Env: []string{"E2EKIT_FAKE=exit"}})
	}()
	<-done
	if want := "keyward serve exited: exit status 3\nboom: bad flag\n"; f.fatal != want {
		t.Errorf("Serve failed with %q, want %q", f.fatal, want)
	}
	if len(f.cleanups) != 1 {
		t.Fatalf("%d cleanups, want 1 (Stop)", len(f.cleanups))
	}
	f.cleanups[0]()
}
