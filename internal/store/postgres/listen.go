package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keyward/keyward/internal/store"
)

// The listener's timing: it proves its connection alive at least every
// proveEvery (SELECT 1 within proveTimeout when no notification came),
// connects within listenConnectTimeout, and retries a lost connection at
// once, then every retryEvery.
const (
	proveEvery           = 250 * time.Millisecond
	proveTimeout         = 500 * time.Millisecond
	listenConnectTimeout = 2 * time.Second
	retryEvery           = 250 * time.Millisecond
)

var _ store.ChangeFeed = (*Store)(nil)

// FollowChanges holds one connection outside the pool that LISTENs on
// Channel, and drives h (see store.ChangeFeed).
func (s *Store) FollowChanges(ctx context.Context, h store.ChangeHandler) {
	for attempt := 0; ctx.Err() == nil; attempt++ {
		ok, err := s.follow(ctx, h)
		if ctx.Err() != nil {
			return
		}
		h.Lost(err)
		if ok {
			attempt = 0 // it was serving: retry at once
		}
		if attempt > 0 {
			t := time.NewTimer(retryEvery)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// follow connects, listens, reloads and then follows until the connection
// fails; served says whether it got as far as calling Alive.
func (s *Store) follow(ctx context.Context, h store.ChangeHandler) (served bool, err error) {
	cctx, cancel := context.WithTimeout(ctx, listenConnectTimeout)
	conn, err := pgx.ConnectConfig(cctx, s.listen)
	cancel()
	if err != nil {
		return false, fmt.Errorf("connect listener: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	since := time.Now()
	lctx, cancel := context.WithTimeout(ctx, listenConnectTimeout)
	_, err = conn.Exec(lctx, "LISTEN "+Channel)
	cancel()
	if err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	// Changes committed from here on are notified; Reload reads the rest.
	rctx, cancel := context.WithTimeout(ctx, s.db.timeout)
	err = h.Reload(rctx)
	cancel()
	if err != nil {
		return false, fmt.Errorf("reload: %w", err)
	}
	set := newChangeSet()
	collect(conn, set)
	if err := set.apply(ctx, h, s.db.timeout); err != nil {
		return false, err
	}
	h.Alive(since)
	for {
		// Wait for a notification until the next proof is due. A
		// notification brings the proof forward, and the proof reads every
		// notification queued before it in one go: a flood is handled as
		// one coalesced set per round trip, never one by one, and the
		// proof of life never waits behind it.
		if wait := time.Until(since.Add(proveEvery)); wait > 0 {
			wctx, cancel := context.WithTimeout(ctx, wait)
			n, err := conn.WaitForNotification(wctx)
			cancel()
			if ctx.Err() != nil {
				return true, ctx.Err()
			}
			if n != nil {
				set.add(n)
			} else if err != nil && !pgconn.Timeout(err) && !errors.Is(err, context.DeadlineExceeded) {
				return true, fmt.Errorf("wait for changes: %w", err)
			}
		}
		// Prove the connection alive: changes committed before the
		// SELECT are delivered before its answer (pgx buffers them).
		at := time.Now()
		pctx, cancel := context.WithTimeout(ctx, proveTimeout)
		_, err = conn.Exec(pctx, "SELECT 1")
		cancel()
		if err != nil {
			return true, fmt.Errorf("prove listener alive: %w", err)
		}
		collect(conn, set)
		if err := set.apply(ctx, h, s.db.timeout); err != nil {
			return true, err
		}
		h.Alive(at)
		since = at
	}
}

// collect moves every notification already received into set.
func collect(conn *pgx.Conn, set *changeSet) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for {
		n, _ := conn.WaitForNotification(done)
		if n == nil {
			return
		}
		set.add(n)
	}
}

// backlogMax is the most distinct changes the listener refreshes one by
// one; past it (a flood, or a burst of writes) it reloads everything once.
// applyBudget bounds the time spent refreshing one by one the same way, so
// a round of changes always ends well inside the freshness bound.
const (
	backlogMax  = 1000
	applyBudget = 250 * time.Millisecond
	maxPayload  = 1024
)

// wholeKinds are the kinds whose change refreshes a whole cache, whatever
// they name (store.ChangeHandler): several of them make one refresh.
var wholeKinds = map[string]bool{"account": true, "role": true, "authenticator": true, "signing-keys": true}

// itemKinds name one object, as kind:<account>:<id>.
var itemKinds = map[string]bool{"key": true, "principal": true, "grants": true}

// changeSet holds the changes received since the last round, each once.
type changeSet struct {
	seen  map[string]bool
	order []string
	over  bool // more than backlogMax: reload instead
}

func newChangeSet() *changeSet { return &changeSet{seen: map[string]bool{}} }

// add keeps n's payload if it has the shape of one keyward writes (anyone
// with CONNECT can NOTIFY: the rest is dropped before it costs anything).
func (c *changeSet) add(n *pgconn.Notification) {
	if n.Channel != Channel || c.over || len(n.Payload) > maxPayload {
		return
	}
	p := n.Payload
	kind, rest, _ := strings.Cut(p, ":")
	key := p
	switch {
	case wholeKinds[kind]:
		key = kind
	case itemKinds[kind]:
		if acct, id, ok := strings.Cut(rest, ":"); !ok || acct == "" || id == "" {
			return
		}
	default:
		return
	}
	if c.seen[key] {
		return
	}
	if len(c.order) == backlogMax {
		c.over, c.seen, c.order = true, map[string]bool{}, nil
		return
	}
	c.seen[key] = true
	c.order = append(c.order, p)
}

// apply hands the set to h, or reloads once past the backlog bound or the
// time budget, and empties it.
func (c *changeSet) apply(ctx context.Context, h store.ChangeHandler, timeout time.Duration) error {
	defer func() { c.over, c.seen, c.order = false, map[string]bool{}, nil }()
	reload := c.over
	start := time.Now()
	for _, p := range c.order {
		if reload {
			break
		}
		if err := h.Changed(ctx, p); err != nil {
			return fmt.Errorf("apply change %q: %w", p, err)
		}
		reload = time.Since(start) > applyBudget
	}
	if !reload {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := h.Reload(rctx); err != nil {
		return fmt.Errorf("reload after a backlog of changes: %w", err)
	}
	return nil
}
