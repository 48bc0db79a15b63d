package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/store"
)

// OldChain is a chain as a keyward from before migration 0006 kept it: two
// unkeyed records (from before keyed chaining), then keyed ones under Key,
// with what the compact format treats apart (a failure with a reason, equal
// client and peer addresses, a detail, no authenticator).
func OldChain() []audit.Record {
	var out []audit.Record
	prev := audit.GenesisHash
	for i := 1; i <= 7; i++ {
		e := audit.Event{Time: time.UnixMicro(1700000000000000 + int64(i)), Account: "acme", Event: "apikey.verify",
			Outcome: audit.Success, Actor: "acme:host:app", Subject: "acme:host:app", KeyID: "k1", ClientIP: "192.0.2.1",
			PeerIP: "127.0.0.1", RequestID: fmt.Sprintf("r-%d", i), Authenticator: "authn"}
		switch i {
		case 2:
			e.Outcome, e.Reason, e.PeerIP = audit.Failure, "revoked", e.ClientIP
		case 3:
			e.Detail, e.Subject, e.Authenticator = "acting key k0", "acme:user:bob", ""
		}
		var r audit.Record
		if i <= 2 {
			r = audit.SealUnkeyed(int64(i), prev, e)
		} else {
			r = Key.Seal(int64(i), prev, e)
		}
		prev = r.Hash
		out = append(out, r)
	}
	return out
}

// OldInsert is the INSERT of a record into the audit_events of before
// migration 0006 ($1… placeholders), and OldArgs its arguments.
const OldInsert = `INSERT INTO audit_events (seq, time, time_us, account, event, outcome, reason, actor, subject, key_id, client_ip,
	peer_ip, request_id, authenticator, detail, prev_hash, hash, keyed) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)`

// OldArgs returns OldInsert's arguments for r, with detail as its detail.
func OldArgs(r audit.Record, detail string) []any {
	keyed := 0
	if r.Keyed {
		keyed = 1
	}
	return []any{r.Seq, r.Time.Format(time.RFC3339Nano), r.Time.UnixMicro(), r.Account, r.Event.Event, r.Outcome, r.Reason, r.Actor,
		r.Subject, r.KeyID, r.ClientIP, r.PeerIP, r.RequestID, r.Authenticator, detail, r.PrevHash, r.Hash, keyed}
}

// CheckMigrated checks a store opened over OldChain (record 4's detail
// forged when tampered): the chain verifies, or breaks at 4; every record
// reads back as it was sealed; appends continue the chain.
func CheckMigrated(t *testing.T, s store.Store, want []audit.Record, tampered bool) {
	t.Helper()
	ctx := context.Background()
	c, err := s.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tampered {
		if c.Broken != 4 {
			t.Fatalf("verify after migrating a tampered chain = %+v; want broken at 4", c)
		}
		return
	}
	if c.Broken != 0 || c.Records != 7 || c.Unkeyed != 2 {
		t.Fatalf("verify after the migration = %+v; want 7 intact records, 2 unkeyed", c)
	}
	got, total, err := s.ListAudit(ctx, "", 10, 0)
	if err != nil || total != 7 {
		t.Fatalf("list: %d records, %v", total, err)
	}
	for i, r := range got {
		w := want[len(want)-1-i]
		wantEqual(t, fmt.Sprintf("record %d after the migration", w.Seq), r, w)
	}
	if err := s.AppendAudit(ctx, audit.Event{Account: "acme", Event: "after"}); err != nil {
		t.Fatal(err)
	}
	if c, err := s.VerifyAudit(ctx); err != nil || c.Broken != 0 || c.Records != 8 {
		t.Fatalf("verify after an append = %+v, %v", c, err)
	}
}
