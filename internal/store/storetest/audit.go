package storetest

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/store"
)

func testAuditWithChanges(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAccount(t, s, "acme")
	// Several events with one change land together, in order.
	must(t, "create", s.CreatePrincipal(ctx, newUser("acme", "p1", "alice"), nil,
		ev("acme", "user-create"), ev("acme", "key-create")))
	recs, total, err := s.ListAudit(ctx, "", 10, 0)
	must(t, "list", err)
	if total != 2 || recs[0].Event.Event != "key-create" || recs[1].Event.Event != "user-create" {
		t.Fatalf("records = %+v (total %d)", recs, total)
	}
	// A failing change leaves no record, even with several events.
	err = s.CreatePrincipal(ctx, newUser("acme", "p2", "alice"), nil, ev("acme", "a"), ev("acme", "b"))
	wantErr(t, "duplicate", err, store.ErrAlreadyExists)
	if auditCount(t, s) != 2 {
		t.Fatal("a failed change wrote audit records")
	}
	// A write with no events writes no record.
	must(t, "create quietly", s.CreatePrincipal(ctx, newUser("acme", "p3", "bob"), nil))
	if auditCount(t, s) != 2 {
		t.Fatal("a write without events wrote a record")
	}
	mustVerify(t, s)
}

func testAuditAppendList(t *testing.T, s store.Store) {
	ctx := context.Background()
	c, err := s.VerifyAudit(ctx)
	if err != nil || c != (audit.Check{}) {
		t.Fatalf("empty chain: %+v %v", c, err)
	}
	recs, total, err := s.ListAudit(ctx, "", 10, 0)
	must(t, "list empty", err)
	if len(recs) != 0 || total != 0 {
		t.Fatalf("empty list = %d of %d", len(recs), total)
	}
	must(t, "append nothing", s.AppendAudit(ctx))
	// A batch larger than one INSERT.
	var evs []audit.Event
	for i := range 250 {
		acct := "acme"
		if i%5 == 0 {
			acct = "other"
		}
		e := ev(acct, fmt.Sprintf("e%03d", i))
		e.Time = base.Add(time.Duration(i) * time.Millisecond)
		evs = append(evs, e)
	}
	must(t, "append", s.AppendAudit(ctx, evs...))
	must(t, "append more", s.AppendAudit(ctx, ev("acme", "e250"), ev("acme", "e251")))
	recs, total, err = s.ListAudit(ctx, "", 3, 0)
	must(t, "list", err)
	if total != 252 || len(recs) != 3 || recs[0].Seq != 252 || recs[0].Event.Event != "e251" || recs[2].Seq != 250 {
		t.Fatalf("newest page = %+v (total %d)", recs, total)
	}
	recs, total, err = s.ListAudit(ctx, "other", 2, 1)
	must(t, "list other", err)
	if total != 50 || len(recs) != 2 || recs[0].Event.Event != "e240" || recs[1].Event.Event != "e235" {
		t.Fatalf("other, page 2 = %+v (total %d)", recs, total)
	}
	for _, r := range recs {
		if r.Account != "other" {
			t.Fatalf("account filter let through %+v", r)
		}
	}
	recs, _, err = s.ListAudit(ctx, "acme", 0, 0)
	must(t, "default limit", err)
	if len(recs) != 100 {
		t.Fatalf("default limit gave %d records, want 100", len(recs))
	}
	mustVerify(t, s)
}

