package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Review r25b R7: a backlog the handler cannot apply within a round (here
// Changed costs 1 ms, 20,000 distinct payloads) is settled by a reload,
// but reloads for a backlog are at most one per reloadEvery: a second
// backlog right after the first waits (the caches count as stale: no
// proof of life) instead of a reload per round, and is reloaded once
// reloadEvery has passed, after which proofs resume.
func TestBacklogReloadsAreRateLimited(t *testing.T) {
	ctx := context.Background()
	dsn, r := followFlood(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	flood := func(tag string) {
		if _, err := conn.Exec(ctx, "SELECT count(pg_notify('"+Channel+"', 'key:acct:"+tag+"' || g)) FROM generate_series(1, 20000) g"); err != nil {
			t.Fatal(err)
		}
	}
	flood("a")
	waitFor(t, "a reload of the first backlog", func() bool { return r.get(func() int { return r.reloads }) >= 2 })
	first := time.Now()
	flood("b")
	time.Sleep(time.Second)
	r.mu.Lock()
	reloads, alives := r.reloads, r.alives
	r.mu.Unlock()
	if reloads != 2 {
		t.Fatalf("a second backlog right after the first made %d reloads in all; want it to wait for reloadEvery (2 in all)", reloads)
	}
	time.Sleep(time.Second)
	if got := r.get(func() int { return r.alives }); got != alives {
		t.Errorf("proofs of life went on (%d more) while 20,000 changes were still being applied", got-alives)
	}
	deadline := first.Add(reloadEvery + 3*time.Second)
	for r.get(func() int { return r.reloads }) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the second backlog was not reloaded within %v of the first reload", reloadEvery+3*time.Second)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// (first was taken just after the first reload began: a margin.)
	if since := time.Since(first); since < reloadEvery-250*time.Millisecond {
		t.Errorf("the second backlog reload came %v after the first, within reloadEvery %v", since, reloadEvery)
	}
	after := r.get(func() int { return r.alives })
	waitFor(t, "proofs of life after the second reload", func() bool { return r.get(func() int { return r.alives }) > after+1 })
}
