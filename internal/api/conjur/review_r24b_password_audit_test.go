package conjur_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/authn/jwt/jwttest"
)

// TestReviewR24bPasswordAuditNamesTheWayIn (r24b, low): the record of an own
// password change through PUT /api/v1/users/{id}/password says authenticator
// "authn" (core.ChangePassword hard-codes it, written for Conjur's Basic
// route) whatever the session came from: here an authn-jwt token. The audit
// thus hides that a JWT, not a password or key, changed the credential.
// Expected: the session's own authenticator (authn-jwt/byid; "console" from
// the console).
func TestReviewR24bPasswordAuditNamesTheWayIn(t *testing.T) {
	e := newEnv(t)
	iss := jwttest.NewIssuer(t)
	alice := e.user("alice", map[string]any{"annotations": map[string]string{"authn-jwt/byid/project": "keyward"}})
	e.putAuthenticator("authn-jwt/byid", true, map[string]string{"jwks-uri": iss.JWKSURL, "issuer": iss.URL}, "user:alice")
	r := e.do("POST", "/authn-jwt/byid/myorg/alice/authenticate", strings.NewReader("jwt="+iss.Sign(ciClaims(iss, "x"))),
		"Content-Type", formType)
	if r.status != http.StatusOK {
		t.Fatalf("authn-jwt: %d %s", r.status, r.body)
	}
	body, _ := json.Marshal(map[string]string{"password": "FEderated-passw0rd!"})
	a := e.do("PUT", "/api/v1/users/"+alice.id+"/password", bytes.NewReader(body), "Authorization", e.tokenHeader(r.body),
		"Content-Type", "application/json")
	// Setup changed after the R24b-3 fix: the JWT's change is now refused
	// (403, level 1), so the record checked is the refusal's; the success
	// record of a console session is checked in internal/server
	// (TestReviewR24bPasswordAuditConsole).
	if a.status != http.StatusForbidden {
		t.Fatalf("own password change by an authn-jwt token: %d %s, want 403", a.status, a.body)
	}
	items := e.native("GET", "/api/v1/audit?event=password&outcome=failure", nil, 200)["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("password records: %d", len(items))
	}
	if got := items[0].(map[string]any)["authenticator"]; got != "authn-jwt/byid" {
		t.Fatalf("password change by an authn-jwt token audited with authenticator %v", got)
	}
}