// testAuditRoundTrip checks that a record reads back exactly as sealed.
func testAuditRoundTrip(t *testing.T, s store.Store) {
	ctx := context.Background()
	e := audit.Event{
		Time:    time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.FixedZone("X", 3600)),
		Account: "acme", Event: "login", Outcome: audit.Failure, Reason: "bad_password",
		Actor: "acme:user:alice", Subject: "acme:user:alice", KeyID: "k1", ClientIP: "192.0.2.1",
		PeerIP: "10.0.0.1", RequestID: "r1", Authenticator: "authn-ldap/corp", Detail: "ünïcode ✓",
	}
	must(t, "append", s.AppendAudit(ctx, e))
	recs, _, err := s.ListAudit(ctx, "acme", 1, 0)
	must(t, "list", err)
	want := Key.Seal(1, audit.GenesisHash, e)
	wantEqual(t, "record", recs[0], want)
	if recs[0].Time.Nanosecond() != 123456000 || recs[0].Time.Location() != time.UTC {
		t.Fatalf("time = %v, want UTC at microseconds", recs[0].Time)
	}
	// An event without a time is stamped with the time of writing.
	noTime := ev("acme", "no-time")
	noTime.Time = time.Time{}
	mustAccount(t, s, "acme")
	must(t, "create", s.CreatePrincipal(ctx, newUser("acme", "p1", "alice"), nil, noTime))
	recs, _, _ = s.ListAudit(ctx, "acme", 1, 0)
	if recs[0].Time.IsZero() || time.Since(recs[0].Time) > time.Hour {
		t.Fatalf("an event without a time got %v, want now", recs[0].Time)
	}
	mustVerify(t, s)
}

// Exec runs raw SQL on a store's database ($1 placeholders).
type Exec func(query string, args ...any) error

// RunTamper checks that VerifyAudit finds altered, removed, truncated and
// rechained records. open must return a fresh store opened with Key.
func RunTamper(t *testing.T, open func(t *testing.T) (store.Store, Exec)) {
	cases := []struct {
		name    string
		query   string
		args    []any
		rechain func(t *testing.T, s store.Store, exec Exec)
		wantSeq int64
		why     string
	}{
		{name: "altered", query: "UPDATE audit_events SET detail = $1 WHERE seq = 3", args: []any{"forged"}, wantSeq: 3},
		{name: "altered time", query: "UPDATE audit_events SET time_us = time_us + 1 WHERE seq = 2", wantSeq: 2},
		{name: "altered name reference", query: "UPDATE audit_events SET event = (SELECT id FROM audit_names WHERE name = 'e0') WHERE seq = 4", wantSeq: 4},
		{name: "altered name", query: "UPDATE audit_names SET name = 'forged' WHERE name = 'e2'", wantSeq: 3},
		{name: "peer made the client", query: "UPDATE audit_events SET peer_ip = NULL WHERE seq = 2", wantSeq: 2},
		{name: "rehashed", query: "UPDATE audit_events SET hash = $1 WHERE seq = 3", args: []any{make([]byte, 32)}, wantSeq: 3},
		{name: "reordered", rechain: func(t *testing.T, _ store.Store, exec Exec) {
			for _, q := range []string{"UPDATE audit_events SET seq = 100 WHERE seq = 2", "UPDATE audit_events SET seq = 2 WHERE seq = 4",
				"UPDATE audit_events SET seq = 4 WHERE seq = 100"} {
				must(t, "reorder", exec(q))
			}
		}, wantSeq: 2},
		{name: "removed middle", query: "DELETE FROM audit_events WHERE seq = 3", wantSeq: 3},
		{name: "removed tail", query: "DELETE FROM audit_events WHERE seq >= 4", wantSeq: 4},
		{name: "removed all", query: "DELETE FROM audit_events", wantSeq: 1},
		// What the unkeyed chain could not catch: record 3 rewritten, it and
		// every later one chained again with SHA-256, the head moved.
		{name: "rewritten and rechained", rechain: rechainFrom(3, sha256Keyed, "forged"), wantSeq: 3, why: "MAC"},
		{name: "rewritten and rechained as unkeyed", rechain: rechainFrom(3, unkeyed, "forged"), wantSeq: 3, why: "unkeyed"},
		{name: "forged record appended", rechain: rechainFrom(6, sha256Keyed, "forged"), wantSeq: 6, why: "MAC"},
		{name: "rechained under another key", rechain: rechainFrom(2, otherKey, "forged"), wantSeq: 2, why: "MAC"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s, exec := open(t)
			for i := range 5 {
				must(t, "append", s.AppendAudit(ctx, ev("acme", fmt.Sprintf("e%d", i))))
			}
			mustVerify(t, s)
			if tc.rechain != nil {
				tc.rechain(t, s, exec)
			} else {
				must(t, "tamper", exec(tc.query, tc.args...))
			}
			c, err := s.VerifyAudit(ctx)
			must(t, "verify", err)
			if c.Broken != tc.wantSeq || c.Why == "" || !strings.Contains(c.Why, tc.why) {
				t.Fatalf("verify after %s = %+v; want broken at %d, saying %q", tc.name, c, tc.wantSeq, tc.why)
			}
		})
	}
	// The tampering above is what the key must stop, not a malformed
	// rewrite: done under the store's own key, it verifies.
	t.Run("rechained under the key verifies", func(t *testing.T) {
		s, exec := open(t)
		for i := range 5 {
			must(t, "append", s.AppendAudit(context.Background(), ev("acme", fmt.Sprintf("e%d", i))))
		}
		rechainFrom(3, theKey, "rewritten with the key")(t, s, exec)
		mustVerify(t, s)
	})
	// A whole chain downgraded to unkeyed records breaks at its first
	// record: the chain started keyed (its genesis checkpoint is signed
	// so), and nobody without the key can sign another genesis.
	t.Run("downgraded whole", func(t *testing.T) {
		s, exec := open(t)
		for i := range 5 {
			must(t, "append", s.AppendAudit(context.Background(), ev("acme", fmt.Sprintf("e%d", i))))
		}
		rechainFrom(1, unkeyed, "")(t, s, exec)
		c, err := s.VerifyAudit(context.Background())
		if err != nil || c.Broken != 1 {
			t.Fatalf("verify = %+v, %v; want broken at 1 (unkeyed records after a keyed genesis)", c, err)
		}
		// Blanking or flipping the genesis does not help either.
		must(t, "unsign the genesis", exec("UPDATE audit_checkpoint SET keyed = 0, mac = '' WHERE id = 1"))
		if c, err := s.VerifyAudit(context.Background()); err != nil || c.Broken != 1 || !strings.Contains(c.Why, "checkpoint") {
			t.Fatalf("verify with the genesis unsigned = %+v, %v; want broken at 1 (checkpoint)", c, err)
		}
		// On a chain that was upgraded with unkeyed records (its genesis
		// signed unkeyed), it verifies as a chain from before keying did,
		// and says that every record is unkeyed.
		LegacyGenesis(t, exec)
		c, err = s.VerifyAudit(context.Background())
		if err != nil || c.Broken != 0 || c.Records != 5 || c.Unkeyed != 5 {
			t.Fatalf("verify = %+v, %v; want 5 records, all unkeyed", c, err)
		}
	})
}

