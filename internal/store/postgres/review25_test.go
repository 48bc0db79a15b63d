package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store/storetest"
)

// Review 25 F2: a row a database writer slips into audit_pending (without
// the master key), or a pending row it alters, must not come out of the
// linker as a keyed, chain-verified record. The linker keeps it (in
// audit_quarantine), records the refusal in the chain, and VerifyAudit
// reports it; the honest records around it are linked as usual.
func TestLinkQuarantinesForgedPendingRecords(t *testing.T) {
	ctx := context.Background()
	dsn := freshSchema(t)
	s, err := Open(ctx, dsn, storetest.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.stopLinker() // link only when the test says
	<-s.linkerDone
	s.stopLinker = nil
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	if err := s.AppendAudit(ctx, audit.Event{Account: "acme", Event: "honest.before", Outcome: audit.Success}); err != nil {
		t.Fatal(err)
	}
	// A forged row, as the reviewer inserted it (no MAC at all).
	if _, err := conn.Exec(ctx, `INSERT INTO audit_pending (time_us,account,event,outcome,reason,actor,subject,key_id,
		client_ip,peer_ip,request_id,authenticator,detail) VALUES (ARRAY[1::bigint],ARRAY['acme'],ARRAY['apikey.revoke'],
		ARRAY['success'],ARRAY[''],ARRAY['alice'],ARRAY['forged'],ARRAY[''],ARRAY[''],ARRAY[''],ARRAY['forged-req'],ARRAY[''],ARRAY['{}'])`); err != nil {
		t.Fatal(err)
	}
	// An honest batch, altered before the linker took it (actor changed).
	if err := s.AppendAudit(ctx, audit.Event{Account: "acme", Event: "honest.altered", Outcome: audit.Success, Actor: "acme:user:bob", RequestID: "altered-req"}); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `UPDATE audit_pending SET actor = ARRAY['acme:user:mallory'] WHERE request_id = ARRAY['altered-req']`); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx, audit.Event{Account: "acme", Event: "honest.after", Outcome: audit.Success}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LinkPending(ctx, true); err != nil {
		t.Fatal(err)
	}

	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM audit_events WHERE request_id IN ('forged-req', 'altered-req')").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d pending rows written or altered without the master key were linked and sealed as records", n)
	}
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM audit_pending").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d rows left pending: a refused row must be moved aside, not block the linker", n)
	}
	recs, _, err := s.ListAudit(ctx, "", 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for i := len(recs) - 1; i >= 0; i-- {
		events = append(events, recs[i].Event.Event)
	}
	want := []string{"honest.before", "audit.pending_rejected", "audit.pending_rejected", "honest.after"}
	if len(events) != len(want) {
		t.Fatalf("chain holds %q, want %q", events, want)
	}
	for i := range want {
		if events[i] != want[i] {
			t.Fatalf("chain holds %q, want %q", events, want)
		}
	}
	c, err := s.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.Broken != 0 || c.Quarantined != 2 {
		t.Fatalf("verify: %+v; want an intact chain reporting 2 quarantined pending batches", c)
	}
	// The refused rows are kept, as written, for whoever investigates.
	var actor string
	if err := conn.QueryRow(ctx, "SELECT actor[1] FROM audit_quarantine WHERE request_id = ARRAY['altered-req']").Scan(&actor); err != nil {
		t.Fatal(err)
	}
	if actor != "acme:user:mallory" {
		t.Errorf("quarantined row holds actor %q, want the row as found", actor)
	}
}

// Review 25 F3: the linker's mutual exclusion cannot be taken by any
// session: holding the advisory lock id the linker used to take (public,
// computable by any role with CONNECT) no longer stops linking.
func TestLinkIgnoresForeignAdvisoryLock(t *testing.T) {
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
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(hashtext('keyward.audit.link.' || current_schema()))"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAccount(ctx, model.Account{Name: "acme", CreatedAt: time.Now()},
		audit.Event{Account: "acme", Event: "account.create", Outcome: audit.Success}); err != nil {
		t.Fatal(err)
	}
	lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := s.LinkPending(lctx, true); err != nil {
		t.Fatalf("linking while another session holds the old advisory lock: %v", err)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM audit_pending").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d batches still pending", n)
	}
}
