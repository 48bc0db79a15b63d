package core

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// Review 25 F5: a store that flaps (the listener reconnects, reloads and
// loses its connection again, several times) is one outage: one warning
// when it starts and one line once the listener has stayed connected,
// not a pair per reconnection.
func TestFlappingStoreLogsOneOutage(t *testing.T) {
	c, _, _ := testCore(t, nil)
	var buf bytes.Buffer
	clock := time.Date(2026, 12, 7, 22, 0, 0, 0, time.UTC)
	h := &changeHandler{c: c, log: slog.New(slog.NewTextHandler(&buf, nil)), now: func() time.Time { return clock }}
	step := func(d time.Duration) { clock = clock.Add(d) }
	h.Alive(clock) // first reload: nothing to log
	for range 4 {  // lost, back 300 ms later, proving alive for 800 ms, lost again
		h.Lost(errors.New("connection refused"))
		step(300 * time.Millisecond)
		for range 4 {
			h.Alive(clock)
			step(200 * time.Millisecond)
		}
	}
	if n := strings.Count(buf.String(), "level=WARN"); n != 1 {
		t.Fatalf("a flapping store logged %d warnings, want 1:\n%s", n, buf.String())
	}
	if strings.Contains(buf.String(), "reachable again") {
		t.Fatalf("the outage was logged as over while the store still flapped:\n%s", buf.String())
	}
	for range 12 { // connected for 2.4 s: over
		h.Alive(clock)
		step(200 * time.Millisecond)
	}
	if n := strings.Count(buf.String(), "reachable again"); n != 1 {
		t.Fatalf("the end of the outage logged %d lines, want 1:\n%s", n, buf.String())
	}
	if !strings.Contains(buf.String(), "reconnects=3") {
		t.Errorf("the end line does not count the reconnections:\n%s", buf.String())
	}
	// A later outage is a new one.
	h.Lost(errors.New("connection refused"))
	if n := strings.Count(buf.String(), "level=WARN"); n != 2 {
		t.Fatalf("a new outage logged %d warnings in all, want 2", n)
	}
}
