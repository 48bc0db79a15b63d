package core

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/keyward/internal/store"
)

// staleAfter is how long caches may go without proof that they hold every
// change another instance committed; past it, requests that would read them
// answer Unavailable.
const staleAfter = time.Second

// freshness tracks whether the caches are known to be current. With a store
// shared by several instances (a store.ChangeFeed), they are current as of
// the feed's last proof of life, and only while the feed is connected: once
// it is lost they are not, until it has reconnected, listened and reloaded
// (its next Alive); with one instance, always.
//
// A proof is kept as the time value Alive was given, monotonic reading
// included, and its age is taken with time.Since: a step of the wall clock
// (NTP, a VM resumed or migrated, an operator's date) neither ages a proof
// nor makes an old one look recent (review r25b R9).
type freshness struct {
	shared bool
	alive  atomic.Pointer[time.Time] // the last proof; nil none yet
	lost   atomic.Bool               // the listener is between a loss and its next reload
}

// check returns Unavailable when the caches may miss another instance's
// changes: no proof yet, the last one older than staleAfter, or the
// listener lost and not yet reloaded.
func (f *freshness) check() error {
	if f == nil || !f.shared {
		return nil
	}
	if f.lost.Load() {
		return &Error{Kind: Unavailable, Msg: "store unavailable: change listener reconnecting", Err: store.ErrUnavailable}
	}
	if at := f.alive.Load(); at == nil || time.Since(*at) > staleAfter {
		return &Error{Kind: Unavailable, Msg: "store unavailable: caches may be out of date", Err: store.ErrUnavailable}
	}
	return nil
}

// prove records a proof of freshness taken at at, and that the listener is
// connected and reloaded.
func (f *freshness) prove(at time.Time) {
	f.alive.Store(&at)
	f.lost.Store(false)
}

// Fresh reports whether the caches are current (see freshness).
func (c *Core) Fresh() error { return c.accessService.keys.fresh.check() }

// changeHandler applies other instances' committed changes to the caches
// (store.ChangeHandler).
type changeHandler struct {
	c   *Core
	log *slog.Logger
	now func() time.Time // time.Now; tests set it
	mu  sync.Mutex
	// An outage logs one warning and its end one line (review 25 F5), also
	// when the listener flaps: a loss within flapWindow of the last
	// recovery logs nothing unless a reconnection fails too or it lasts
	// past staleAfter (requests answer 503 meanwhile: a loss is no
	// proof).
	outage   bool      // lost, not yet reloaded
	logged   bool      // this outage's warning was logged
	attempts int       // losses in this outage
	backAt   time.Time // the last recovery
	flaps    int       // quiet losses since the last logged line
	gen      int       // counts outages, so a late timer knows its own
}

// flapWindow is how soon after a recovery a loss counts as the store
// flapping rather than a new outage.
const flapWindow = 2 * time.Second

var (
	_ store.ChangeHandler         = (*changeHandler)(nil)
	_ store.KeyBatchHandler       = (*changeHandler)(nil)
	_ store.PrincipalBatchHandler = (*changeHandler)(nil)
)

// Reload reloads every cache: keys and signing keys read again, principals,
// grants, roles and built authenticators dropped (loaded again on use).
func (h *changeHandler) Reload(ctx context.Context) error {
	c := h.c
	if err := c.accessService.keys.load(ctx); err != nil {
		return err
	}
	c.accessService.keys.forgetAll()
	c.authenticatorService.authns.forgetAll()
	c.principalService.search.forgetAll()
	return c.tokenService.tokens.reload(ctx, c.st, c.tokenService.sealer, c.tokenService.now())
}

// Changed applies one change another instance (or this one) committed.
func (h *changeHandler) Changed(ctx context.Context, payload string) error {
	c := h.c
	kind, rest, _ := strings.Cut(payload, ":")
	account, id, _ := strings.Cut(rest, ":")
	switch kind {
	case "key":
		return c.accessService.keys.refreshKeyStrict(ctx, id)
	case "principal":
		p, err := c.st.GetPrincipal(ctx, account, id)
		gone := errors.Is(err, store.ErrNotFound)
		c.accessService.keys.forgetPrincipal(account, id, gone)
		if err != nil && !gone {
			return err
		}
		// The user search's index follows the write as this instance's own.
		if gone {
			c.principalService.search.drop(account, id)
		} else {
			c.principalService.search.put(p)
		}
	case "grants":
		c.accessService.keys.forgetPrincipal(account, id, false)
	case "role":
		c.accessService.keys.forgetRoles()
	case "signing-keys", "account":
		return c.tokenService.tokens.reload(ctx, c.st, c.tokenService.sealer, c.tokenService.now())
	case "authenticator":
		c.authenticatorService.authns.forgetAll()
	}
	return nil
}

