package storetest

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

const racers = 20

// race runs fn in racers goroutines started together and fails on any error.
func race(t *testing.T, fn func(i int) error) {
	t.Helper()
	raceN(t, racers, fn)
}

// raceN is race with n goroutines.
func raceN(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if err := fn(i); err != nil {
				errs <- fmt.Errorf("racer %d: %w", i, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// counterKey makes a key whose Description counts updates.
func counterKey(t *testing.T, s store.Store) {
	t.Helper()
	mustAccount(t, s, "acme")
	mustPrincipal(t, s, newUser("acme", "p1", "alice"))
	k := newKey("acme", "p1", "k1")
	k.Description = "0"
	must(t, "key", s.CreateAPIKey(context.Background(), k))
}

// increment is a pure updater adding one to the counter.
func increment(k model.APIKey) (model.APIKey, error) {
	n, err := strconv.Atoi(k.Description)
	if err != nil {
		return k, err
	}
	k.Description = strconv.Itoa(n + 1)
	return k, nil
}

func wantCounter(t *testing.T, s store.Store, want int) {
	t.Helper()
	k, err := s.GetAPIKey(context.Background(), "k1")
	must(t, "get", err)
	if k.Description != strconv.Itoa(want) {
		t.Fatalf("counter = %s after %d concurrent increments: an update was lost", k.Description, want)
	}
}

func testConcurrentUpdateAPIKey(t *testing.T, s store.Store) {
	counterKey(t, s)
	race(t, func(int) error {
		_, err := s.UpdateAPIKey(context.Background(), "k1", increment)
		return err
	})
	wantCounter(t, s, racers)
}

func testConcurrentUpdateAPIKeyAudited(t *testing.T, s store.Store) {
	counterKey(t, s)
	n := auditCount(t, s)
	var touches atomic.Int64
	race(t, func(i int) error {
		ctx := context.Background()
		if i%4 == 0 {
			// Unaudited bookkeeping racing the read-modify-writes.
			touches.Add(1)
			return s.TouchAPIKeys(ctx, []store.KeyUse{{ID: "k1", At: time.Now(), Addr: "192.0.2.1"}})
		}
		_, err := s.UpdateAPIKey(ctx, "k1", increment, ev("acme", "key-update"))
		return err
	})
	updates := racers - int(touches.Load())
	wantCounter(t, s, updates)
	if got := auditCount(t, s); got != n+updates {
		t.Fatalf("audit records = %d, want %d", got, n+updates)
	}
	mustVerify(t, s)
}

func testConcurrentUseOnce(t *testing.T, s store.Store) {
	var wins atomic.Int64
	expires := time.Now().Add(time.Hour)
	race(t, func(int) error {
		ok, err := s.UseOnce(context.Background(), "nonce-1", expires)
		if ok {
			wins.Add(1)
		}
		return err
	})
	if w := wins.Load(); w != 1 {
		t.Fatalf("%d of %d racers won one nonce, want exactly 1", w, racers)
	}
}

func testConcurrentAppendAudit(t *testing.T, s store.Store) {
	mustAccount(t, s, "acme")
	race(t, func(i int) error {
		ctx := context.Background()
		for j := range 5 {
			evs := []audit.Event{ev("acme", fmt.Sprintf("r%d-%d-a", i, j)), ev("acme", fmt.Sprintf("r%d-%d-b", i, j))}
			if err := s.AppendAudit(ctx, evs...); err != nil {
				return err
			}
		}
		// Audited changes interleave with the plain appends.
		return s.CreatePrincipal(ctx, newUser("acme", "p"+name(i), "u"+name(i)), nil, ev("acme", "user-create"))
	})
	if got, want := auditCount(t, s), racers*11; got != want {
		t.Fatalf("audit records = %d, want %d", got, want)
	}
	// Each batch stays contiguous and in order.
	recs, _, err := s.ListAudit(context.Background(), "acme", racers*11, 0)
	must(t, "list", err)
	for i, r := range recs {
		name := r.Event.Event
		if name[len(name)-1] == 'b' && (i+1 >= len(recs) || recs[i+1].Event.Event != name[:len(name)-1]+"a") {
			t.Fatalf("batch split: %s is not right after its first event", name)
		}
	}
	mustVerify(t, s)
}
