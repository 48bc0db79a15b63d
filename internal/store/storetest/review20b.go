package storetest

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/store"
)

// RunPruneLaundering checks that pruning never turns a forgery that verify
// reports into a chain that verify calls intact, for someone with write
// access to the database but not the master key. open as for RunTamper
// (a fresh store opened with Key, and a raw statement runner on it).
func RunPruneLaundering(t *testing.T, open func(t *testing.T) (store.Store, Exec)) {
	// Review 20b, finding 1. Unkeyed records are anyone's to write: a
	// database writer rewrites the whole chain (a never-pruned chain starts
	// at the unkeyed genesis checkpoint) as unkeyed records, one of them
	// altered, all back-dated. Verify says NOT AUTHENTICATED; the next
	// prune (--audit-retention runs one at start and hourly) must not
	// remove them as "verified" and leave a MAC'd checkpoint after them.
	t.Run("unkeyed forgery is not pruned", func(t *testing.T) {
		ctx := context.Background()
		s, exec := open(t)
		appendTimed(t, s, 0, 10)
		// A chain upgraded with unkeyed records at its start has an
		// unkeyed genesis (a keyed one breaks at record 1: the subtest
		// below); a rewrite of its whole chain verifies as unkeyed.
		LegacyGenesis(t, exec)
		recs, err := s.AuditSince(ctx, 0, 100) // the SQLite journal is in the table now
		must(t, "since", err)
		prev := audit.GenesisHash
		for i, r := range recs {
			e := r.Event
			e.Time = time.Date(2000, 1, 1, 0, 0, i, 0, time.UTC)
			if r.Seq == 5 {
				e.Detail = "forged"
			}
			f := audit.SealUnkeyed(r.Seq, prev, e)
			prev = f.Hash
			hash, _ := hex.DecodeString(f.Hash)
			must(t, "forge", exec("UPDATE audit_events SET time_us = $1, detail = $2, hash = $3, keyed = 0 WHERE seq = $4",
				f.Time.UnixMicro(), f.Detail, hash, f.Seq))
		}
		must(t, "move head", exec("UPDATE audit_head SET hash = $1 WHERE id = 1", prev))
		if c, err := s.VerifyAudit(ctx); err != nil || c.Unkeyed != 10 {
			t.Fatalf("verify of the forged chain = %+v, %v; want 10 unkeyed records", c, err)
		}
		// An hour before the oldest real record: an honest chain has
		// nothing to prune here.
		p, perr := s.PruneAudit(ctx, base.Add(-time.Hour), ev("acme", "audit.prune"))
		c, err := s.VerifyAudit(ctx)
		must(t, "verify", err)
		if c.Broken == 0 && c.Unkeyed == 0 {
			t.Fatalf("prune (err %v) removed forged unkeyed records %d-%d and left a checkpoint after them: verify now says intact (%+v)",
				perr, p.From, p.To, c)
		}
	})

	// Review 20b, finding 1, stronger: a chain whose genesis is keyed (every
	// chain started or upgraded from keyed records) breaks at record 1
	// when it is rewritten as unkeyed records, and prune refuses it.
	t.Run("unkeyed forgery of a keyed chain is broken", func(t *testing.T) {
		ctx := context.Background()
		s, exec := open(t)
		appendTimed(t, s, 0, 10)
		recs, err := s.AuditSince(ctx, 0, 100)
		must(t, "since", err)
		prev := audit.GenesisHash
		for _, r := range recs {
			f := audit.SealUnkeyed(r.Seq, prev, r.Event)
			prev = f.Hash
			hash, _ := hex.DecodeString(f.Hash)
			must(t, "forge", exec("UPDATE audit_events SET hash = $1, keyed = 0 WHERE seq = $2", hash, f.Seq))
		}
		must(t, "move head", exec("UPDATE audit_head SET hash = $1 WHERE id = 1", prev))
		if c, err := s.VerifyAudit(ctx); err != nil || c.Broken != 1 {
			t.Fatalf("verify of a keyed chain rewritten unkeyed = %+v, %v; want broken at 1", c, err)
		}
		if _, err := s.PruneAudit(ctx, base.Add(time.Hour), ev("acme", "audit.prune")); err == nil {
			t.Fatal("prune of a keyed chain rewritten unkeyed succeeded")
		}
	})

	// Review 20b, finding 2. A checkpoint is only a MAC over (seq, hash,
	// keyed): any checkpoint the key ever made for the same history is
	// accepted, also one made in another database (a restored copy, a
	// staging clone with the same master key) and one whose audit.prune
	// record is gone. The checkpoint must be vouched for by the keyed
	// audit.prune record that made it, after it in the chain.
	t.Run("checkpoint without its prune record", func(t *testing.T) {
		ctx := context.Background()
		prod, exec := open(t)
		clone, _ := open(t)
		appendTimed(t, prod, 0, 10)
		appendTimed(t, clone, 0, 10) // same key, same records: a copy
		p, err := clone.PruneAudit(ctx, base.Add(6*time.Minute), ev("acme", "audit.prune"))
		must(t, "prune the clone", err)
		mustVerify(t, prod) // the journal is in the table
		cp := p.Checkpoint
		must(t, "copy the checkpoint", exec("UPDATE audit_checkpoint SET seq = $1, hash = $2, keyed = $3, mac = $4 WHERE id = 1",
			cp.Seq, cp.Hash, 1, cp.MAC))
		must(t, "remove records", exec("DELETE FROM audit_events WHERE seq <= $1", cp.Seq))
		c, err := prod.VerifyAudit(ctx)
		must(t, "verify", err)
		if c.Broken == 0 {
			t.Fatalf("records 1-%d removed without a prune, under a checkpoint copied from another database: verify says intact (%+v)", cp.Seq, c)
		}
	})
}

