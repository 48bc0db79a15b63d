package core

import (
	"context"
	"testing"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/authn/jwt"
)

// customerCore is a real core over SQLite with the JWT authenticator,
// bootstrapped with account acme: the core, its store's audit reader and
// the admin's session.
func customerCore(t *testing.T) (*Core, func(name string) []audit.Record, Session) {
	t.Helper()
	c, admin, _ := testCoreWith(t, Deps{Authenticators: map[string]authn.Factory{jwt.Type: jwt.New}})
	return c, func(name string) []audit.Record { return auditEvents(t, c.st, "acme", name) }, admin
}

func limitedTo(s Session, customers ...string) Session {
	s.Customers, s.Narrowed = customers, true
	return s
}

// customerDenials counts the audited customer refusals.
func customerDenials(events func(string) []audit.Record) int {
	n := 0
	for _, r := range events("authorize") {
		if r.Outcome == audit.Failure && r.Reason == string(ReasonCustomer) {
			n++
		}
	}
	return n
}

// A customer-limited session sets only a customer it is limited to; every
// other assignment, clearing included, on update or create, is an audited
// customer refusal.
func TestCustomerLimitedSessionAssignsOnlyItsCustomers(t *testing.T) {
	ctx := context.Background()
	c, events, admin := customerCore(t)
	full := acc(c, admin)
	u, _, err := c.CreatePrincipal(ctx, full, PrincipalSpec{Login: "alice", Kind: "user", Customer: "cust-a"})
	if err != nil {
		t.Fatal(err)
	}
	str := func(s string) *string { return &s }

	sa := acc(c, limitedTo(admin, "cust-a"))
	before := customerDenials(events)
	for _, to := range []string{"cust-b", ""} {
		_, err := c.UpdatePrincipal(ctx, sa, u.ID, PrincipalPatch{Customer: str(to)})
		if e := AsError(err); e.Kind != Forbidden || e.Reason != ReasonCustomer {
			t.Fatalf("customer %q by the cust-a session: %v, want forbidden (customer)", to, err)
		}
	}
	if got := customerDenials(events) - before; got != 2 {
		t.Fatalf("%d audited customer refusals, want 2", got)
	}
	if p, err := c.GetPrincipal(ctx, full, u.ID); err != nil || p.Customer != "cust-a" {
		t.Fatalf("alice after the refusals: %+v %v, want still cust-a", p.Customer, err)
	}
	// Setting its own customer, with another field: allowed.
	p, err := c.UpdatePrincipal(ctx, sa, u.ID, PrincipalPatch{Customer: str("cust-a"), Email: str("alice@a.example")})
	if err != nil || p.Customer != "cust-a" || p.Email != "alice@a.example" {
		t.Fatalf("cust-a session setting cust-a: %+v %v", p, err)
	}
	// A session of both customers moves alice between them.
	sab := acc(c, limitedTo(admin, "cust-a", "cust-b"))
	if p, err := c.UpdatePrincipal(ctx, sab, u.ID, PrincipalPatch{Customer: str("cust-b")}); err != nil || p.Customer != "cust-b" {
		t.Fatalf("cust-a+b session moving alice to cust-b: %+v %v", p.Customer, err)
	}
	// ... but never out of every customer.
	if _, err := c.UpdatePrincipal(ctx, sab, u.ID, PrincipalPatch{Customer: str("")}); AsError(err).Reason != ReasonCustomer {
		t.Fatalf("cust-a+b session clearing alice's customer: %v, want forbidden (customer)", err)
	}
	// Create: another customer (or none) is a customer refusal, before the
	// narrowed-credential one.
	for _, cu := range []string{"cust-b", ""} {
		_, _, err := c.CreatePrincipal(ctx, sa, PrincipalSpec{Login: "bob", Kind: "user", Customer: cu})
		if e := AsError(err); e.Kind != Forbidden || e.Reason != ReasonCustomer {
			t.Fatalf("create in customer %q by the cust-a session: %v, want forbidden (customer)", cu, err)
		}
	}
	// The unlimited session still may do anything.
	if p, err := c.UpdatePrincipal(ctx, full, u.ID, PrincipalPatch{Customer: str("")}); err != nil || p.Customer != "" {
		t.Fatalf("unlimited session clearing alice's customer: %+v %v", p.Customer, err)
	}
}

// The status check refuses a customer-limited session (audited, as
// GetAuthenticator) before looking the service up: a missing service, one
// that allows the session's principal and one that does not are answered
// alike, so it learns neither which services exist nor their state.
func TestCustomerLimitedStatusRefusedBeforeLookup(t *testing.T) {
	ctx := context.Background()
	c, events, admin := customerCore(t)
	full := acc(c, admin)
	cfg := map[string]string{"jwks-uri": "http://127.0.0.1:1/jwks", "issuer": "https://idp.internal"}
	for svc, allowed := range map[string][]string{"mine": {"user:admin"}, "corp": nil} {
		if _, err := c.PutAuthenticator(ctx, full, "authn-jwt", svc, AuthenticatorSpec{Enabled: true, Config: cfg, Allowed: allowed}); err != nil {
			t.Fatal(err)
		}
	}
	sa := acc(c, limitedTo(admin, "cust-a"))
	before := customerDenials(events)
	for _, svc := range []string{"mine", "corp", "nosuch"} {
		if err := c.AuthenticatorStatus(ctx, sa, "acme", "authn-jwt", svc); AsError(err).Kind != Forbidden || AsError(err).Reason != ReasonCustomer {
			t.Fatalf("status of %s to the customer-limited session: %v, want forbidden (customer)", svc, err)
		}
	}
	if got := customerDenials(events) - before; got != 3 {
		t.Fatalf("%d audited customer refusals, want 3", got)
	}
	// The unlimited session still gets the check's answers.
	if err := c.AuthenticatorStatus(ctx, full, "acme", "authn-jwt", "nosuch"); AsError(err).Reason != ReasonServiceNotFound {
		t.Fatalf("status of a missing service to the admin: %v, want service_not_found", err)
	}
	if err := c.AuthenticatorStatus(ctx, full, "acme", "authn-jwt", "mine"); AsError(err).Reason != ReasonJWKSFetchFailed {
		t.Fatalf("status of a service to the admin: %v, want jwks_fetch_failed", err)
	}
}

// A narrowed session deleting a source is refused before any lookup (a
// missing source and an existing one alike); a customer-limited session
// gets no role member counts (they count every customer's holders).
func TestCustomerLimitedSourcesAndMemberCounts(t *testing.T) {
	ctx := context.Background()
	c, _, admin := customerCore(t)
	full := acc(c, admin)
	sa := acc(c, limitedTo(admin, "cust-a"))
	if err := c.DeleteSource(ctx, sa, "nosuch"); AsError(err).Kind != Forbidden || AsError(err).Reason != ReasonNarrowedCredential {
		t.Fatalf("narrowed DeleteSource of a missing source: %v, want forbidden (narrowed)", err)
	}
	if err := c.DeleteSource(ctx, full, "nosuch"); AsError(err).Kind != NotFound {
		t.Fatalf("admin DeleteSource of a missing source: %v, want not found", err)
	}
	all, err := c.RoleMemberCounts(ctx, full)
	if err != nil || len(all) == 0 {
		t.Fatalf("admin's member counts: %v %v, want the admin role's holder", all, err)
	}
	if got, err := c.RoleMemberCounts(ctx, sa); err != nil || len(got) != 0 {
		t.Fatalf("customer-limited member counts: %v %v, want none", got, err)
	}
}
