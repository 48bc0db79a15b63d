package conjur_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/authn/jwt/jwttest"
)

// TestReviewR24bOutsideLoginSetsPassword (r24b, medium): an outside
// authenticator's login (authn-jwt: security level 1, "API key or outside
// authenticator") gives a token that the NEW native route
// PUT /api/v1/users/{own}/password takes as a credential: the JWT's user sets
// a password it never had or does not know, and signs in with it (level 2,
// the console). On main there was no way for such a session to set its
// owner's password: Conjur's PUT /authn/{account}/password wants Basic
// (password or the Conjur key), native PATCH wants users-manage, and the
// core's own rule for the second factor says "a key or outside login must
// not change the factor that protects its owner's password logins".
// Expected: a token of an outside login (or one presented as a Conjur token,
// which Conjur itself reads as level 0) is refused (403/401).
func TestReviewR24bOutsideLoginSetsPassword(t *testing.T) {
	e := newEnv(t)
	iss := jwttest.NewIssuer(t)
	alice := e.user("alice", map[string]any{"annotations": map[string]string{"authn-jwt/byid/project": "keyward"}}) // a federated user: no password at all
	e.putAuthenticator("authn-jwt/byid", true, map[string]string{"jwks-uri": iss.JWKSURL, "issuer": iss.URL}, "user:alice")
	r := e.do("POST", "/authn-jwt/byid/myorg/alice/authenticate", strings.NewReader("jwt="+iss.Sign(ciClaims(iss, "x"))),
		"Content-Type", formType)
	if r.status != http.StatusOK {
		t.Fatalf("authn-jwt for alice: %d %s %v", r.status, r.body, e.native("GET", "/api/v1/audit?outcome=failure", nil, 200))
	}
	tok := r.body
	if lvl := payload(t, tok)["lvl"]; lvl != nil {
		t.Logf("token level claim %v", lvl)
	}
	const pw = "FEderated-passw0rd!"
	body, _ := json.Marshal(map[string]string{"password": pw})
	a := e.do("PUT", "/api/v1/users/"+alice.id+"/password", bytes.NewReader(body), "Authorization", e.tokenHeader(tok),
		"Content-Type", "application/json")
	if a.status == http.StatusNoContent {
		b := e.do("POST", "/api/v1/token", strings.NewReader(`{"login":"alice","password":"`+pw+`"}`), "Content-Type", "application/json")
		t.Fatalf("an authn-jwt login set its user's password through PUT /api/v1/users/{id}/password (204); "+
			"the password then signs in: %d (level-1 outside login -> level-2 password, console sign-in)", b.status)
	}
}
