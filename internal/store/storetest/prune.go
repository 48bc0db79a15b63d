package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/store"
)

// appendTimed appends n events, the i-th at base + i minutes.
func appendTimed(t *testing.T, s store.Store, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		e := ev("acme", fmt.Sprintf("e%d", i))
		e.Time = base.Add(time.Duration(i) * time.Minute)
		must(t, "append", s.AppendAudit(context.Background(), e))
	}
}

func testAuditSince(t *testing.T, s store.Store) {
	ctx := context.Background()
	recs, err := s.AuditSince(ctx, 0, 10)
	if err != nil || len(recs) != 0 {
		t.Fatalf("since 0 of an empty chain: %v %v", recs, err)
	}
	appendTimed(t, s, 0, 7)
	all, err := s.AuditSince(ctx, 0, 100)
	must(t, "since 0", err)
	if len(all) != 7 || all[0].Seq != 1 || all[6].Seq != 7 || all[0].PrevHash != audit.GenesisHash {
		t.Fatalf("since 0 = %+v", all)
	}
	for i := 1; i < len(all); i++ {
		if all[i].PrevHash != all[i-1].Hash || !Key.Valid(&all[i]) {
			t.Fatalf("record %d does not link or verify: %+v", all[i].Seq, all[i])
		}
	}
	page, err := s.AuditSince(ctx, 3, 2)
	must(t, "since 3", err)
	if len(page) != 2 || page[0].Seq != 3 || page[1].Seq != 4 {
		t.Fatalf("since 3, limit 2 = %+v", page)
	}
	wantEqual(t, "record 3", page[0], all[2])
	if rest, err := s.AuditSince(ctx, 8, 10); err != nil || len(rest) != 0 {
		t.Fatalf("since past the head: %v %v", rest, err)
	}
}

func testAuditPrune(t *testing.T, s store.Store) {
	ctx := context.Background()
	prune := ev("acme", "audit.prune")
	// Nothing to prune in an empty chain: nothing is written.
	p, err := s.PruneAudit(ctx, base.Add(time.Hour), prune)
	if err != nil || p.To != 0 || auditCount(t, s) != 0 {
		t.Fatalf("prune of an empty chain = %+v, %v", p, err)
	}
	appendTimed(t, s, 0, 10)
	all, err := s.AuditSince(ctx, 0, 100)
	must(t, "since", err)
	// Records 0-3 are before base+4m; record 5 (e4) is the first after.
	p, err = s.PruneAudit(ctx, base.Add(4*time.Minute), prune)
	must(t, "prune", err)
	if p.From != 1 || p.To != 4 || p.Checkpoint.Seq != 4 || p.Checkpoint.Hash != all[3].Hash {
		t.Fatalf("prune = %+v; want records 1-4, checkpoint at 4 with its hash", p)
	}
	c, err := s.VerifyAudit(ctx)
	must(t, "verify", err)
	if c.Broken != 0 || c.From != 4 || c.Records != 7 {
		t.Fatalf("verify after prune = %+v; want intact from 4, 7 records (5-10 and the prune's)", c)
	}
	recs, total, err := s.ListAudit(ctx, "", 100, 0)
	must(t, "list", err)
	if total != 7 || len(recs) != 7 || recs[6].Seq != 5 || recs[6].PrevHash != all[3].Hash {
		t.Fatalf("list after prune: %d of %d, oldest %+v", len(recs), total, recs[len(recs)-1])
	}
	if recs[0].Event.Event != "audit.prune" || !strings.Contains(recs[0].Detail, "removed records 1-4") ||
		!strings.Contains(recs[0].Detail, "checkpoint seq 4 hash "+all[3].Hash) {
		t.Fatalf("the prune's record = %+v", recs[0])
	}
	if since, err := s.AuditSince(ctx, 0, 100); err != nil || len(since) != 7 || since[0].Seq != 5 || since[0].PrevHash != all[3].Hash {
		t.Fatalf("since 0 after prune = %+v, %v", since, err)
	}
	// Only a prefix goes: a record out of time order stops the prune there.
	late := ev("acme", "late")
	late.Time = base // older than the records before it
	must(t, "append late", s.AppendAudit(ctx, late))
	p, err = s.PruneAudit(ctx, base.Add(8*time.Minute), prune)
	must(t, "prune again", err)
	if p.From != 5 || p.To != 8 {
		t.Fatalf("second prune = %+v; want 5-8", p)
	}
	// Everything before a time past every record (the late one included).
	p, err = s.PruneAudit(ctx, time.Now().Add(time.Hour), prune)
	must(t, "prune all", err)
	if p.From != 9 || p.To != 13 {
		t.Fatalf("prune of everything = %+v; want 9-13 (12 is the late record, 13 the second prune's)", p)
	}
	c, err = s.VerifyAudit(ctx)
	must(t, "verify", err)
	if c.Broken != 0 || c.From != 13 || c.Records != 1 {
		t.Fatalf("verify after pruning everything = %+v; want the prune's record after checkpoint 14", c)
	}
	// Appends continue the chain after the checkpoint.
	must(t, "append after", s.AppendAudit(ctx, ev("acme", "after")))
	mustVerify(t, s)
	if _, err := s.RekeyAudit(ctx, ev("acme", "audit.rekey")); err != nil {
		t.Fatalf("rekey after a prune: %v", err)
	}
	mustVerify(t, s)
}

