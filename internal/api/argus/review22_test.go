package argus_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// TestReviewCustomerKeyCannotDefineAuthenticators: a key constrained to
// customers must not (re)define an outside authenticator: with one it logs
// in as a user of another customer and mints that user an unconstrained key.
func TestReviewCustomerKeyCannotDefineAuthenticators(t *testing.T) {
	e := newEnv(t)
	e.role("ops", "users-view", "authenticators-manage")
	owner := e.newUser("owner", "cust-a", true, "ops")
	e.newUser("other", "cust-b", false)
	k := e.createKey(e.session(owner), "owner", map[string]any{"sessionConstraints": map[string]any{"customer": []string{"cust-a"}}})
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	e.native("POST", "/api/v1/token", "", map[string]any{"api_key": nativeKeyOf(k.APIKey)}).want(200).decode(&tok)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	set, _ := json.Marshal(map[string]any{"type": "jwks", "value": map[string]any{"keys": []any{jose.JSONWebKey{Key: &ek.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}}})
	body := map[string]any{"enabled": true, "config": map[string]string{"public-keys": string(set), "issuer": "https://evil"}, "allowed": []string{"user:other"}}
	r := e.native("PUT", "/api/v1/authenticators/authn-jwt/evil", tok.AccessToken, body)
	if r.status != 403 {
		t.Fatalf("customer-constrained key defined an authenticator allowing a user of another customer: %d %s", r.status, r.body)
	}
}

// TestReviewCustomerKeyConjurReads: what GET /api/v1/users/{id} refuses
// (authorization.customer) Conjur's role and resource reads must refuse too.
