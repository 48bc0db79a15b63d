package core

import (
	"sync"
	"time"
)

// Failure throttle of guessable credentials (passwords, outside
// authenticators): after throttleFailures failures of one login within
// throttleWindow, further attempts of that login are refused until the
// window of the first failure ends. API keys are never throttled: their
// secrets are not guessable, and resource servers verify them in bulk.
const (
	throttleFailures = 10
	throttleWindow   = 5 * time.Minute
	throttleMax      = 100_000 // logins tracked at most; beyond, the oldest windows are dropped
)

type throttleEntry struct {
	start    time.Time
	failures int
}

// throttle counts recent failures per login, in memory and bounded.
type throttle struct {
	mu sync.Mutex
	m  map[string]throttleEntry
}

func newThrottle() *throttle { return &throttle{m: map[string]throttleEntry{}} }

// blocked returns how long key must still wait, or 0.
func (t *throttle) blocked(key string, now time.Time) time.Duration {
	t.mu.Lock()
	e, ok := t.m[key]
	t.mu.Unlock()
	if !ok || e.failures < throttleFailures {
		return 0
	}
	if wait := e.start.Add(throttleWindow).Sub(now); wait > 0 {
		return wait
	}
	return 0
}

// fail counts one failure of key.
func (t *throttle) fail(key string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.m[key]
	if !ok || now.Sub(e.start) >= throttleWindow {
		if !ok && len(t.m) >= throttleMax {
			for k, old := range t.m {
				if now.Sub(old.start) >= throttleWindow || len(t.m) >= throttleMax {
					delete(t.m, k)
				}
				if len(t.m) < throttleMax*9/10 {
					break
				}
			}
		}
		e = throttleEntry{start: now}
	}
	e.failures++
	t.m[key] = e
}

// reset forgets key's failures after a success.
func (t *throttle) reset(key string) {
	t.mu.Lock()
	delete(t.m, key)
	t.mu.Unlock()
}
