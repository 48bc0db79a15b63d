package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Review 25 F2: `keyward audit verify --store` reports pending records a
// database writer forged (never chained, kept aside) and exits 1.
func TestAuditVerifyReportsForgedPendingRecords(t *testing.T) {
	clearSettingsEnv(t)
	db := storeDB(t)
	dir := filepath.Join(t.TempDir(), "a")
	var out, errb bytes.Buffer
	if code := cmdInit([]string{"--data", dir, "--store", db, "--account", "acme"}, &out, &errb); code != 0 {
		t.Fatalf("init --store: %d %s", code, errb.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "master.key")); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := cmdAuditVerify([]string{"--data", dir, "--store", db}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "audit chain intact") {
		t.Fatalf("verify before: %d %q %q", code, out.String(), errb.String())
	}
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `INSERT INTO audit_pending (time_us,account,event,outcome,reason,actor,subject,key_id,
		client_ip,peer_ip,request_id,authenticator,detail) VALUES (ARRAY[1::bigint],ARRAY['acme'],ARRAY['apikey.revoke'],
		ARRAY['success'],ARRAY[''],ARRAY['alice'],ARRAY['forged'],ARRAY[''],ARRAY[''],ARRAY[''],ARRAY['forged-req'],ARRAY[''],ARRAY['{}'])`); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	code := cmdAuditVerify([]string{"--data", dir, "--store", db}, &out, &errb)
	if code != 1 || !strings.Contains(out.String(), "audit chain intact") || !strings.Contains(out.String(), "REFUSED: 1 pending batches") {
		t.Fatalf("verify after a forged pending row: %d %q, want 1 reporting the refused batch", code, out.String())
	}
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM audit_events WHERE request_id = 'forged-req'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatal("the forged pending row was chained")
	}
	// Review r25b R3: the forger empties the quarantine; the chain's keyed
	// audit.pending_rejected record still reports the refused batch.
	if _, err := conn.Exec(context.Background(), "DELETE FROM audit_quarantine"); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	code = cmdAuditVerify([]string{"--data", dir, "--store", db}, &out, &errb)
	if code != 1 || !strings.Contains(out.String(), "REFUSED: 1 pending batches") || !strings.Contains(out.String(), "TAMPERED") {
		t.Fatalf("verify after the quarantine was emptied: %d %q, want 1 reporting the refused batch and the deleted row", code, out.String())
	}
}
