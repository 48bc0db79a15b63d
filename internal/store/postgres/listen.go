package postgres

import (
	"context"
	"errors"
	"fmt"
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
	if err := drain(ctx, conn, h); err != nil {
		return false, err
	}
	h.Alive(since)
	for {
		wctx, cancel := context.WithDeadline(ctx, since.Add(proveEvery))
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if n != nil {
			if err := handle(ctx, h, n); err != nil {
				return true, err
			}
			continue
		}
		if ctx.Err() != nil {
			return true, ctx.Err()
		}
		if err != nil && !pgconn.Timeout(err) && !errors.Is(err, context.DeadlineExceeded) {
			return true, fmt.Errorf("wait for changes: %w", err)
		}
		// Nothing came: prove the connection alive. Changes committed
		// before the SELECT are delivered before its answer.
		at := time.Now()
		pctx, cancel := context.WithTimeout(ctx, proveTimeout)
		_, err = conn.Exec(pctx, "SELECT 1")
		cancel()
		if err != nil {
			return true, fmt.Errorf("prove listener alive: %w", err)
		}
		if err := drain(ctx, conn, h); err != nil {
			return true, err
		}
		h.Alive(at)
		since = at
	}
}

// drain hands every notification already received to h.
func drain(ctx context.Context, conn *pgx.Conn, h store.ChangeHandler) error {
	done, cancel := context.WithCancel(ctx)
	cancel()
	for {
		n, _ := conn.WaitForNotification(done)
		if n == nil {
			return nil
		}
		if err := handle(ctx, h, n); err != nil {
			return err
		}
	}
}

func handle(ctx context.Context, h store.ChangeHandler, n *pgconn.Notification) error {
	if n.Channel != Channel {
		return nil
	}
	if err := h.Changed(ctx, n.Payload); err != nil {
		return fmt.Errorf("apply change %q: %w", n.Payload, err)
	}
	return nil
}
