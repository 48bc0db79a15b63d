package postgres

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/internal/audit"
)

// floodRecorder is a store.ChangeHandler whose Changed costs a store round
// trip, as the core's does, and that counts what it is handed.
type floodRecorder struct {
	mu       sync.Mutex
	changed  map[string]int // payloads handed to Changed, by kind
	reloads  int
	alives   int
	after    int // Alive calls after mark was set
	mark     bool
	unknown  []string
	delay    time.Duration
	lastSeen string
}

func (r *floodRecorder) Reload(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reloads++
	return nil
}

func (r *floodRecorder) Changed(_ context.Context, p string) error {
	time.Sleep(r.delay)
	r.mu.Lock()
	defer r.mu.Unlock()
	kind, _, _ := strings.Cut(p, ":")
	switch kind {
	case "key", "principal", "grants", "role", "signing-keys", "account", "authenticator":
	default:
		r.unknown = append(r.unknown, p)
	}
	r.changed[kind]++
	r.lastSeen = p
	return nil
}

func (r *floodRecorder) Alive(time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.alives++
	if r.mark {
		r.after++
	}
}

func (r *floodRecorder) Lost(error) {}

func (r *floodRecorder) get(f func() int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return f()
}

// Review 25 F1: a flood of notifications (any role with CONNECT can send
// them) must not starve the listener's proof of life, and must cost bounded
// work: queued notifications are coalesced (a set, one refresh per kind for
// the kinds that name a whole cache), a backlog past the bound becomes one
// reload, payloads of a kind keyward never writes are dropped, and the
// listener goes on proving itself alive while the flood lasts.
func TestFollowChangesSurvivesNotifyFlood(t *testing.T) {
	ctx := context.Background()
	dsn, r := followFlood(t)

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// 20,000 distinct key payloads: handled one by one at a round trip
	// each, that is 20 s without a proof of life (every request 503).
	if _, err := conn.Exec(ctx, "SELECT count(pg_notify('"+Channel+"', 'key:acct:x' || g)) FROM generate_series(1, 20000) g"); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.mark = true
	r.mu.Unlock()
	waitFor(t, "a reload of the flood and proofs of life after it", func() bool {
		return r.get(func() int {
			if r.reloads >= 2 && r.after >= 2 {
				return 1
			}
			return 0
		}) == 1
	})
	if n := r.get(func() int { return r.changed["key"] }); n > 1000 {
		t.Errorf("handled %d key notifications one by one; want them coalesced into one reload past the bound", n)
	}

	// Below the bound: payloads of a whole-cache kind collapse to one
	// refresh; unknown kinds never reach the handler.
	before := r.get(func() int { return r.changed["signing-keys"] })
	if _, err := conn.Exec(ctx, `BEGIN; SELECT count(pg_notify('`+Channel+`', 'signing-keys:' || g)) FROM generate_series(1, 500) g;
		SELECT count(pg_notify('`+Channel+`', 'bogus:' || g)) FROM generate_series(1, 300) g;
		SELECT pg_notify('`+Channel+`', 'key:acct:last'); COMMIT`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the last change", func() bool {
		return r.get(func() int {
			if r.lastSeen == "key:acct:last" || r.changed["key"] > 0 && r.reloads >= 3 {
				return 1
			}
			return 0
		}) == 1
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := r.changed["signing-keys"] - before; n > 2 {
		t.Errorf("500 signing-keys notifications queued together made %d refreshes; want them coalesced", n)
	}
	if len(r.unknown) > 0 {
		t.Errorf("payloads of a kind keyward never writes reached the handler: %d, first %q", len(r.unknown), r.unknown[0])
	}
}

// followFlood starts a store in a fresh schema following its changes into
// a floodRecorder (1 ms per change), waits for the first proof of life,
// and stops both when the test ends; it returns the schema's DSN.
func followFlood(t *testing.T) (string, *floodRecorder) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dsn := freshSchema(t)
	s, err := Open(ctx, dsn, audit.NewKey([]byte("listen test audit chain key 32 b")))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	r := &floodRecorder{changed: map[string]int{}, delay: time.Millisecond}
	done := make(chan struct{})
	go func() { defer close(done); s.FollowChanges(ctx, r) }()
	t.Cleanup(func() { cancel(); <-done; s.Close() })
	waitFor(t, "first proof", func() bool { return r.get(func() int { return r.alives }) > 0 })
	return dsn, r
}
