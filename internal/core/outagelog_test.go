package core

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// Review 25 F5: a store that flaps (the listener loses its connection,
// reconnects at once, and loses it again soon after, several times) is one
// outage in the log: one warning and one line, not a pair per
// reconnection. A loss after a flap whose reconnection fails is logged (it
// is an outage), and so is a loss long after the last recovery.
func TestFlappingStoreLogsOneOutage(t *testing.T) {
	c, _, _ := testCore(t, nil)
	var buf bytes.Buffer
	clock := time.Date(2026, 12, 7, 22, 0, 0, 0, time.UTC)
	h := &changeHandler{c: c, log: slog.New(slog.NewTextHandler(&buf, nil)), now: func() time.Time { return clock }}
	step := func(d time.Duration) { clock = clock.Add(d) }
	count := func(s string) int { // every line is logged under h.mu
		h.mu.Lock()
		defer h.mu.Unlock()
		return strings.Count(buf.String(), s)
	}
	logs := func() string { h.mu.Lock(); defer h.mu.Unlock(); return buf.String() }
	refused := errors.New("connection refused")

	h.Alive(clock) // first reload: nothing to log
	for range 4 {  // lost, reconnected at once, lost again 750 ms later
		h.Lost(refused)
		step(10 * time.Millisecond)
		h.Alive(clock)
		step(750 * time.Millisecond)
	}
	if count("level=WARN") != 1 || count("reachable again") != 1 {
		t.Fatalf("a flapping store logged %d warnings and %d recoveries, want 1 and 1:\n%s", count("level=WARN"), count("reachable again"), logs())
	}

	// Lost again soon after, and this time the reconnection fails: an
	// outage, logged once however many attempts fail, and its end.
	h.Lost(refused)
	for range 5 {
		step(250 * time.Millisecond)
		h.Lost(refused)
	}
	h.Alive(clock)
	if count("level=WARN") != 2 || count("reachable again") != 2 {
		t.Fatalf("an outage during flapping logged %d warnings and %d recoveries in all, want 2 and 2:\n%s", count("level=WARN"), count("reachable again"), logs())
	}

	// Lost again soon after, and the one reconnection hangs: logged once
	// the caches go stale (1 s, on the real clock), and its end.
	h.Lost(refused)
	deadline := time.Now().Add(3 * time.Second)
	for count("level=WARN") != 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	h.Alive(clock)
	if count("level=WARN") != 3 || count("reachable again") != 3 {
		t.Fatalf("a long outage during flapping logged %d warnings and %d recoveries in all, want 3 and 3:\n%s", count("level=WARN"), count("reachable again"), logs())
	}

	// Long after: a new outage, logged at its first loss.
	step(time.Minute)
	h.Lost(refused)
	if count("level=WARN") != 4 {
		t.Fatalf("a new outage logged %d warnings in all, want 4:\n%s", count("level=WARN"), logs())
	}
}
