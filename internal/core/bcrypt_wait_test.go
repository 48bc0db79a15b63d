package core

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// countingMeter counts what the pool reports.
type countingMeter struct {
	nopMeter
	refused atomic.Int64
	waits   atomic.Int64
}

func (m *countingMeter) BcryptRefused()           { m.refused.Add(1) }
func (m *countingMeter) BcryptWait(time.Duration) { m.waits.Add(1) }

// waitFor polls until cond holds (a queue position reached), failing after
// a generous bound so that a broken pool fails rather than hangs.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never reached: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestBcryptQueueBoundedByExpectedWait: the pool measures what a bcrypt job
// takes (here 1 s on an injected clock) and admits a login only while the
// expected wait, (queued ahead + 1) × that time ÷ workers, is within
// maxWait; the next is refused at once with RateLimited and the expected
// wait as its retry hint, though the queue's length bound is far away.
func TestBcryptQueueBoundedByExpectedWait(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	m := &countingMeter{}
	p := newBcryptPool(1, 64)
	p.now, p.meter, p.maxWait = clk.now, m, 2*time.Second
	p.start()
	defer p.close()
	ctx := context.Background()
	// One job measured: it takes 1 s on the pool's clock.
	if err := p.do(ctx, func() { clk.advance(time.Second) }); err != nil {
		t.Fatal(err)
	}
	if got := time.Duration(p.perOp.Load()); got != time.Second {
		t.Fatalf("measured bcrypt time %v, want 1s", got)
	}
	release := make(chan struct{})
	started := make(chan struct{})
	var wg sync.WaitGroup
	admitted := func(name string, fn func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.do(ctx, fn); err != nil {
				t.Errorf("%s: %v, want admitted", name, err)
			}
		}()
	}
	// The worker is busy; nothing is queued: the next waits 1 s, then 2 s.
	admitted("running", func() { close(started); <-release })
	<-started
	admitted("first queued (expected wait 1s)", func() {})
	waitFor(t, "first queued", func() bool { return p.queueLength() == 1 })
	admitted("second queued (expected wait 2s)", func() {})
	waitFor(t, "second queued", func() bool { return p.queueLength() == 2 })
	if got := p.expectedWait(p.waiting.Load()); got != 3*time.Second {
		t.Fatalf("expected wait of the next login %v, want 3s", got)
	}
	// The third would wait 3 s > 2 s: refused now, not queued.
	ran := false
	err := p.do(ctx, func() { ran = true })
	e := AsError(err)
	if e.Kind != RateLimited || e.RetryAfter != 3*time.Second {
		t.Fatalf("a login past the wait bound: %v (kind %v, retry after %v), want RateLimited after 3s", err, e.Kind, e.RetryAfter)
	}
	if ran || p.queueLength() != 2 || m.refused.Load() != 1 {
		t.Fatalf("refused login ran %v, queue %d, refusals %d; want not run, 2, 1", ran, p.queueLength(), m.refused.Load())
	}
	close(release)
	wg.Wait()
	if p.queueLength() != 0 || p.busy.Load() != 0 || m.waits.Load() != 4 {
		t.Fatalf("after the queue drained: queue %d, busy %d, waits observed %d; want 0, 0, 4", p.queueLength(), p.busy.Load(), m.waits.Load())
	}
	// Faster jobs lower the estimate: a moving average, not the first guess.
	for range 8 {
		if err := p.do(ctx, func() { clk.advance(100 * time.Millisecond) }); err != nil {
			t.Fatal(err)
		}
	}
	if got := time.Duration(p.perOp.Load()); got >= 600*time.Millisecond || got <= 100*time.Millisecond {
		t.Fatalf("after eight 100ms jobs the estimate is %v, want between 100ms and 600ms", got)
	}
}

