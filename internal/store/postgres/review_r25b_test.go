package postgres

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/store/sqlstore"
	"github.com/keyward/keyward/internal/store/storetest"
)

// review r25b F3: VerifyAudit's Quarantined counts rows of audit_quarantine, a
// plain table the same database writer who forged the batch can empty. The
// chain itself keeps the evidence (a keyed audit.pending_rejected record per
// refused batch, which that writer cannot remove without breaking the
// chain), but `keyward audit verify --store` goes back to "intact", exit 0,
// once the quarantine rows are deleted.
func TestReviewR25bQuarantineDeletionHidesRefusedBatches(t *testing.T) {
	ctx := context.Background()
	dsn := freshSchema(t)
	s, err := Open(ctx, dsn, storetest.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := s.AppendAudit(ctx, audit.Event{Account: "acme", Event: "honest", Outcome: audit.Success}); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO audit_pending (time_us,account,event,outcome,reason,actor,subject,key_id,
		client_ip,peer_ip,request_id,authenticator,detail) VALUES (ARRAY[1::bigint],ARRAY['acme'],ARRAY['apikey.revoke'],
		ARRAY['success'],ARRAY[''],ARRAY['alice'],ARRAY['forged'],ARRAY[''],ARRAY[''],ARRAY[''],ARRAY['forged-req'],ARRAY[''],ARRAY['{}'])`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LinkPending(ctx, true); err != nil {
		t.Fatal(err)
	}
	c, err := s.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.Quarantined != 1 {
		t.Fatalf("before: %+v, want 1 quarantined", c)
	}
	// The forger cleans up after itself.
	if _, err := conn.Exec(ctx, "DELETE FROM audit_quarantine"); err != nil {
		t.Fatal(err)
	}
	c, err = s.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.Broken == 0 && c.Quarantined == 0 {
		t.Fatalf("after the quarantine table was emptied by a database writer, verify reports %+v: an intact chain and no refused batch, although the chain holds a keyed audit.pending_rejected record", c)
	}
}

// review r25b F5: the linker takes the oldest pending batch "whatever its
// size", decodes it into memory and copies it back to audit_quarantine in
// one transaction under --store-timeout. One forged row with 500,000
// elements per column (a few MB, written in 3 s by a database writer
// without the master key) never fits: the transaction times out, rolls
// back, and is retried forever. Nothing after it is ever chained (honest
// acknowledged records stay pending), every audit reader answers
// unavailable, and each retry logs that the batch was quarantined.
func TestReviewR25bHugeForgedBatchStallsLinker(t *testing.T) {
	ctx := context.Background()
	dsn := freshSchema(t)
	s, err := Open(ctx, dsn, storetest.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// Fix (migration 0024): such a row is refused at insert ...
	forge := `INSERT INTO audit_pending (time_us,account,event,outcome,reason,actor,subject,key_id,
		client_ip,peer_ip,request_id,authenticator,detail,mac) SELECT array_agg(g::bigint),array_agg('acme'::text),
		array_agg('x'::text),array_agg('x'::text),array_agg('x'::text),array_agg('x'::text),array_agg('x'::text),
		array_agg('x'::text),array_agg('x'::text),array_agg('x'::text),array_agg('x'::text),array_agg('x'::text),
		array_agg('x'::text),'\x00'::bytea FROM generate_series(1,500000) g`
	if _, err := conn.Exec(ctx, forge); err == nil || !strings.Contains(err.Error(), "audit_pending_batch_bound") {
		t.Fatalf("a pending row of 500,000 records was not refused at insert: %v", err)
	}
	// ... and one already pending (written before 0024, or by the table's
	// owner; simulated by dropping the CHECK) is quarantined by the
	// server without stalling the linker: the reviewer's check below.
	if _, err := conn.Exec(ctx, "ALTER TABLE audit_pending DROP CONSTRAINT audit_pending_batch_bound"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, forge); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx, audit.Event{Account: "acme", Event: "honest.after", Outcome: audit.Success, RequestID: "honest-req"}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, lerr := s.LinkPending(ctx, true)
	t.Logf("LinkPending with a 500,000-record forged row pending: %v", time.Since(start))
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM audit_pending").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if lerr != nil || n != 0 {
		t.Fatalf("a huge forged pending batch stalls the linker: LinkPending: %v; %d batches still pending (the honest record behind it is never chained)", lerr, n)
	}
	var q, rejected, honest int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM audit_quarantine WHERE cardinality(time_us) = 500000").Scan(&q); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM audit_log WHERE event = 'audit.pending_rejected'),
		(SELECT count(*) FROM audit_log WHERE request_id = 'honest-req')`).Scan(&rejected, &honest); err != nil {
		t.Fatal(err)
	}
	if q != 1 || rejected != 1 || honest != 1 {
		t.Fatalf("quarantined %d, audit.pending_rejected %d, honest %d; want 1 each", q, rejected, honest)
	}
	c, err := s.VerifyAudit(ctx)
	if err != nil || c.Broken != 0 || c.Quarantined != 1 {
		t.Fatalf("verify: %+v %v, want intact with 1 quarantined", c, err)
	}
}

