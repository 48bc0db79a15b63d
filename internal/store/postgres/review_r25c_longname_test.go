package postgres

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"testing"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/store/storetest"
)

// review r25c F4: one audit record with a long name field (actor, subject,
// account, event, reason, authenticator: what audit_names keeps once, under
// a UNIQUE btree index) stalls every linker for good. An unauthenticated
// POST /api/v1/token with a 6,000-character login is enough: its failure
// record (actor acme:user:<login>) is acknowledged into audit_pending, and
// every link transaction then fails with "index row size … exceeds btree
// version 4 maximum 2704 for index audit_names_name_key", so nothing after
// it is ever chained; GET /api/v1/audit answers 500 and `keyward audit
// verify --store` exits with that error, on every instance.
func TestReviewR25cLongNameStallsLinker(t *testing.T) {
	ctx := context.Background()
	s, err := OpenWith(ctx, freshSchema(t), storetest.Key, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	raw := make([]byte, 6000)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	login := base64.RawURLEncoding.EncodeToString(raw) // incompressible
	if err := s.AppendAudit(ctx, audit.Event{Account: "acme", Event: "token", Outcome: audit.Failure, Reason: "invalid_credentials",
		Actor: "acme:user:" + login}); err != nil {
		t.Fatalf("append (what the auditor acknowledges to the client): %v", err)
	}
	if err := s.AppendAudit(ctx, audit.Event{Account: "acme", Event: "after", Outcome: audit.Success}); err != nil {
		t.Fatal(err)
	}
	recs, _, err := s.ListAudit(ctx, "acme", 10, 0)
	if err != nil {
		t.Fatalf("listing the audit log after one record with a long actor: %v", err)
	}
	found := false
	for _, r := range recs {
		found = found || r.Event.Event == "after"
	}
	if !found {
		t.Errorf("the record appended after the long one is not in the chain: %+v", recs)
	}
	if c, err := s.VerifyAudit(ctx); err != nil || c.Broken != 0 {
		t.Errorf("verify: %+v %v", c, err)
	}
}