// RunInterruptedPrune checks that a prune that stops between its
// transactions (interrupted, or refused at a later chunk) has recorded
// what it removed. Review 20b, finding 2b: today the audit.prune record
// is appended only by the last transaction, so `keyward audit prune`
// interrupted with ^C after its first 50,000 records leaves them removed,
// a valid checkpoint, and no record of the prune. It appends 50,010
// records, so run it where that is cheap.
func RunInterruptedPrune(t *testing.T, open func(t *testing.T) (store.Store, Exec)) {
	ctx := context.Background()
	s, exec := open(t)
	const n = 50010
	batch := make([]audit.Event, 0, 1000)
	for i := 0; i < n; i++ {
		e := ev("acme", fmt.Sprintf("e%d", i))
		e.Time = base.Add(time.Duration(i) * time.Millisecond)
		batch = append(batch, e)
		if len(batch) == cap(batch) || i == n-1 {
			must(t, "append", s.AppendAudit(ctx, batch...))
			batch = batch[:0]
		}
	}
	mustVerify(t, s)
	// The second transaction of the prune will refuse (a broken record).
	must(t, "tamper", exec("UPDATE audit_events SET detail = 'forged' WHERE seq = 50005"))
	_, err := s.PruneAudit(ctx, base.Add(time.Hour), ev("acme", "audit.prune"))
	if err == nil {
		t.Fatal("prune over a broken record succeeded")
	}
	recs, _, lerr := s.ListAudit(ctx, "", 5, 0)
	must(t, "list", lerr)
	for _, r := range recs {
		if r.Event.Event == "audit.prune" && strings.Contains(r.Detail, "removed records 1-50000") {
			return
		}
	}
	var newest []string
	for _, r := range recs {
		newest = append(newest, fmt.Sprintf("%d %s", r.Seq, r.Event.Event))
	}
	t.Fatalf("prune failed (%v) after removing records 1-50000, and no audit.prune record says so; newest records: %v", err, newest)
}

// RunHeadRollback (review 20b, finding 8; older than 20b): a database
// writer removes the newest records and moves audit_head back while the
// store is open. The store knows the head it last wrote; its next append
// must not continue the shortened chain as if nothing happened (SQLite's
// journal keeps its own head, so a gap shows; PostgreSQL re-reads the head
// and re-uses the removed sequence numbers).
func RunHeadRollback(t *testing.T, open func(t *testing.T) (store.Store, Exec)) {
	ctx := context.Background()
	s, exec := open(t)
	appendTimed(t, s, 0, 10)
	recs, err := s.AuditSince(ctx, 0, 100)
	must(t, "since", err)
	must(t, "remove the tail", exec("DELETE FROM audit_events WHERE seq > 7"))
	must(t, "move the head back", exec("UPDATE audit_head SET seq = 7, hash = $1 WHERE id = 1", recs[6].Hash))
	must(t, "append", s.AppendAudit(ctx, ev("acme", "after")))
	c, err := s.VerifyAudit(ctx)
	must(t, "verify", err)
	if c.Broken != 0 {
		return
	}
	last, _, err := s.ListAudit(ctx, "", 1, 0)
	must(t, "list", err)
	if len(last) == 1 && strings.Contains(last[0].Event.Event+last[0].Detail, "rollback") {
		return
	}
	t.Fatalf("records 8-10 removed and the head moved back under a running store; the next append continued the chain (%+v) and verify says intact", c)
}
