package jwks

import (
	"context"
	"sync"
	"time"
)

// fetchTimeout bounds one fetch whatever the client's own timeout: the
// fetch runs detached from the request that started it, so that the
// requests waiting on it do not fail when that one goes away.
const fetchTimeout = 10 * time.Second

// Cache holds one document fetched from a provider (a JWKS, a discovery
// document). At most one fetch runs at a time, outside the lock: requests
// that need the document join the fetch in flight, the others keep reading
// what is cached. A document is fresh for KeysTTL, a failure is remembered
// for minRefetchGap, and both are timed from when the fetch ended: the
// request's time plus what the fetch took. Times are the callers'; one
// earlier than a stamp (requests take their time before they queue, so
// they arrive out of order) counts as inside the window, never as a clock
// that went back, and stamps only move forward.
type Cache[T any] struct {
	fetch func(context.Context) (T, error)

	mu      sync.Mutex
	val     T
	have    bool
	fetched time.Time // when the fetch of val ended
	failed  time.Time // when the last failed fetch ended; zero after a success
	failErr error
	forced  time.Time // when the last forced fetch (Refetch) ended
	flight  *flight[T]
}

type flight[T any] struct {
	done   chan struct{}
	forced bool
	val    T
	err    error
}

// NewCache is a cache of what fetch returns.
func NewCache[T any](fetch func(context.Context) (T, error)) *Cache[T] {
	return &Cache[T]{fetch: fetch}
}

// within reports whether now falls before stamp+d (an earlier now included).
func within(now, stamp time.Time, d time.Duration) bool { return now.Sub(stamp) < d }

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Get returns the document: the cached one while fresh at now (or, once
// stale, while a fetch of its replacement is in flight and usable accepts
// it), the remembered error of a fetch that failed less than minRefetchGap
// before now, else the result of a fetch (the one in flight, or a new one).
func (c *Cache[T]) Get(ctx context.Context, now time.Time, usable func(T) bool) (T, error) {
	c.mu.Lock()
	if c.have && (within(now, c.fetched, KeysTTL) || (c.flight != nil && usable != nil && usable(c.val))) {
		v := c.val
		c.mu.Unlock()
		return v, nil
	}
	if c.flight == nil && !c.failed.IsZero() && within(now, c.failed, minRefetchGap) {
		err := c.failErr
		c.mu.Unlock()
		var zero T
		return zero, err
	}
	f := c.start(ctx, now, false)
	c.mu.Unlock()
	return f.wait(ctx)
}

// Refetch fetches again at once (an issuer may have rotated its keys),
// unless a forced fetch ended less than minRefetchGap before now: then ok
// is false and nothing is fetched. A fetch in flight is joined.
func (c *Cache[T]) Refetch(ctx context.Context, now time.Time) (v T, ok bool, err error) {
	c.mu.Lock()
	if c.flight == nil && !c.forced.IsZero() && within(now, c.forced, minRefetchGap) {
		c.mu.Unlock()
		return v, false, nil
	}
	f := c.start(ctx, now, true)
	c.mu.Unlock()
	v, err = f.wait(ctx)
	return v, true, err
}

// start joins the fetch in flight or starts one. c.mu is held.
func (c *Cache[T]) start(ctx context.Context, now time.Time, forced bool) *flight[T] {
	if c.flight != nil {
		c.flight.forced = c.flight.forced || forced
		return c.flight
	}
	f := &flight[T]{done: make(chan struct{}), forced: forced}
	c.flight = f
	go c.run(context.WithoutCancel(ctx), f, now)
	return f
}

func (c *Cache[T]) run(ctx context.Context, f *flight[T], now time.Time) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	began := time.Now()
	v, err := c.fetch(ctx)
	end := now.Add(time.Since(began))
	c.mu.Lock()
	defer c.mu.Unlock()
	if f.forced {
		c.forced = later(c.forced, end)
	}
	if err != nil {
		c.failed, c.failErr = later(c.failed, end), err
	} else {
		c.val, c.have, c.fetched, c.failed, c.failErr = v, true, later(c.fetched, end), time.Time{}, nil
	}
	f.val, f.err = v, err
	c.flight = nil
	close(f.done)
}

// wait is the flight's result, or the caller's context's error.
func (f *flight[T]) wait(ctx context.Context) (T, error) {
	select {
	case <-f.done:
		return f.val, f.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}