// How rechainFrom chains records again.
const (
	sha256Keyed = iota // plain SHA-256, still marked keyed
	unkeyed            // plain SHA-256, marked unkeyed
	otherKey           // under another key
	theKey             // under Key, as the store would
)

// rechainFrom rewrites the detail of record from (appends it, a copy of the
// last, if it is one past the last) and chains it and every later record
// again as mode says, moving the head. detail "" leaves details as they are.
func rechainFrom(from int64, mode int, detail string) func(t *testing.T, s store.Store, exec Exec) {
	return func(t *testing.T, s store.Store, exec Exec) {
		t.Helper()
		recs, _, err := s.ListAudit(context.Background(), "", 1000, 0)
		must(t, "list", err)
		slices.Reverse(recs)
		if int(from) == len(recs)+1 {
			r := recs[len(recs)-1]
			r.Seq++
			must(t, "insert", exec("INSERT INTO audit_events (seq, time_us, account, event, outcome, reason, actor, subject, authenticator, key_id, client_ip, peer_ip, request_id, detail, hash, keyed) "+
				"SELECT $1, time_us, account, event, outcome, reason, actor, subject, authenticator, key_id, client_ip, peer_ip, request_id, detail, hash, 1 FROM audit_events WHERE seq = $2", r.Seq, r.Seq-1))
			recs = append(recs, r)
		}
		other := audit.NewKey([]byte("not the master key's derivation!"))
		prev := audit.GenesisHash
		for i := range recs {
			r := &recs[i]
			if r.Seq < from {
				prev = r.Hash
				continue
			}
			if r.Seq == from && detail != "" {
				r.Detail = detail
			}
			r.PrevHash = prev
			keyed := 1
			switch mode {
			case otherKey:
				r.Hash = other.Chain(r.Seq, prev, &r.Event)
			case theKey:
				r.Hash = Key.Chain(r.Seq, prev, &r.Event)
			default:
				r.Hash = audit.UnkeyedChain(r.Seq, prev, &r.Event)
				if mode == unkeyed {
					keyed = 0
				}
			}
			prev = r.Hash
			hash, _ := hex.DecodeString(r.Hash)
			must(t, "rechain", exec("UPDATE audit_events SET detail = $1, hash = $2, keyed = $3 WHERE seq = $4",
				r.Detail, hash, keyed, r.Seq))
		}
		must(t, "move head", exec("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", recs[len(recs)-1].Seq, prev))
	}
}

