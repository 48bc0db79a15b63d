package conjur_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyward/keyward/internal/authn/jwt/jwttest"
)

// jwtSetup defines authn-jwt/ci as issue 13 describes it: a real issuer's
// JWKS, the host from the sub claim under identity-path apps, ref an
// enforced claim; and authn-jwt/byid, taking the host from the URL.
func jwtSetup(t *testing.T) (*env, *jwttest.Issuer, principal) {
	t.Helper()
	e := newEnv(t)
	iss := jwttest.NewIssuer(t)
	e.putAuthenticator("authn-jwt/ci", true, map[string]string{"jwks-uri": iss.JWKSURL, "issuer": iss.URL,
		"token-app-property": "sub", "identity-path": "apps", "enforced-claims": "ref"}, "host:apps/myapp", "host:apps/noref", "role:deployers")
	e.putAuthenticator("authn-jwt/byid", true, map[string]string{"jwks-uri": iss.JWKSURL, "issuer": iss.URL}, "host:apps/myapp")
	good := map[string]string{"authn-jwt/ci/ref": "main", "authn-jwt/ci/project": "keyward", "authn-jwt/byid/project": "keyward"}
	app := e.host("apps/myapp", nil)
	// Annotations are set through the native PATCH, as an operator would.
	e.native("PATCH", "/api/v1/users/"+app.id, map[string]any{"annotations": good}, http.StatusOK)
	e.host("apps/other", good)
	e.host("apps/noref", map[string]string{"authn-jwt/ci/project": "keyward"})
	roled := e.host("apps/roled", good)
	e.grant(roled, "deployers")
	return e, iss, app
}

// ciClaims are claims that satisfy host apps/<sub>'s annotations.
func ciClaims(iss *jwttest.Issuer, sub string, edit ...func(map[string]any)) map[string]any {
	c := iss.Claims(sub, "")
	c["ref"], c["project"] = "main", "keyward"
	for _, f := range edit {
		f(c)
	}
	return c
}

func set(k string, v any) func(map[string]any) { return func(c map[string]any) { c[k] = v } }
func del(k string) func(map[string]any)        { return func(c map[string]any) { delete(c, k) } }

