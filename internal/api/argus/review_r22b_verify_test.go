package argus_test

import (
	"strings"
	"testing"
)

// r22b F6: POST /api/v1/api-keys/verify (the resource servers' hot path)
// answers a key limited to customers as valid with its owner's permissions
// and nothing about the limit: a resource server that trusts the answer
// lets the key act on every customer's data. (Roles, i.e. the function
// constraint, are answered; customers are not.)
func TestR22bVerifyShowsCustomerLimit(t *testing.T) {
	e := newEnv(t)
	e.role("ops", "users-view")
	owner := e.newUser("owner", "cust-a", true, "ops")
	k := e.createKey(e.session(owner), "owner", map[string]any{"sessionConstraints": map[string]any{"customer": []string{"cust-a"}}})
	r := e.native("POST", "/api/v1/api-keys/verify", "", map[string]any{"key": nativeKeyOf(k.APIKey)}).want(200)
	if !strings.Contains(string(r.body), `"valid":true`) {
		t.Fatalf("verify: %s", r.body)
	}
	if !strings.Contains(string(r.body), "cust-a") {
		t.Fatalf("verify answers a customer-limited key without its limit (a resource server sees an unlimited key): %s", r.body)
	}
}
