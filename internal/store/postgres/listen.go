package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	fl := &floodWatch{log: s.log}
	collect(conn, set)
	drained, err := fl.settle(ctx, h, set, s.db.timeout)
	if err != nil {
		return false, err
	}
	if drained {
		h.Alive(since)
	}
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
		drained, err := fl.settle(ctx, h, set, s.db.timeout)
		if err != nil {
			return true, err
		}
		// Alive(at) only once every change received before at has been
		// applied: a backlog carried to the next round proves nothing.
		if drained {
			h.Alive(at)
		}
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

// The listener's bounds on work (review 25 F1, review r25b R7): anyone with
// CONNECT can NOTIFY, so a round's work must not grow with what a foreign
// session sends, and must not grow with the store either.
//
//   - backlogMax is the most distinct changes held (memory: at most
//     backlogMax × maxPayload); past it, only a full reload can account for
//     what was dropped.
//   - applyBudget bounds the time one round spends applying changes; what
//     is left is carried to the next round (no proof of life meanwhile).
//   - batchMax is how many keys one KeysChanged, or principals one
//     PrincipalsChanged, re-reads (one query).
//   - A backlog that does not drain within a round, or past backlogMax, is
//     resolved by a full reload, but at most one per reloadEvery: a reload
//     costs in proportion to the store (every API key read again, ~1.2 s for
//     100,000 keys on 2 cores), so back-to-back reloads would keep the
//     caches stale for as long as a flood lasts.
//   - floodRound distinct changes in one round is a flood (or a burst of
//     writes): it is logged once, and its end once floodQuiet has passed
//     without one.
const (
	backlogMax  = 20000
	applyBudget = 250 * time.Millisecond
	batchMax    = 1000
	reloadEvery = 5 * time.Second
	floodRound  = 1000
	floodQuiet  = 10 * time.Second
	maxPayload  = 1024
)

// wholeKinds are the kinds whose change refreshes a whole cache, whatever
// they name (store.ChangeHandler): several of them make one refresh.
var wholeKinds = map[string]bool{"account": true, "role": true, "authenticator": true, "signing-keys": true}

// itemKinds name one object, as kind:<account>:<id>.
var itemKinds = map[string]bool{"key": true, "principal": true, "grants": true}

// change is one payload of a set, under the name it is coalesced by.
type change struct {
	name, payload string
	kind          string        // "key" and "principal" may be applied in batches
	ref           store.ItemRef // the account and id of an item kind's payload
}

// changeSet holds the changes received and not yet applied, each once.
type changeSet struct {
	seen  map[string]bool
	order []change
	added int  // distinct changes added since the last round
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
	ch := change{name: p, payload: p, kind: kind}
	switch {
	case wholeKinds[kind]:
		ch.name = kind
	case itemKinds[kind]:
		acct, id, ok := strings.Cut(rest, ":")
		if !ok || acct == "" || id == "" {
			return
		}
		ch.ref = store.ItemRef{Account: acct, ID: id}
	default:
		return
	}
	if c.seen[ch.name] {
		return
	}
	if len(c.order) == backlogMax {
		c.over, c.seen, c.order = true, map[string]bool{}, nil
		return
	}
	c.seen[ch.name] = true
	c.order = append(c.order, ch)
	c.added++
}

// reset empties the set (a full reload reads everything it held).
func (c *changeSet) reset() { c.over, c.seen, c.order = false, map[string]bool{}, nil }