// Review r25b R5: a batch larger than a pending row may hold (an audited
// write of many records) is split into rows within the bound, all chained.
func TestReviewR25bLargeBatchSplitsIntoRows(t *testing.T) {
	ctx := context.Background()
	dsn := freshSchema(t)
	s, err := Open(ctx, dsn, storetest.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n := sqlstore.PendingMaxRecords*2 + 5
	evs := make([]audit.Event, n)
	for i := range evs {
		evs[i] = audit.Event{Account: "acme", Event: "bulk", Outcome: audit.Success, RequestID: strconv.Itoa(i)}
	}
	if err := s.AppendAudit(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	c, err := s.VerifyAudit(ctx)
	if err != nil || c.Broken != 0 || c.Quarantined != 0 || c.Records != int64(n) {
		t.Fatalf("verify: %+v %v, want %d intact records, none quarantined", c, err, n)
	}
	recs, total, err := s.ListAudit(ctx, "acme", n, 0)
	if err != nil || total != n {
		t.Fatalf("list: %d %v", total, err)
	}
	for i, r := range recs { // newest first
		if want := strconv.Itoa(n - 1 - i); r.RequestID != want {
			t.Fatalf("record %d has request id %q, want %q (order kept)", i, r.RequestID, want)
		}
	}
}

// review r25b F8: the linker checks the chain's last record under its key
// (checkHeadKey, meant for a linker started with another master key, which
// serve already refuses at start). A database writer who alters that one
// record (an UPDATE of its client_ip) stops every linker for good: each
// acknowledged record after it stays in audit_pending forever (audit rekey
// and prune refuse a broken chain, so nothing in keyward can repair it),
// and GET /api/v1/audit answers 500 "internal error". The alteration must
// be reported (verify: BROKEN), not turned into a halt of the audit trail.
func TestReviewR25bAlteredHeadStopsLinking(t *testing.T) {
	ctx := context.Background()
	dsn := freshSchema(t)
	s, err := Open(ctx, dsn, storetest.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := s.AppendAudit(ctx, audit.Event{Account: "acme", Event: "before", Outcome: audit.Success}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LinkPending(ctx, true); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "UPDATE audit_events SET client_ip = '10.6.6.7' WHERE seq = (SELECT max(seq) FROM audit_events)"); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx, audit.Event{Account: "acme", Event: "after", Outcome: audit.Success, RequestID: "after-req"}); err != nil {
		t.Fatal(err)
	}
	_, lerr := s.LinkPending(ctx, true)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM audit_pending").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if lerr != nil || n != 0 {
		t.Fatalf("one altered chain record stops linking: LinkPending: %v; %d acknowledged batches left pending", lerr, n)
	}
	// The break is reported, not hidden (added with the fix).
	c, err := s.VerifyAudit(ctx)
	if err != nil || c.Broken == 0 {
		t.Fatalf("verify after the head was altered: %+v, %v; want BROKEN at the altered record", c, err)
	}
}

// review r25b F4: the use lock every serving keyward takes shared is a
// session advisory lock with a public id (useLockClass, hashtext(schema)).
// Any role with CONNECT (no privilege on any table) can hold it
// exclusively; every keyward that starts then waits in HoldUse, silently,
// for as long as that session lives (a restarted or added instance never
// comes up). Serving must not depend on a lock a foreign session can take.
func TestReviewR25bForeignSessionBlocksUseLock(t *testing.T) {
	ctx := context.Background()
	dsn := freshSchema(t)
	s, err := Open(ctx, dsn, storetest.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1, hashtext(current_schema()))", useLockClass); err != nil {
		t.Fatal(err)
	}
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.HoldUse(hctx, false); err != nil {
		t.Fatalf("a session that holds keyward's public use-lock id keeps a serving keyward from starting: %v", err)
	}
}

// costlyReload is a change handler whose full reload costs what core's
// costs with ~100,000 API keys on the 2-core review machine (measured live:
// one 1,100-payload NOTIFY gave ~0.6 s of 503 on an instance with 100k keys).
type costlyReload struct {
	mu     sync.Mutex
	alive  []time.Time
	reload time.Duration
}

func (h *costlyReload) Reload(ctx context.Context) error {
	select {
	case <-time.After(h.reload):
	case <-ctx.Done():
	}
	return nil
}
func (h *costlyReload) Changed(context.Context, string) error { return nil }
func (h *costlyReload) Lost(error)                            {}
func (h *costlyReload) Alive(at time.Time) {
	h.mu.Lock()
	h.alive = append(h.alive, time.Now())
	h.mu.Unlock()
}

// review r25b F7: past 1,000 distinct payloads a round does a full Reload,
// whose cost grows with the store (EachAPIKey of every key). Any role with
// CONNECT can send 1,001 distinct well-formed payloads per round, so with
// a large key table every round is a reload longer than the freshness
// bound: every instance answers 503 for as long as the flood lasts (live,
// 100k keys: 503 on both instances for the whole 8 s flood). The proof of
// life must not wait behind work a NOTIFY from any role can trigger.
func TestReviewR25bFloodForcesBackToBackReloads(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dsn := freshSchema(t)
	s, err := Open(ctx, dsn, storetest.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h := &costlyReload{reload: 1200 * time.Millisecond}
	done := make(chan struct{})
	go func() { defer close(done); s.FollowChanges(ctx, h) }()
	defer func() { cancel(); <-done }()
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		h.mu.Lock()
		n := len(h.alive)
		h.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("no first proof of life")
		}
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	floodStart := time.Now()
	for i := 0; time.Since(floodStart) < 4*time.Second; i++ {
		if _, err := conn.Exec(ctx, "SELECT count(pg_notify($1, 'key:acme:f'||g||'_'||$2::text)) FROM generate_series(1,1100) g", Channel, strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	last := floodStart
	for _, a := range h.alive {
		if a.Before(floodStart) {
			continue
		}
		if a.Sub(last) > time.Second {
			t.Fatalf("during a NOTIFY flood from a plain connection the listener went %v without a proof of life (caches stale: every request 503)", a.Sub(last).Round(time.Millisecond))
		}
		last = a
	}
	if time.Since(last) > time.Second+500*time.Millisecond {
		t.Fatalf("no proof of life for %v at the end of the flood", time.Since(last).Round(time.Millisecond))
	}
}