func TestAuthnJWT(t *testing.T) {
	e, iss, _ := jwtSetup(t)
	post := func(path, token string) resp {
		return e.do("POST", path, strings.NewReader("jwt="+token), "Content-Type", formType)
	}
	const ci = "/authn-jwt/ci/myorg/authenticate"
	expired := `{"error":{"code":"unauthorized","message":"CONJ00016E Token expired"}}`
	cases := []struct {
		name, path, token string
		status            int
		body              *string
		sub               string
	}{
		{"good", ci, iss.Sign(ciClaims(iss, "myapp")), 200, nil, "host/apps/myapp"},
		{"RS384", ci, iss.SignWith(jose.RS384, ciClaims(iss, "myapp")), 200, nil, "host/apps/myapp"},
		{"allowed through a role", ci, iss.Sign(ciClaims(iss, "roled")), 200, nil, "host/apps/roled"},
		{"id in the URL", "/authn-jwt/byid/myorg/host%2Fapps%2Fmyapp/authenticate", iss.Sign(ciClaims(iss, "x")), 200, nil, "host/apps/myapp"},
		{"wrong annotation value", ci, iss.Sign(ciClaims(iss, "myapp", set("ref", "dev"))), 401, empty, ""},
		{"missing enforced claim", ci, iss.Sign(ciClaims(iss, "myapp", del("ref"))), 401, empty, ""},
		{"enforced claim not annotated", ci, iss.Sign(ciClaims(iss, "noref")), 401, empty, ""},
		{"not a string claim", ci, iss.Sign(ciClaims(iss, "myapp", set("ref", 7))), 401, empty, ""},
		{"host not in allowed", ci, iss.Sign(ciClaims(iss, "other")), 403, empty, ""},
		{"unknown host", ci, iss.Sign(ciClaims(iss, "ghost")), 401, empty, ""},
		{"alg none", ci, iss.SignNone(ciClaims(iss, "myapp")), 401, empty, ""},
		{"wrong key", ci, iss.SignUnknownKey(ciClaims(iss, "myapp")), 401, empty, ""},
		{"HS256 with a guessable secret", ci, iss.SignHS256(ciClaims(iss, "myapp"), []byte(strings.Repeat("s", 32))), 401, empty, ""},
		{"wrong issuer", ci, iss.Sign(ciClaims(iss, "myapp", set("iss", "https://evil.example"))), 401, empty, ""},
		{"expired", ci, iss.Sign(ciClaims(iss, "myapp", set("exp", time.Now().Add(-time.Hour).Unix()))), 401, &expired, ""},
		{"not a JWT", ci, "abc", 401, empty, ""},
		{"missing jwt", ci, "", 400, empty, ""},
		{"10 MB body", ci, strings.Repeat("a", 10<<20), 413, nil, ""},
		{"id in the URL with token-app-property", "/authn-jwt/ci/myorg/host%2Fapps%2Fmyapp/authenticate", iss.Sign(ciClaims(iss, "myapp")), 401, empty, ""},
		{"no id and no token-app-property", "/authn-jwt/byid/myorg/authenticate", iss.Sign(ciClaims(iss, "myapp")), 401, empty, ""},
		{"unknown account", "/authn-jwt/ci/nope/authenticate", iss.Sign(ciClaims(iss, "myapp")), 401, empty, ""},
		{"undefined service", "/authn-jwt/nope/myorg/authenticate", iss.Sign(ciClaims(iss, "myapp")), 401, empty, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := post(tc.path, tc.token)
			r.expect(t, tc.status, tc.body)
			if tc.status == 200 {
				if got := payload(t, r.body)["sub"]; got != tc.sub {
					t.Fatalf("sub %v, want %s", got, tc.sub)
				}
				e.do("GET", "/whoami", nil, "Authorization", e.tokenHeader(r.body)).expect(t, 200, nil)
			}
		})
	}
}

func TestEnableAuthenticator(t *testing.T) {
	e, iss, _ := jwtSetup(t)
	alice := e.user("alice", nil)
	aliceTok := e.tokenHeader(e.token("alice", alice.key))
	good := func() resp {
		return e.do("POST", "/authn-jwt/ci/myorg/authenticate", form("jwt", iss.Sign(ciClaims(iss, "myapp"))), "Content-Type", formType)
	}
	patch := func(path, auth, ctype, body string) resp {
		return e.do("PATCH", path, strings.NewReader(body), "Authorization", auth, "Content-Type", ctype)
	}
	patch("/authn-jwt/ci/myorg", "", formType, "enabled=false").expect(t, 401, empty)
	patch("/authn-jwt/ci/myorg", aliceTok, formType, "enabled=false").expect(t, 403, empty)
	patch("/authn-jwt/undefined/myorg", e.admin, formType, "enabled=true").expect(t, 401, empty)
	patch("/authn-gcp/myorg", e.admin, formType, "enabled=true").expect(t, 401, empty)
	patch("/authn-jwt/ci/otherorg", e.admin, formType, "enabled=false").expect(t, 401, empty)
	patch("/authn-jwt/ci/myorg", e.admin, formType, "enabled=false&x="+strings.Repeat("a", 10<<20)).expect(t, 413, nil)
	patch("/authn-jwt/ci/myorg", e.admin, formType, "enabled=maybe").expect(t, 422,
		ptr(`{"error":{"code":"validation_failed","message":"enabled must be true or false","details":[{"code":"validation_failed","target":"enabled","message":"must be true or false"}]}}`))
	for _, null := range []string{`{"enabled":null}`, `{}`} {
		patch("/authn-jwt/ci/myorg", e.admin, "application/json", null).expect(t, 422, nil)
	}
	good().expect(t, 200, nil) // nothing changed

	patch("/authn-jwt/ci/myorg", e.admin, formType, "enabled=false").expect(t, 204, empty)
	good().expect(t, 401, empty)
	e.do("GET", "/authenticators", nil).expect(t, 200, nil)
	patch("/authn-jwt/ci/myorg", e.admin, "application/json", `{"enabled":"TRUE"}`).expect(t, 204, empty)
	good().expect(t, 200, nil)
	patch("/authn-jwt/ci/myorg", e.admin, "application/json", `{"enabled":false}`).expect(t, 204, empty)
	good().expect(t, 401, empty)
	patch("/authn-jwt/ci/myorg", basic("admin", e.adminKey), formType, "enabled=true").expect(t, 204, empty)
	good().expect(t, 200, nil)
}