// RunRekey checks keyward audit rekey's store half: a chain whose first
// records are unkeyed (written before keyed chaining) verifies, counting
// them; RekeyAudit chains it all again under the key, audited; a broken
// chain is refused and left as it was. open must return a fresh store
// opened with Key.
func RunRekey(t *testing.T, open func(t *testing.T) (store.Store, Exec)) {
	ctx := context.Background()
	s, exec := open(t)
	for i := range 5 {
		must(t, "append", s.AppendAudit(ctx, ev("acme", fmt.Sprintf("e%d", i))))
	}
	// As after an upgrade: records 1-3 from before, 4 and 5 keyed after.
	LegacyGenesis(t, exec)
	rechainFrom(1, unkeyed, "")(t, s, exec)
	rechainFrom(4, theKey, "")(t, s, exec)
	c, err := s.VerifyAudit(ctx)
	if err != nil || c.Broken != 0 || c.Records != 5 || c.Unkeyed != 3 {
		t.Fatalf("verify the upgraded chain = %+v, %v; want 5 records, 3 unkeyed", c, err)
	}
	rekey := ev("acme", "audit.rekey")
	c, err = s.RekeyAudit(ctx, rekey)
	if err != nil || c.Records != 5 || c.Unkeyed != 3 {
		t.Fatalf("rekey = %+v, %v", c, err)
	}
	must(t, "append after rekey", s.AppendAudit(ctx, ev("acme", "after")))
	mustVerify(t, s)
	recs, total, err := s.ListAudit(ctx, "", 2, 0)
	must(t, "list", err)
	if total != 7 || recs[1].Event.Event != "audit.rekey" || !strings.Contains(recs[1].Detail, "3 of them were unkeyed") || !recs[1].Keyed {
		t.Fatalf("after rekey: %d records, newest %+v", total, recs)
	}

	// A broken chain is not rekeyed: that would bless the forgery.
	must(t, "tamper", exec("UPDATE audit_events SET detail = $1 WHERE seq = 2", "forged"))
	if _, err := s.RekeyAudit(ctx, rekey); err == nil || !strings.Contains(err.Error(), "record 2") {
		t.Fatalf("rekey of a broken chain: %v; want refused, naming record 2", err)
	}
	if c, err := s.VerifyAudit(ctx); err != nil || c.Broken != 2 {
		t.Fatalf("verify after a refused rekey = %+v, %v; want still broken at 2", c, err)
	}
	if _, total, _ := s.ListAudit(ctx, "", 1, 0); total != 7 {
		t.Fatalf("a refused rekey wrote a record: %d records", total)
	}
}

// LegacyGenesis sets the genesis checkpoint a chain gets when it is
// upgraded with unkeyed records at its start (signed unkeyed under Key).
func LegacyGenesis(t *testing.T, exec Exec) {
	t.Helper()
	cp := Key.GenesisCheckpoint(false)
	must(t, "legacy genesis", exec("UPDATE audit_checkpoint SET seq = 0, hash = $1, keyed = 0, mac = $2 WHERE id = 1", cp.Hash, cp.MAC))
}
