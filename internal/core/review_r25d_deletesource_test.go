package core

import (
	"context"
	"testing"

	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/authn/jwt"
	"github.com/keyward/keyward/internal/authn/oidc"
)

// review r25d D1 (residual of r25c F2): a customer-limited key is refused
// every read of the account's sources (GetSource/ListSources: accountWide)
// and, since 2abb1ca, the status check "not even which exist"; but
// DeleteSource looks the source up (findSource: 404 for a missing id)
// before DeleteAuthenticator's notNarrowed refusal (403 for an existing
// one): the customer-limited key still probes which sources exist.
func TestReviewR25dCustomerKeyProbesSources(t *testing.T) {
	ctx := context.Background()
	c, admin, _ := testCoreWith(t, Deps{Authenticators: map[string]authn.Factory{jwt.Type: jwt.New, oidc.Type: oidc.New}})
	full := acc(c, admin)
	scoped := admin
	scoped.Customers, scoped.Narrowed = []string{"cust-a"}, true
	sa := acc(c, scoped)
	if _, err := c.GetSource(ctx, sa, "nosuch"); AsError(err).Kind != Forbidden {
		t.Fatalf("baseline: GetSource to the customer-limited session: %v, want forbidden", err)
	}
	err := c.DeleteSource(ctx, sa, "nosuch")
	if AsError(err).Kind != Forbidden {
		t.Errorf("DeleteSource of a missing source to the customer-limited session: %v (kind %v), want forbidden as GetSource (else it probes which sources exist)", err, AsError(err).Kind)
	}
	spec := SourceSpec{Type: "authn-oidc", Enabled: false, Config: map[string]string{
		"provider-uri": "https://idp.internal", "client-id": "kw", "client-secret": "s", "redirect-uri": "https://kw.example/cb", "claim-mapping": "email"}}
	if _, err := c.PutSource(ctx, full, "corp", spec, true); err != nil {
		t.Logf("could not create a source to compare (%v): the missing-id answer above is the finding", err)
		return
	}
	err = c.DeleteSource(ctx, sa, "corp")
	t.Logf("DeleteSource of an existing source to the customer-limited session: %v (kind %v)", err, AsError(err).Kind)
	if _, gerr := c.GetSource(ctx, full, "corp"); gerr != nil {
		t.Errorf("the refused DeleteSource removed the source: %v", gerr)
	}
}