func TestAuthenticatorStatus(t *testing.T) {
	e, _, myapp := jwtSetup(t)
	alice := e.user("alice", nil)
	aliceTok := e.tokenHeader(e.token("alice", alice.key))
	app := e.tokenHeader(e.token("host/apps/myapp", myapp.key))
	dead := jwttest.NewIssuer(t)
	e.putAuthenticator("authn-jwt/broken", true, map[string]string{"jwks-uri": dead.JWKSURL, "issuer": dead.URL})
	dead.Server.Close()
	cases := []struct {
		name, path, auth string
		status           int
		body             string
	}{
		{"ok", "/authn-jwt/ci/myorg/status", e.admin, 200, `{"status":"ok"}`},
		{"allowed host may read", "/authn-jwt/ci/myorg/status", app, 200, `{"status":"ok"}`},
		{"unknown type", "/authn-cert/ci/myorg/status", e.admin, 404,
			`{"status":"error","error":"Errors::Authentication::AuthenticatorNotSupported: CONJ00001E Authenticator 'authn-cert' is not supported in Conjur"}`},
		{"no status check (ldap)", "/authn-ldap/corp/myorg/status", e.admin, 501,
			`{"status":"error","error":"Errors::Authentication::StatusNotSupported: CONJ00056E Status check not supported for authenticator 'authn-ldap'"}`},
		{"no status check (authn)", "/authn/myorg/status", e.admin, 501,
			`{"status":"error","error":"Errors::Authentication::StatusNotSupported: CONJ00056E Status check not supported for authenticator 'authn'"}`},
		{"undefined service", "/authn-jwt/nope/myorg/status", e.admin, 404,
			`{"status":"error","error":"Errors::Authentication::Security::WebserviceNotFound: CONJ00005E Webservice 'authn-jwt/nope' not found"}`},
		// Another account than the session's, existing or not, is refused
		// before anything is looked up: no oracle of accounts or services
		// (Conjur checks the account first; it has one tenant).
		{"unknown account", "/authn-jwt/ci/nope/status", e.admin, 403, ""},
		{"caller without access", "/authn-jwt/ci/myorg/status", aliceTok, 403, ""},
		{"configuration error", "/authn-jwt/broken/myorg/status", e.admin, 500, ""},
		{"no token", "/authn-jwt/ci/myorg/status", "", 401, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h []string
			if tc.auth != "" {
				h = []string{"Authorization", tc.auth}
			}
			r := e.do("GET", tc.path, nil, h...)
			var want *string
			if tc.body != "" {
				want = &tc.body
			}
			r.expect(t, tc.status, want)
			switch tc.status {
			case 403:
				if !strings.Contains(r.body, `"error":"Errors::Authentication::Security::RoleNotAuthorizedOnResource: CONJ00006E`) {
					t.Fatalf("body %s", r.body)
				}
			case 500:
				if !strings.HasPrefix(r.body, `{"status":"error","error":"Errors::`) {
					t.Fatalf("body %s", r.body)
				}
			case 401:
				if r.body != "" {
					t.Fatalf("body %q", r.body)
				}
			}
		})
	}
}
