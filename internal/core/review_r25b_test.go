package core

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

// review r25b F1: a change notification is only a hint (anyone with CONNECT
// can NOTIFY keyward_changes). A spoofed "principal:<other account>:<id>"
// makes GetPrincipal(other account, id) answer not-found, so Changed treats
// the principal as deleted and drops every cached API key of that principal
// id, whatever its real account. The keys are then refused ("invalid")
// on every instance until a full reload: a spoofed hint must not make a
// valid key invalid.
func TestReviewR25bSpoofedPrincipalNotifyDropsKeys(t *testing.T) {
	ctx := context.Background()
	c, admin, key := testCore(t, time.Now)
	if kc, _, err := c.VerifyKey(ctx, loopback, key, Vouch{}); err != nil || !kc.Valid {
		t.Fatalf("before: %+v %v", kc, err)
	}
	h := &changeHandler{c: c, log: slog.Default(), now: time.Now}
	if err := h.Changed(ctx, "principal:nosuchaccount:"+admin.PrincipalID); err != nil {
		t.Fatal(err)
	}
	kc, _, err := c.VerifyKey(ctx, loopback, key, Vouch{})
	if err != nil || !kc.Valid {
		t.Fatalf("a spoofed principal notification naming another account made the admin's valid key %+v (err %v)", kc, err)
	}
	if _, err := authKey(ctx, c, "acme", key); err != nil {
		t.Fatalf("a spoofed principal notification made the admin's key refused: %v", err)
	}
}

// pausingStore holds EachAPIKey after it has read every key, until released:
// a full reload (listener reconnect, or a NOTIFY flood past the backlog
// bound) whose snapshot was read just before a local write committed.
type pausingStore struct {
	store.Store
	armed   atomic.Bool
	read    chan struct{}
	release chan struct{}
}

func (p *pausingStore) EachAPIKey(ctx context.Context, fn func(model.APIKey) error) error {
	err := p.Store.EachAPIKey(ctx, fn)
	if p.armed.CompareAndSwap(true, false) {
		close(p.read)
		<-p.release
	}
	return err
}

// review r25b F2: a reload of the key cache (keyring.load) replaces the
// whole table with a snapshot read before it takes the lock, with no check
// that a local write refreshed a key meanwhile. A key revoked on this
// instance while a reload is in flight (the revocation answered, the cache
// said revoked) comes back as valid when the reload swaps its older
// snapshot in, until the listener's next round re-reads the key. The issue:
// a revoked key is "in force on the instance that made it when its answer
// returns". A NOTIFY flood (any role with CONNECT) makes such reloads run
// back to back.
func TestReviewR25bReloadResurrectsLocallyRevokedKey(t *testing.T) {
	ctx := context.Background()
	inner, sealer := testStore(t)
	ps := &pausingStore{Store: inner, read: make(chan struct{}), release: make(chan struct{})}
	c, err := New(ctx, Deps{Store: ps, Sealer: sealer, Now: time.Now, BcryptWorkers: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	adminKey, err := c.Bootstrap(ctx, Caller{RequestID: "init"}, "acme")
	if err != nil {
		t.Fatal(err)
	}
	admin, err := authKey(ctx, c, "acme", adminKey)
	if err != nil {
		t.Fatal(err)
	}
	k, secret, err := c.CreateAPIKey(ctx, acc(c, admin), admin.PrincipalID, KeySpec{})
	if err != nil {
		t.Fatal(err)
	}
	h := &changeHandler{c: c, log: slog.Default(), now: time.Now}
	ps.armed.Store(true)
	done := make(chan error, 1)
	go func() { done <- h.Reload(ctx) }()
	<-ps.read // the reload's snapshot holds the key as valid
	if err := c.RevokeAPIKey(ctx, acc(c, admin), k.ID); err != nil {
		t.Fatal(err)
	}
	if kc, _, err := c.VerifyKey(ctx, loopback, secret, Vouch{}); err != nil || kc.Valid {
		t.Fatalf("right after the revocation answered: %+v %v", kc.Code, err)
	}
	close(ps.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if kc, _, err := c.VerifyKey(ctx, loopback, secret, Vouch{}); err != nil || kc.Valid {
		t.Fatalf("a key revoked on this instance (revocation answered, refused once) is valid again after a concurrent reload: code %q valid %v err %v", kc.Code, kc.Valid, err)
	}
}

// review r25b F9: freshness keeps the last proof of life as wall-clock unix
// nanoseconds (alive.Store(at.UnixNano())) and compares it with
// time.Since(time.Unix(0, at)), which has no monotonic reading. When the
// wall clock steps back (NTP step, VM resume, an operator's date), a proof
// taken before the step lies "in the future": the caches count as fresh for
// the length of the step plus 1 s, even if the listener died right after
// that proof, and the instance serves revoked keys and disabled users
// instead of 503. Here: a proof taken, then the clock stepped back one hour
// (simulated by the proof's stored wall time being an hour ahead of now),
// and no proof since.
func TestReviewR25bFreshnessSurvivesClockStepBack(t *testing.T) {
	c, _, _ := testCore(t, time.Now)
	f := &c.accessService.keys.fresh
	f.shared = true
	h := &changeHandler{c: c, log: slog.Default(), now: time.Now}
	h.Alive(time.Now().Add(time.Hour)) // the last proof, then the wall clock went back an hour
	h.Lost(nil)                        // the listener is gone; no proof will come
	if err := c.Fresh(); err == nil {
		t.Fatal("after a backward wall-clock step, a listener that is gone still counts as fresh (no 503) for the length of the step")
	}
}