// TestLoginMaxWaitRefusesPasswordLogins: with Deps.LoginMaxWait below what
// one queued login would wait, a password login finding every worker busy
// is refused with RateLimited and a retry hint instead of queued, while an
// API key is still accepted.
func TestLoginMaxWaitRefusesPasswordLogins(t *testing.T) {
	ctx := context.Background()
	st, sealer := testStore(t)
	m := &countingMeter{}
	c, err := New(ctx, Deps{Store: st, Sealer: sealer, BcryptWorkers: 1, LoginMaxWait: 100 * time.Millisecond, Meter: m})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	key, err := c.Bootstrap(ctx, loopback, "acme")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- c.bcrypt.do(ctx, func() { close(started); <-release }) }()
	<-started
	if st := c.Stats(); st.BcryptBusy != 1 || st.BcryptQueue != 0 {
		t.Fatalf("stats with one job running: %+v", st)
	}
	_, _, err = authPw(ctx, c, "acme", "admin", "whatever-Password-1")
	if e := AsError(err); e.Kind != RateLimited || e.RetryAfter < time.Second {
		t.Fatalf("a login behind a busy worker with a 100ms bound: %v (retry after %v), want RateLimited with a hint", err, e.RetryAfter)
	}
	if m.refused.Load() != 1 {
		t.Fatalf("refusals counted %d, want 1", m.refused.Load())
	}
	if _, err := authKey(ctx, c, "acme", key); err != nil {
		t.Fatalf("an API key while logins are refused: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.BcryptBusy != 0 || st.BcryptQueue != 0 || st.CachedKeys != 1 || st.CachedPrincipals < 1 {
		t.Fatalf("stats after the job: %+v; want an idle pool, one key and its principal cached", st)
	}
}

// TestBcryptDeadlineRunsFromArrival: a login whose request arrived longer
// than maxWait ago (it waited before the bcrypt queue: a busy machine, a
// slow body) is refused with a retry hint even with a worker free, and
// never run: its answer would otherwise come after the bound.
func TestBcryptDeadlineRunsFromArrival(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	m := &countingMeter{}
	p := newBcryptPool(1, 64)
	p.now, p.meter, p.maxWait = clk.now, m, 2*time.Second
	p.start()
	defer p.close()
	ran := false
	err := p.do(WithArrival(context.Background(), clk.now().Add(-3*time.Second)), func() { ran = true })
	if e := AsError(err); e.Kind != RateLimited || e.RetryAfter < time.Second || ran || m.refused.Load() != 1 {
		t.Fatalf("a login past its deadline on arrival at the pool: %v (retry after %v), ran %v, refusals %d; want refused, not run",
			err, e.RetryAfter, ran, m.refused.Load())
	}
	// Arrived within the bound: runs.
	ctx := WithArrival(context.Background(), clk.now().Add(-time.Second))
	if err := p.do(ctx, func() { ran = true }); err != nil || !ran {
		t.Fatalf("a login within its bound: %v, ran %v", err, ran)
	}
	// The same request's second check (a password change hashing the new
	// password after checking the old), asked for after its arrival's bound
	// has passed: bounded from its own start, so it runs.
	clk.advance(5 * time.Second)
	ran = false
	if err := p.do(ctx, func() { ran = true }); err != nil || !ran {
		t.Fatalf("a request's second password check after its first took long: %v, ran %v; want run", err, ran)
	}
}

