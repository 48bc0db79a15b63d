package core

import (
	"context"
	"testing"

	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/authn/jwt"
)

// review r25c F2: a customer-limited key is refused every read of the
// account's authenticators (GetAuthenticator, ListAuthenticators, the PrivX
// sources: accountWide), but the Conjur status check of an authenticator
// (AuthenticatorStatus, GET /authn-jwt/{service}/{account}/status) still
// answers it: whether the service exists (not found vs ok) and its
// configuration errors (the JWKS/discovery URI it fails to fetch, a
// misconfiguration message). The unconstrained session of the same owner
// may; the customer-limited one must get an audited 403 like GetAuthenticator.
func TestReviewR25cCustomerKeyReadsAuthenticatorStatus(t *testing.T) {
	ctx := context.Background()
	c, admin, _ := testCoreWith(t, Deps{Authenticators: map[string]authn.Factory{jwt.Type: jwt.New}})
	full := acc(c, admin)
	cfg := map[string]string{"jwks-uri": "http://127.0.0.1:1/internal-idp/jwks", "issuer": "https://idp.internal"}
	if _, err := c.PutAuthenticator(ctx, full, "authn-jwt", "corp", AuthenticatorSpec{Enabled: true, Config: cfg}); err != nil {
		t.Fatal(err)
	}
	scoped := admin
	scoped.Customers, scoped.Narrowed = []string{"cust-a"}, true
	sa := acc(c, scoped)
	if _, err := c.GetAuthenticator(ctx, sa, "authn-jwt", "corp"); AsError(err).Kind != Forbidden {
		t.Fatalf("baseline: GetAuthenticator to the customer-limited session: %v, want forbidden", err)
	}
	err := c.AuthenticatorStatus(ctx, sa, "acme", "authn-jwt", "corp")
	if AsError(err).Kind != Forbidden {
		t.Errorf("AuthenticatorStatus of an existing service to the customer-limited session: %v (kind %v), want forbidden as GetAuthenticator", err, AsError(err).Kind)
	}
	err = c.AuthenticatorStatus(ctx, sa, "acme", "authn-jwt", "nosuch")
	if AsError(err).Kind != Forbidden {
		t.Errorf("AuthenticatorStatus of a missing service to the customer-limited session: %v (kind %v), want forbidden (else it probes which services exist)", err, AsError(err).Kind)
	}
}