// KeysChanged re-reads the keys named by ids in one go
// (store.KeyBatchHandler): what a round of key:<account>:<id> payloads
// asks, without a store round trip each.
func (h *changeHandler) KeysChanged(ctx context.Context, ids []string) error {
	return h.c.accessService.keys.refreshKeysStrict(ctx, ids)
}

// PrincipalsChanged applies many principal:<account>:<id> payloads in one
// store round trip per chunk (store.PrincipalBatchHandler), as Changed does
// one: a principal not found in that account is gone (its keys in that
// account dropped), the others re-read for the user search.
func (h *changeHandler) PrincipalsChanged(ctx context.Context, refs []store.ItemRef) error {
	c := h.c
	ids := make([]string, len(refs))
	for i, r := range refs {
		ids[i] = r.ID
	}
	ps, err := c.st.GetPrincipals(ctx, ids)
	if err != nil {
		for _, r := range refs {
			c.accessService.keys.forgetPrincipal(r.Account, r.ID, false)
		}
		return err
	}
	byID := make(map[string]int, len(ps))
	for i, p := range ps {
		byID[p.ID] = i
	}
	for _, r := range refs {
		i, ok := byID[r.ID]
		gone := !ok || ps[i].Account != r.Account
		c.accessService.keys.forgetPrincipal(r.Account, r.ID, gone)
		if gone {
			c.principalService.search.drop(r.Account, r.ID)
		} else {
			c.principalService.search.put(ps[i])
		}
	}
	return nil
}

// Alive records a proof that the caches hold every change committed before at.
func (h *changeHandler) Alive(at time.Time) {
	h.c.accessService.keys.fresh.prove(at)
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.outage {
		return
	}
	h.outage, h.backAt = false, h.now()
	if h.logged {
		h.log.Info("store reachable again: reconnected and caches reloaded", "reconnect_attempts", h.attempts, "flaps_before", h.flaps)
		h.logged, h.flaps = false, 0
	}
}

// Lost drops the proof of freshness (requests that need the caches answer
// 503 from now until the listener has reconnected and reloaded) and logs an outage once: at its first
// loss, or, when the store flaps (lost again soon after a recovery), once
// a reconnection has failed too.
func (h *changeHandler) Lost(err error) {
	h.c.accessService.keys.fresh.lost.Store(true)
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.outage {
		h.outage, h.attempts = true, 0
		h.gen++
		if !h.backAt.IsZero() && h.now().Sub(h.backAt) < flapWindow {
			h.flaps++ // quiet unless the reconnection fails or it lasts
			gen := h.gen
			time.AfterFunc(staleAfter, func() {
				h.mu.Lock()
				defer h.mu.Unlock()
				if h.outage && !h.logged && h.gen == gen {
					h.logged = true
					h.log.Warn("store unreachable: change listener lost; requests needing the caches answer 503 until it has reconnected and reloaded",
						"err", err, "flaps_before", h.flaps)
				}
			})
		} else {
			h.flaps = 0
			h.logged = true
			h.log.Warn("store unreachable: change listener lost; requests needing the caches answer 503 until it has reconnected and reloaded", "err", err)
		}
	}
	h.attempts++
	if !h.logged && h.attempts >= 2 {
		h.logged = true
		h.log.Warn("store unreachable: change listener lost; requests needing the caches answer 503 until it has reconnected and reloaded",
			"err", err, "flaps_before", h.flaps)
	}
}

// followChanges starts the change feed of a shared store, if it is one, and
// waits up to the store timeout for the first reload.
func (c *Core) followChanges(ctx context.Context, bg context.Context, log *slog.Logger) {
	feed, ok := c.st.(store.ChangeFeed)
	if !ok {
		return
	}
	c.accessService.keys.fresh.shared = true
	h := &changeHandler{c: c, log: log, now: time.Now}
	c.bg.Add(1)
	go func() { defer c.bg.Done(); feed.FollowChanges(bg, h) }()
	// Serve only once the caches are known current, or give up waiting
	// (requests then answer 503 until they are).
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for c.Fresh() != nil && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