// RunPruneTamper checks that a pruned chain keeps its strength: records
// removed past the checkpoint, a checkpoint moved, forged or reset, and the
// usual edits after it are all found. open as for RunTamper.
func RunPruneTamper(t *testing.T, open func(t *testing.T) (store.Store, Exec)) {
	cases := []struct {
		name    string
		queries []string
		wantSeq int64
		why     string
	}{
		{name: "intact", wantSeq: 0},
		{name: "more removed", queries: []string{"DELETE FROM audit_events WHERE seq <= 6"}, wantSeq: 5, why: "missing"},
		// Someone who removes more and moves the checkpoint after them, with
		// the hash of the last removed record, lacks the key for its MAC.
		{name: "checkpoint moved", queries: []string{
			"UPDATE audit_checkpoint SET seq = 6, hash = (SELECT lower(hash) FROM audit_log WHERE seq = 6) WHERE id = 1",
			"DELETE FROM audit_events WHERE seq <= 6"}, wantSeq: 7, why: "checkpoint"},
		{name: "checkpoint reset", queries: []string{
			"UPDATE audit_checkpoint SET seq = 0, hash = '" + audit.GenesisHash + "', keyed = 0, mac = '' WHERE id = 1"}, wantSeq: 1, why: "checkpoint"},
		{name: "checkpoint unkeyed", queries: []string{"UPDATE audit_checkpoint SET keyed = 0 WHERE id = 1"}, wantSeq: 5, why: "checkpoint"},
		{name: "first after checkpoint altered", queries: []string{"UPDATE audit_events SET detail = 'forged' WHERE seq = 5"}, wantSeq: 5},
		{name: "first after checkpoint removed", queries: []string{"DELETE FROM audit_events WHERE seq = 5"}, wantSeq: 5, why: "missing"},
		{name: "tail removed", queries: []string{"DELETE FROM audit_events WHERE seq >= 9"}, wantSeq: 9, why: "head"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s, exec := open(t)
			appendTimed(t, s, 0, 10)
			if _, err := s.PruneAudit(ctx, base.Add(4*time.Minute), ev("acme", "audit.prune")); err != nil {
				t.Fatal(err)
			}
			for _, q := range tc.queries {
				must(t, q, exec(q))
			}
			c, err := s.VerifyAudit(ctx)
			must(t, "verify", err)
			if c.Broken != tc.wantSeq || !strings.Contains(c.Why, tc.why) {
				t.Fatalf("verify after %s = %+v; want broken at %d, saying %q", tc.name, c, tc.wantSeq, tc.why)
			}
		})
	}
	// A broken chain is not pruned: that would remove the evidence.
	t.Run("broken refused", func(t *testing.T) {
		ctx := context.Background()
		s, exec := open(t)
		appendTimed(t, s, 0, 10)
		mustVerify(t, s) // the records are in the table
		must(t, "tamper", exec("UPDATE audit_events SET detail = 'forged' WHERE seq = 3"))
		if _, err := s.PruneAudit(ctx, base.Add(6*time.Minute), ev("acme", "audit.prune")); err == nil || !strings.Contains(err.Error(), "record 3") {
			t.Fatalf("prune of a broken chain: %v; want refused naming record 3", err)
		}
		if c, err := s.VerifyAudit(ctx); err != nil || c.Broken != 3 || c.From != 0 {
			t.Fatalf("verify after a refused prune = %+v, %v", c, err)
		}
	})
}
