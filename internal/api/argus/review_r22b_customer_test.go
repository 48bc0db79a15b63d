package argus_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// customerEnv: owner (cust-a) holds "ops" (every permission the probes need)
// and a key limited to cust-a; other (cust-b) holds the role "tenant-b".
func customerEnv(t *testing.T) (e *env, limited, free string) {
	e = newEnv(t)
	e.role("ops", "users-view", "users-manage", "roles-view", "roles-manage", "authenticators-manage", "api-registrations-manage")
	e.role("tenant-b", "users-view")
	owner := e.newUser("owner", "cust-a", true, "ops")
	e.newUser("other", "cust-b", false, "tenant-b")
	strong := e.session(owner)
	limited = nativeToken(t, e, e.createKey(strong, "owner", map[string]any{"sessionConstraints": map[string]any{"customer": []string{"cust-a"}}}).APIKey)
	free = nativeToken(t, e, e.createKey(strong, "owner", map[string]any{}).APIKey)
	return e, limited, free
}

// r22b F2 (write): a customer-limited key deletes a role held only by a
// user of another customer, stripping that user's grants. ReplaceRole and
// SetGrants refuse a narrowed session; DeleteRole does not.
func TestR22bCustomerKeyDeletesOtherCustomersRole(t *testing.T) {
	e, limited, _ := customerEnv(t)
	r := e.native("DELETE", "/api/v1/roles/"+e.roleID("tenant-b"), limited, nil)
	if r.status == 204 {
		t.Fatalf("customer-limited key (cust-a) deleted role tenant-b, held only by a cust-b user: 204")
	}
}

// r22b F3 (reads): what a customer-limited key still reads about users of
// other customers, while GET /roles and /resources answer 404 for them.
func TestR22bCustomerKeyReadsOtherCustomers(t *testing.T) {
	e, limited, free := customerEnv(t)

	// Conjur "when was the key rotated": an existence and timing oracle.
	other := e.native("GET", "/authn/"+account+"/api_key?role=user:other", limited, nil)
	ghost := e.native("GET", "/authn/"+account+"/api_key?role=user:ghost", limited, nil)
	if other.status != ghost.status {
		t.Errorf("GET /authn/%s/api_key?role=user:other with the customer key: %d %s; a user that does not exist: %d",
			account, other.status, other.body, ghost.status)
	}

	// An authenticator (defined by the unconstrained key) naming the cust-b user.
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	set, _ := json.Marshal(map[string]any{"type": "jwks", "value": map[string]any{"keys": []any{jose.JSONWebKey{Key: &ek.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}}})
	body := map[string]any{"enabled": true, "config": map[string]string{"public-keys": string(set), "issuer": "https://iss"}, "allowed": []string{"user:other"}}
	e.native("PUT", "/api/v1/authenticators/authn-jwt/ci", free, body).want(200)
	if r := e.native("GET", "/api/v1/authenticators", limited, nil); r.status == 200 && strings.Contains(string(r.body), "user:other") {
		t.Errorf("GET /api/v1/authenticators with the customer key shows user:other of cust-b: %s", r.body)
	}
	if r := e.native("GET", "/api/v1/authenticators/authn-jwt/ci", limited, nil); r.status == 200 && strings.Contains(string(r.body), "user:other") {
		t.Errorf("GET /api/v1/authenticators/authn-jwt/ci with the customer key shows user:other of cust-b: %s", r.body)
	}

	// An API registration (PS-Auth) admitting the cust-b user.
	var reg struct {
		ID string `json:"id"`
	}
	e.native("POST", "/api/v1/api-registrations", free, map[string]any{"name": "b-reg", "allowed": []string{"user:other"}}).want(201).decode(&reg)
	if r := e.native("GET", "/api/v1/api-registrations", limited, nil); r.status == 200 && strings.Contains(string(r.body), "user:other") {
		t.Errorf("GET /api/v1/api-registrations with the customer key shows user:other of cust-b: %s", r.body)
	}
	if r := e.native("GET", "/api/v1/api-registrations/"+reg.ID, limited, nil); r.status == 200 && strings.Contains(string(r.body), "user:other") {
		t.Errorf("GET /api/v1/api-registrations/{id} with the customer key shows user:other of cust-b: %s", r.body)
	}
}