// TestBcryptQueuedPastDeadlineRefused: a login admitted to the queue (its
// expected wait was within the bound) whose deadline comes while it still
// waits for a worker (bcrypt got slower after it was admitted) is refused
// then, with a retry hint, and is never run: the deadline, not the
// estimate at admission, bounds the answer. The deadline is the pool's
// timer, fired here by the test.
func TestBcryptQueuedPastDeadlineRefused(t *testing.T) {
	m := &countingMeter{}
	p := newBcryptPool(1, 64)
	p.meter, p.maxWait = m, 2*time.Second
	timers := make(chan chan time.Time, 4)
	p.after = func(d time.Duration) (<-chan time.Time, func() bool) {
		c := make(chan time.Time, 1)
		timers <- c
		return c, func() bool { return true }
	}
	p.start()
	defer p.close()
	ctx := context.Background()
	release, started := make(chan struct{}), make(chan struct{})
	running := make(chan error, 1)
	go func() { running <- p.do(ctx, func() { close(started); <-release }) }()
	<-timers // the running job's deadline timer, never fired
	<-started
	queued := make(chan error, 1)
	ran := false
	go func() { queued <- p.do(ctx, func() { ran = true }) }()
	deadline := <-timers // the queued login is in its select now
	deadline <- time.Now()
	err := <-queued
	if e := AsError(err); e.Kind != RateLimited || e.RetryAfter < time.Second {
		t.Fatalf("a queued login at its deadline: %v (retry after %v), want RateLimited with a retry hint", err, e.RetryAfter)
	}
	close(release)
	if err := <-running; err != nil {
		t.Fatal(err)
	}
	if ran || m.refused.Load() != 1 || p.queueLength() != 0 {
		t.Fatalf("refused login ran %v, refusals %d, queue %d; want not run, 1, 0", ran, m.refused.Load(), p.queueLength())
	}
}

// TestBcryptPoolSharePerSource (review r20c G9): one source address has at
// most perSource jobs admitted (running and queued) at once; its next login
// is refused RateLimited although the queue has room, while another
// source's login is admitted and runs. No timing: the worker is held.
func TestBcryptPoolSharePerSource(t *testing.T) {
	p := newBcryptPool(1, 16)
	p.maxWait = time.Hour
	p.start()
	defer p.close()
	if p.perSource != 1 {
		t.Fatalf("perSource = %d with one worker, want 1", p.perSource)
	}
	mallory := WithSource(context.Background(), Caller{PeerIP: netip.MustParseAddr("192.0.2.66")})
	alice := WithSource(context.Background(), Caller{PeerIP: netip.MustParseAddr("198.51.100.7")})
	// The same IPv6 /64 is one source.
	v6a := WithSource(context.Background(), Caller{PeerIP: netip.MustParseAddr("2001:db8::1")})
	v6b := WithSource(context.Background(), Caller{PeerIP: netip.MustParseAddr("2001:db8::ffff:1")})

	hold := make(chan struct{})
	first := make(chan error, 1)
	go func() { first <- p.do(mallory, func() { <-hold }) }()
	waitFor(t, "mallory's first job running", func() bool { return p.busy.Load() == 1 })

	err := p.do(mallory, func() { t.Error("mallory's second job ran beyond its share") })
	var e *Error
	if !errors.As(err, &e) || e.Kind != RateLimited || e.RetryAfter < time.Second {
		t.Fatalf("mallory's second login: %v, want RateLimited with a retry hint", err)
	}
	ran := make(chan error, 1)
	go func() { ran <- p.do(alice, func() {}) }()
	waitFor(t, "alice's login queued", func() bool { return p.queueLength() == 1 })
	close(hold)
	if err := <-first; err != nil {
		t.Fatalf("mallory's first login: %v", err)
	}
	if err := <-ran; err != nil {
		t.Fatalf("alice's login beside mallory's flood: %v, want admitted", err)
	}

	hold = make(chan struct{})
	go func() { first <- p.do(v6a, func() { <-hold }) }()
	waitFor(t, "the IPv6 job running", func() bool { return p.busy.Load() == 1 })
	if err := p.do(v6b, func() {}); !errors.As(err, &e) || e.Kind != RateLimited {
		t.Errorf("a second address of the same /64: %v, want RateLimited (one source)", err)
	}
	close(hold)
	<-first
	// Shares are given back: nothing is left counted.
	p.srcMu.Lock()
	defer p.srcMu.Unlock()
	if len(p.bySource) != 0 {
		t.Errorf("sources still counted after every job ended: %v", p.bySource)
	}
}