// apply hands the set's changes to h, key and principal payloads in
// batches of batchMax when h is a store.KeyBatchHandler or
// store.PrincipalBatchHandler (one store round trip per batch), until the
// set is empty or applyBudget is spent; it keeps what is left, and says
// whether the set was emptied.
func (c *changeSet) apply(ctx context.Context, h store.ChangeHandler, timeout time.Duration) (bool, error) {
	kb, keyBatch := h.(store.KeyBatchHandler)
	pb, principalBatch := h.(store.PrincipalBatchHandler)
	var keys []string
	var principals []store.ItemRef
	batched := func(what string, n int, do func(context.Context) error) error {
		if n == 0 {
			return nil
		}
		bctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if err := do(bctx); err != nil {
			return fmt.Errorf("apply changes to %d %s: %w", n, what, err)
		}
		return nil
	}
	flushKeys := func() error {
		err := batched("keys", len(keys), func(ctx context.Context) error { return kb.KeysChanged(ctx, keys) })
		keys = keys[:0]
		return err
	}
	flushPrincipals := func() error {
		err := batched("principals", len(principals), func(ctx context.Context) error { return pb.PrincipalsChanged(ctx, principals) })
		principals = principals[:0]
		return err
	}
	start := time.Now()
	i := 0
	for ; i < len(c.order) && time.Since(start) <= applyBudget; i++ {
		ch := c.order[i]
		switch {
		case keyBatch && ch.kind == "key":
			if keys = append(keys, ch.ref.ID); len(keys) == batchMax {
				if err := flushKeys(); err != nil {
					return false, err
				}
			}
		case principalBatch && ch.kind == "principal":
			if principals = append(principals, ch.ref); len(principals) == batchMax {
				if err := flushPrincipals(); err != nil {
					return false, err
				}
			}
		default:
			if err := h.Changed(ctx, ch.payload); err != nil {
				return false, fmt.Errorf("apply change %q: %w", ch.payload, err)
			}
		}
	}
	if err := flushKeys(); err != nil {
		return false, err
	}
	if err := flushPrincipals(); err != nil {
		return false, err
	}
	for _, ch := range c.order[:i] {
		delete(c.seen, ch.name) // applied: a new notification of it is a new change
	}
	c.order = c.order[i:]
	if len(c.order) == 0 {
		c.order = nil
		return true, nil
	}
	return false, nil
}

// floodWatch decides, round by round, between applying a set and reloading,
// and logs a flood once.
type floodWatch struct {
	log        *slog.Logger
	lastReload time.Time // the last reload for a backlog (not a reconnection's)
	flooding   bool      // a flood was logged and has not been over for floodQuiet
	lastFlood  time.Time
	rounds     int  // flood rounds since it was logged
	reloads    int  // reloads for a backlog since it was logged
	stale      bool // a round could not drain (logged once per flood)
}

// settle applies what the round collected; it reloads instead when the set
// went past backlogMax or did not drain within applyBudget, unless a
// backlog reload ran within reloadEvery (the backlog then waits, and the
// caches count as stale meanwhile). It says whether every change received
// has been applied (or read by the reload).
func (f *floodWatch) settle(ctx context.Context, h store.ChangeHandler, set *changeSet, timeout time.Duration) (bool, error) {
	now := time.Now()
	if set.added > floodRound || set.over {
		f.lastFlood = now
		f.rounds++
		if !f.flooding {
			f.flooding, f.rounds, f.reloads, f.stale = true, 1, 0, false
			f.log.Warn("change notification flood: many distinct changes in one round (a burst of writes, or a NOTIFY "+
				"flood from any role that may connect: see docs/deploy.md); applying them in batches",
				"changes", set.added, "over_backlog", set.over)
		}
	} else if f.flooding && now.Sub(f.lastFlood) > floodQuiet {
		f.flooding = false
		f.log.Info("change notification flood over", "flood_rounds", f.rounds, "reloads", f.reloads, "went_stale", f.stale)
	}
	set.added = 0
	if !set.over {
		drained, err := set.apply(ctx, h, timeout)
		if drained && !f.flooding {
			f.stale = false // logged again if it happens again
		}
		if err != nil || drained {
			return drained, err
		}
	}
	if !f.lastReload.IsZero() && time.Since(f.lastReload) < reloadEvery {
		if !f.stale {
			f.stale = true
			f.log.Warn("change backlog larger than one round can apply; caches count as stale (requests answer 503) "+
				"until it drains or the next reload", "pending", len(set.order), "over_backlog", set.over,
				"next_reload_in", (reloadEvery - time.Since(f.lastReload)).Round(time.Millisecond).String())
		}
		return false, nil
	}
	f.lastReload = time.Now()
	f.reloads++
	set.reset()
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := h.Reload(rctx); err != nil {
		return false, fmt.Errorf("reload after a backlog of changes: %w", err)
	}
	return true, nil
}
