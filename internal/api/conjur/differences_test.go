package conjur_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/authn/jwt/jwttest"
	"github.com/keyward/keyward/internal/authn/ldap/ldaptest"
	"github.com/keyward/keyward/internal/authn/oidc/oidctest"
	"github.com/keyward/keyward/internal/server"
)

// goldenReply compares a response's status and body with
// testdata/<name>.golden, after replacing each old, new pair (random
// ports); -update (the internal tests' flag) rewrites it.
func goldenReply(t *testing.T, name string, r resp, oldNew ...string) {
	t.Helper()
	got := fmt.Sprintf("%d\n%s", r.status, strings.NewReplacer(oldNew...).Replace(r.body))
	path := filepath.Join("testdata", name+".golden")
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Fatalf("%s\n got: %s\nwant: %s", path, got, want)
	}
}

// Issue 19, point 2: authn-ldap's authenticate takes the Conjur API key
// that its login answered, or the LDAP password; the key is checked first,
// so it works while the directory cannot be reached. Point 3 for LDAP: a
// directory that cannot be reached is Conjur's empty 401 here (the native
// surface keeps its 503), and the audit keeps the precise reason.
func TestLDAPAuthenticateAcceptsTheAPIKey(t *testing.T) {
	srv := ldaptest.Start(t)
	srv.AddUser(t, "alice", "alice-ldap-pw")
	srv.AddUser(t, "bob", "bob-ldap-pw")
	e := newEnv(t)
	e.putAuthenticator("authn-ldap/corp", true, map[string]string{"uri": srv.URL, "base_dn": srv.BaseDN,
		"bind_dn": srv.BindDN, "bind-password": srv.BindPassword}, "user:alice")
	e.putAuthenticator("authn-ldap/down", true, map[string]string{"uri": "ldap://127.0.0.1:1", "base_dn": srv.BaseDN}, "user:alice")
	alice := e.user("alice", nil)
	bob := e.user("bob", nil)
	app := e.host("alice", nil)
	authn := func(svc, user, body string) resp {
		return e.do("POST", "/authn-ldap/"+svc+"/myorg/"+url.PathEscape(user)+"/authenticate", strings.NewReader(body))
	}
	r := e.do("GET", "/authn-ldap/corp/myorg/login", nil, "Authorization", basic("alice", "alice-ldap-pw"))
	r.expect(t, 200, &alice.key)
	tok := authn("corp", "alice", r.body)
	tok.expect(t, 200, nil)
	if c := payload(t, tok.body); c["sub"] != "alice" {
		t.Fatalf("token of %v", c["sub"])
	}
	authn("corp", "alice", "alice-ldap-pw").expect(t, 200, nil)
	// Only alice's own Conjur key: not bob's, not a host's of the same
	// name, not with a prefix, not on a service that does not admit her.
	authn("corp", "alice", bob.key).expect(t, 401, empty)
	authn("corp", "bob", bob.key).expect(t, 403, empty)
	authn("corp", "alice", app.key).expect(t, 401, empty)
	authn("corp", "user/alice", alice.key).expect(t, 401, empty)
	authn("nosuch", "alice", alice.key).expect(t, 401, empty)
	// The login route stays LDAP's: the key is not an LDAP password.
	e.do("GET", "/authn-ldap/corp/myorg/login", nil, "Authorization", basic("alice", alice.key)).expect(t, 401, empty)
	// The directory cannot be reached: the key still works, the password
	// is Conjur's empty 401.
	authn("down", "alice", alice.key).expect(t, 200, nil)
	authn("down", "alice", "alice-ldap-pw").expect(t, 401, empty)
	e.do("GET", "/authn-ldap/down/myorg/login", nil, "Authorization", basic("alice", "alice-ldap-pw")).expect(t, 401, empty)
	audit := e.native("GET", "/api/v1/audit?limit=5", nil, 200)["items"].([]any)
	if rec := audit[0].(map[string]any); rec["reason"] != "authenticator_unavailable" || rec["authenticator"] != "authn-ldap/down" {
		t.Errorf("audit of the unreachable directory: %v", rec)
	}
	// A disabled service takes neither.
	e.do("PATCH", "/authn-ldap/corp/myorg", form("enabled", "false"), "Authorization", e.admin, "Content-Type", formType).expect(t, 204, empty)
	authn("corp", "alice", alice.key).expect(t, 401, empty)
}

// Issue 19, point 3: a JWKS, discovery document or provider that cannot be
// fetched is Conjur's empty 401 on authenticate, and on the status route a
// 500 naming the cause: CONJ00087E for jwks-uri, CONJ00011E for
// provider-uri.
func TestUnreachableProvider(t *testing.T) {
	iss := jwttest.NewIssuer(t)
	iss.Handle("GET /garbage", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html>")) }))
	tlsIss := jwttest.NewTLSIssuer(t)
	e := newEnv(t)
	jwksURIs := map[string]string{
		"refused":   "http://127.0.0.1:1/jwks",
		"dns":       "http://no-such-host.invalid/jwks",
		"untrusted": tlsIss.JWKSURL,
		"not200":    iss.URL + "/nothing",
		"notjson":   iss.URL + "/garbage",
	}
	for svc, uri := range jwksURIs {
		e.putAuthenticator("authn-jwt/"+svc, true, map[string]string{"jwks-uri": uri, "token-app-property": "sub"})
	}
	e.putAuthenticator("authn-jwt/provider", true, map[string]string{"provider-uri": "http://127.0.0.1:1", "token-app-property": "sub"})
	e.putAuthenticator("authn-oidc/down", true, map[string]string{"provider-uri": "http://127.0.0.1:1", "id-token-user-property": "sub"})
	e.putAuthenticator("authn-oidc/garbage", true, map[string]string{"provider-uri": iss.URL + "/garbage", "id-token-user-property": "sub"})
	tok := iss.Sign(iss.Claims("myapp", ""))
	status := func(path string) resp { return e.do("GET", path, nil, "Authorization", e.admin) }
	for svc := range jwksURIs {
		e.do("POST", "/authn-jwt/"+svc+"/myorg/authenticate", form("jwt", tok), "Content-Type", formType).expect(t, 401, empty)
		r := status("/authn-jwt/" + svc + "/myorg/status")
		want := `{"status":"error","error":"Errors::Authentication::AuthnJwt::FetchJwksKeysFailed: CONJ00087E Failed to fetch JWKS from '` + jwksURIs[svc] + `'. Reason: '`
		if r.status != 500 || !strings.HasPrefix(r.body, want) {
			t.Errorf("%s: status %d %s; want 500 %s…", svc, r.status, r.body, want)
		}
	}
	goldenReply(t, "status/CONJ00087E", status("/authn-jwt/refused/myorg/status"))
	e.do("POST", "/authn-jwt/provider/myorg/authenticate", form("jwt", tok), "Content-Type", formType).expect(t, 401, empty)
	goldenReply(t, "status/CONJ00011E-jwt", status("/authn-jwt/provider/myorg/status"))
	e.do("POST", "/authn-oidc/down/myorg/authenticate", form("id_token", tok), "Content-Type", formType).expect(t, 401, empty)
	goldenReply(t, "status/CONJ00011E", status("/authn-oidc/down/myorg/status"))
	r := status("/authn-oidc/garbage/myorg/status")
	if want := `{"status":"error","error":"Errors::Authentication::OAuth::ProviderDiscoveryFailed: CONJ00011E Failed to discover Identity Provider (Provider URI: '` + iss.URL + `/garbage'). Reason: '`; r.status != 500 || !strings.HasPrefix(r.body, want) {
		t.Errorf("bad discovery JSON: %d %s", r.status, r.body)
	}
	// The native surface keeps its own answer, and the audit the precise reason.
	var reasons []string
	for _, it := range e.native("GET", "/api/v1/audit?limit=100", nil, 200)["items"].([]any) {
		rec := it.(map[string]any)
		if rec["authenticator"] == "authn-oidc/down" && rec["event"] == "authn" {
			reasons = append(reasons, fmt.Sprint(rec["reason"]))
		}
	}
	if strings.Join(reasons, ",") != "authenticator_unavailable" {
		t.Errorf("audit reasons of authn-oidc/down: %v", reasons)
	}
}

// Issue 19, point 4: a setting given with an empty value is refused when
// the service is defined (400, field config.<key>), nothing stored: the
// Conjur status route then finds no such service.
func TestEmptySettingsRefused(t *testing.T) {
	iss := jwttest.NewIssuer(t)
	e := newEnv(t)
	jwt := map[string]string{"jwks-uri": iss.JWKSURL, "token-app-property": "sub"}
	cases := []struct{ path, key string }{
		{"authn-jwt/e1", "token-app-property"}, {"authn-jwt/e2", "identity-path"}, {"authn-jwt/e3", "audience"},
		{"authn-jwt/e4", "issuer"}, {"authn-jwt/e5", "claim-aliases"}, {"authn-jwt/e6", "enforced-claims"},
		{"authn-jwt/e7", "jwks-uri"}, {"authn-jwt/e8", "provider-uri"}, {"authn-oidc/e9", "provider-uri"},
		{"authn-oidc/e10", "client-id"}, {"authn-ldap/e11", "bind_dn"},
	}
	for _, tc := range cases {
		cfg := map[string]string{}
		switch {
		case strings.HasPrefix(tc.path, "authn-jwt/"):
			for k, v := range jwt {
				cfg[k] = v
			}
			if tc.key == "jwks-uri" {
				delete(cfg, "jwks-uri")
				cfg["provider-uri"] = iss.URL
			}
		case strings.HasPrefix(tc.path, "authn-oidc/"):
			cfg = map[string]string{"provider-uri": iss.URL, "id-token-user-property": "sub"}
		default:
			cfg = map[string]string{"uri": "ldap://127.0.0.1:1", "base_dn": "dc=example,dc=com"}
		}
		cfg[tc.key] = ""
		body := map[string]any{"enabled": true, "config": cfg, "allowed": []string{}}
		out := e.native("PUT", "/api/v1/authenticators/"+tc.path, body, 400)
		if errObj, _ := out["error"].(map[string]any); errObj["field"] != "config."+tc.key {
			t.Errorf("%s with %s empty: %v", tc.path, tc.key, out)
		}
		e.native("GET", "/api/v1/authenticators/"+tc.path, nil, 404)
		if strings.HasPrefix(tc.path, "authn-ldap/") {
			continue
		}
		r := e.do("GET", "/"+strings.Replace(tc.path, "/", "/", 1)+"/myorg/status", nil, "Authorization", e.admin)
		if r.status != 404 || !strings.Contains(r.body, "CONJ00005E") {
			t.Errorf("status of %s: %d %s", tc.path, r.status, r.body)
		}
	}
}

// Issue 19, point 5: authn-jwt reads annotations as Conjur's current code
// does: only authn-jwt/{service_id}/{claim path} restricts (nested paths,
// after claim-aliases); general annotations, other services' and malformed
// names are ignored.
func TestJWTAnnotationsAsConjurReadsThem(t *testing.T) {
	e := newEnv(t)
	iss := jwttest.NewIssuer(t)
	hosts := map[string]map[string]string{
		"nested":        {"authn-jwt/raw/additional_data/group_name": "ops"},
		"aliased":       {"authn-jwt/raw/team": "blue"},
		"general":       {"authn-jwt/raw/sub": "x", "authn-jwt/group_name": "not-ops", "authn-jwt/sub": "y"},
		"otherservice":  {"authn-jwt/raw/sub": "x", "authn-jwt/other-service/aud": "nobody", "authn-jwt/other-service/sub": "z"},
		"malformed":     {"authn-jwt/raw/sub": "x", "authn-jwt": "a", "authn-jwt/raw": "b"},
		"onlygeneral":   {"authn-jwt/sub": "x"},
		"onlymalformed": {"authn-jwt": "x", "authn-jwt/raw": "x"},
		"none":          nil,
		"empty":         {"authn-jwt/raw/sub": ""},
		"missing":       {"authn-jwt/raw/additional_data/nothing": "ops"},
		"differs":       {"authn-jwt/raw/additional_data/group_name": "dev"},
		"brackets":      {"authn-jwt/raw/sub": "x", "authn-jwt/raw/groups[0]": "ops"},
	}
	for name, ann := range hosts {
		e.host(name, ann)
	}
	allowed := []string{}
	for name := range hosts {
		allowed = append(allowed, "host:"+name)
	}
	e.putAuthenticator("authn-jwt/raw", true, map[string]string{"jwks-uri": iss.JWKSURL, "issuer": iss.URL,
		"claim-aliases": "team:additional_data/team"}, allowed...)
	claims := iss.Claims("x", "")
	claims["additional_data"] = map[string]any{"group_name": "ops", "team": "blue"}
	claims["groups"] = []any{"ops"}
	tok := iss.Sign(claims)
	for name, want := range map[string]int{
		"nested": 200, "aliased": 200, "general": 200, "otherservice": 200, "malformed": 200,
		"onlygeneral": 401, "onlymalformed": 401, "none": 401, "empty": 401, "missing": 401, "differs": 401, "brackets": 401,
	} {
		r := e.do("POST", "/authn-jwt/raw/myorg/host%2F"+name+"/authenticate", form("jwt", tok), "Content-Type", formType)
		if r.status != want {
			t.Errorf("host %s: %d %q, want %d", name, r.status, r.body, want)
		}
	}
}

// Issue 19, point 6 on the Conjur surface: the issuer rotates its signing
// key and a token under the new kid is accepted at once, without a restart;
// made-up kids do not make keyward ask the issuer for every token.
func TestJWKSRotation(t *testing.T) {
	e, iss, _ := jwtSetup(t)
	post := func(tok string) resp {
		return e.do("POST", "/authn-jwt/ci/myorg/authenticate", form("jwt", tok), "Content-Type", formType)
	}
	post(iss.Sign(ciClaims(iss, "myapp"))).expect(t, 200, nil)
	before := iss.JWKSFetches()
	iss.RotateRSA()
	post(iss.Sign(ciClaims(iss, "myapp"))).expect(t, 200, nil)
	if n := iss.JWKSFetches(); n != before+1 {
		t.Fatalf("%d fetches after the rotation, want %d", n, before+1)
	}
	for range 5 {
		post(iss.SignUnknownKid(ciClaims(iss, "myapp"))).expect(t, 401, empty)
	}
	if n := iss.JWKSFetches(); n > before+2 {
		t.Fatalf("%d fetches after five made-up kids, want at most %d", n, before+2)
	}
}

// Issue 19, point 7: authn-oidc as Conjur answers it: the id token also as
// a Bearer header with an empty body; no service id is 401 on authenticate
// and CONJ00075E on status; the code flow's request errors are 400, a
// claim missing from the token 401.
func TestOIDCDetails(t *testing.T) {
	e := newEnv(t)
	p := oidctest.New(t)
	e.putAuthenticator("authn-oidc/okta", true, map[string]string{"provider-uri": p.URL, "client-id": p.ClientID,
		"client-secret": p.ClientSecret, "claim-mapping": "preferred_username", "redirect-uri": "https://app.example/callback",
		"id-token-user-property": "preferred_username"}, "user:alice")
	e.user("alice", nil)
	e.user("bob", nil)
	idToken := func(user string) string {
		c := p.Claims("u-"+user, p.ClientID)
		c["preferred_username"] = user
		return p.Sign(c)
	}
	const okta = "/authn-oidc/okta/myorg/authenticate"
	r := e.do("POST", okta, nil, "Authorization", "Bearer "+idToken("alice"))
	r.expect(t, 200, nil)
	if payload(t, r.body)["sub"] != "alice" {
		t.Fatalf("token %s", r.body)
	}
	e.do("POST", okta, strings.NewReader(""), "Authorization", "Bearer "+idToken("alice"), "Content-Type", formType).expect(t, 200, nil)
	e.do("POST", okta, nil, "Authorization", "Bearer "+idToken("bob")).expect(t, 403, empty)
	e.do("POST", okta, nil, "Authorization", "Bearer not-a-token").expect(t, 401, empty)
	e.do("POST", okta, nil).expect(t, 400, empty)
	// The body wins over the header when both are given.
	e.do("POST", okta, form("id_token", idToken("bob")), "Authorization", "Bearer "+idToken("alice"), "Content-Type", formType).expect(t, 403, empty)

	e.do("POST", "/authn-oidc/myorg/authenticate", form("id_token", idToken("alice")), "Content-Type", formType).expect(t, 401, empty)
	goldenReply(t, "status/CONJ00075E", e.do("GET", "/authn-oidc/myorg/status", nil, "Authorization", e.admin))

	type provider struct {
		Nonce        string `json:"nonce"`
		CodeVerifier string `json:"code_verifier"`
		RedirectURI  string `json:"redirect_uri"`
	}
	var ps []provider
	r = e.do("GET", "/authn-oidc/myorg/providers", nil)
	if err := json.Unmarshal([]byte(r.body), &ps); err != nil || len(ps) != 1 {
		t.Fatalf("providers %s: %v", r.body, err)
	}
	code := func(claims map[string]any) string {
		p.SetLogin(claims)
		return oidcCode(t, ps[0].RedirectURI)
	}
	get := func(svc, code, nonce, verifier string) resp {
		q := url.Values{"code": {code}, "nonce": {nonce}, "code_verifier": {verifier}}
		return e.do("GET", "/authn-oidc/"+svc+"/myorg/authenticate?"+q.Encode(), nil)
	}
	alice := map[string]any{"sub": "u-alice", "preferred_username": "alice"}
	get("okta", code(alice), ps[0].Nonce, ps[0].CodeVerifier).expect(t, 200, nil)
	for name, r := range map[string]resp{
		"missing code":             e.do("GET", "/authn-oidc/okta/myorg/authenticate?nonce=n&code_verifier=v", nil),
		"empty code":               get("okta", "", ps[0].Nonce, ps[0].CodeVerifier),
		"invalid code":             get("okta", "nope", ps[0].Nonce, ps[0].CodeVerifier),
		"refused code_verifier":    get("okta", code(alice), ps[0].Nonce, "wrong"),
		"nonce not the token's":    get("okta", code(alice), "another-nonce", ps[0].CodeVerifier),
		"undefined service":        get("nosuch", code(alice), ps[0].Nonce, ps[0].CodeVerifier),
		"user that is no role":     get("okta", code(map[string]any{"sub": "u-carol", "preferred_username": "carol"}), ps[0].Nonce, ps[0].CodeVerifier),
		"user not in allowed":      get("okta", code(map[string]any{"sub": "u-bob", "preferred_username": "bob"}), ps[0].Nonce, ps[0].CodeVerifier),
		"claim absent (stays 401)": get("okta", code(map[string]any{"sub": "u-alice"}), ps[0].Nonce, ps[0].CodeVerifier),
	} {
		want := 400
		if strings.HasPrefix(name, "claim absent") {
			want = 401
		}
		if r.status != want || r.body != "" {
			t.Errorf("%s: %d %q, want %d and no body", name, r.status, r.body, want)
		}
	}
}

var createdAt = regexp.MustCompile(`"created_at":"[^"]*"`)

// stable replaces the times of a body, for golden files.
func stable(r resp) resp {
	r.body = createdAt.ReplaceAllString(r.body, `"created_at":"<time>"`)
	return r
}

// Issue 19, point 8: the identity reads conjur-api-go's RoleExists, Role
// and ResourceExists call, with what the native API would let the caller
// see; a refusal is the same 404 as a missing role (403 would read as
// "exists").
func TestRolesAndResources(t *testing.T) {
	e := newEnv(t)
	alice := e.user("alice", nil)
	bob := e.user("bob", nil)
	e.host("apps/myapp", map[string]string{"authn-jwt/ci/ref": "main", "description": "the app"})
	viewer := e.user("viewer", nil)
	e.grant(viewer, "viewers", "users-view", "roles-view")
	e.grant(bob, "ops")
	// A second holder of ops, by the same role.
	ops := e.native("GET", "/api/v1/roles", nil, 200)
	var opsID string
	for _, it := range ops["items"].([]any) {
		if m := it.(map[string]any); m["name"] == "ops" {
			opsID = m["id"].(string)
		}
	}
	e.native("PUT", "/api/v1/users/"+alice.id+"/roles", map[string]any{"roles": []map[string]any{{"id": opsID}}}, 200)
	aliceTok := e.tokenHeader(e.token("alice", alice.key))
	viewerTok := e.tokenHeader(e.token("viewer", viewer.key))
	get := func(auth, path string) resp { return e.do("GET", path, nil, "Authorization", auth) }
	notFound := func(r resp) {
		t.Helper()
		if r.status != 404 || !strings.HasPrefix(r.body, `{"error":{"code":"not_found"`) {
			t.Errorf("want Conjur's 404, got %d %s", r.status, r.body)
		}
	}

	goldenReply(t, "roles/user", stable(get(e.admin, "/roles/myorg/user/alice")))
	goldenReply(t, "roles/group", stable(get(viewerTok, "/roles/myorg/group/ops")))
	goldenReply(t, "roles/host", stable(get(e.admin, "/roles/myorg/host/apps%2Fmyapp")))
	goldenReply(t, "resources/host", stable(get(viewerTok, "/resources/myorg/host/apps%2Fmyapp")))
	get(e.admin, "/resources/myorg/user/alice").expect(t, 200, nil)
	notFound(get(e.admin, "/roles/myorg/user/nobody"))
	notFound(get(e.admin, "/roles/myorg/group/nothing"))
	notFound(get(e.admin, "/resources/myorg/host/nothing"))
	notFound(get(e.admin, "/roles/otherorg/user/alice"))
	notFound(get(e.admin, "/roles/myorg/bogus/alice"))
	// Alice sees herself, and nobody else: bob and a missing user alike.
	get(aliceTok, "/roles/myorg/user/alice").expect(t, 200, nil)
	get(aliceTok, "/resources/myorg/user/alice").expect(t, 200, nil)
	for _, path := range []string{"/roles/myorg/user/bob", "/roles/myorg/user/nobody", "/roles/myorg/group/ops",
		"/roles/myorg/host/apps%2Fmyapp", "/resources/myorg/host/apps%2Fmyapp", "/roles/myorg/user/viewer"} {
		r := get(aliceTok, path)
		notFound(r)
		if want := get(aliceTok, "/roles/myorg/user/nobody"); r.body != want.body {
			t.Errorf("%s: %s, unlike a missing role's %s", path, r.body, want.body)
		}
	}
	get("", "/roles/myorg/user/alice").expect(t, 401, empty)
	// Conjur's other role and resource actions, and kinds keyward does not
	// hold, are 501.
	for _, path := range []string{"/roles/myorg/group/ops?members", "/roles/myorg/user/alice?all", "/roles/myorg/layer/x",
		"/resources/myorg/variable/db/password", "/resources/myorg/host/apps%2Fmyapp?check=true&privilege=read", "/resources/myorg"} {
		r := get(e.admin, path)
		if r.status != 501 || !strings.HasPrefix(r.body, `{"error":{"code":"not_implemented","message":"keyward serves Conjur's authentication API`) {
			t.Errorf("%s: %d %s", path, r.status, r.body)
		}
	}
	// Each refusal is audited.
	n := 0
	for _, it := range e.native("GET", "/api/v1/audit?limit=100", nil, 200)["items"].([]any) {
		if rec := it.(map[string]any); rec["event"] == "identity.read" && rec["reason"] == "not_visible" && rec["actor"] == "myorg:user:alice" {
			n++
		}
	}
	if n < 6 {
		t.Errorf("%d audited refusals of alice's reads, want at least 6", n)
	}
}

// Issue 19, point 8: GET / as JSON, and the status of an authenticator
// type keyward does not know.
func TestRootAndUnknownAuthenticator(t *testing.T) {
	e := newEnv(t)
	goldenReply(t, "root", e.do("GET", "/", nil, "Accept", "application/json"), server.Version, "<version>")
	goldenReply(t, "status/CONJ00001E-unknown", e.do("GET", "/authn-nonexist/test/myorg/status", nil, "Authorization", e.admin))
	goldenReply(t, "status/CONJ00001E-unknown", e.do("GET", "/authn-nonexist/myorg/status", nil, "Authorization", e.admin))
	goldenReply(t, "unserved", e.do("GET", "/secrets/myorg/variable/db%2Fpassword", nil, "Authorization", e.admin))
}

// Issue 19, must show: every route of Conjur's published authentication API
// (../shared/seeds/conjur-authentication-api.txt), the routes issue 19
// adds, and the Conjur routes keyward does not serve answer with an empty or
// JSON body, never the mux's plain-text 404; a 404, 405 or 501 always
// carries a JSON body.
func TestEveryConjurRouteAnswersJSON(t *testing.T) {
	e := newEnv(t)
	routes := [][2]string{
		// The published authentication API.
		{"PUT", "/authn/myorg/password"}, {"PATCH", "/authn-gcp/myorg"}, {"PATCH", "/authn-jwt/svc/myorg"},
		{"GET", "/authn/myorg/login"}, {"GET", "/authn-ldap/svc/myorg/login"}, {"POST", "/authn/myorg/alice/authenticate"},
		{"POST", "/authn-iam/svc/myorg/host%2Fx/authenticate"}, {"POST", "/authn-azure/svc/myorg/host%2Fx/authenticate"},
		{"POST", "/authn-gcp/myorg/authenticate"}, {"POST", "/authn-jwt/svc/myorg/authenticate"},
		{"POST", "/authn-jwt/svc/myorg/host%2Fx/authenticate"}, {"POST", "/authn-k8s/svc/myorg/host%2Fx/authenticate"},
		{"POST", "/authn-ldap/svc/myorg/alice/authenticate"}, {"POST", "/authn-oidc/svc/myorg/authenticate"},
		{"POST", "/authn-k8s/svc/inject_client_cert"}, {"PUT", "/authn/myorg/api_key"},
		// The routes around them.
		{"GET", "/authn/myorg/api_key"}, {"GET", "/authn-jwt/svc/myorg/status"}, {"GET", "/authn-gcp/myorg/status"},
		{"GET", "/authn-oidc/myorg/status"}, {"POST", "/authn-oidc/myorg/authenticate"}, {"GET", "/authn-oidc/svc/myorg/authenticate"},
		{"GET", "/authn-oidc/myorg/providers"}, {"GET", "/whoami"}, {"GET", "/authenticators"},
		{"GET", "/roles/myorg/user/alice"}, {"GET", "/roles/myorg/group/ops"}, {"GET", "/resources/myorg/host/x"},
		{"GET", "/authn-nonexist/test/myorg/status"}, {"GET", "/authn-nonexist/myorg/status"},
		{"POST", "/authn-nonexist/test/myorg/alice/authenticate"},
		// Conjur's routes keyward does not serve.
		{"GET", "/secrets/myorg/variable/db"}, {"POST", "/secrets/myorg/variable/db"}, {"GET", "/secrets?variable_ids=myorg:variable:db"},
		{"GET", "/policies/myorg/policy/root"}, {"POST", "/policies/myorg/policy/root"}, {"PUT", "/policies/myorg/policy/root"},
		{"PATCH", "/policies/myorg/policy/root"}, {"GET", "/resources"}, {"GET", "/resources/myorg"}, {"GET", "/resources/myorg/variable"},
		{"GET", "/resources/myorg/variable/db"}, {"GET", "/roles/myorg/user/alice?memberships"}, {"POST", "/roles/myorg/group/ops?members&member=myorg:user:bob"},
		{"DELETE", "/roles/myorg/group/ops?members&member=myorg:user:bob"}, {"GET", "/public_keys/myorg/user/alice"},
		{"POST", "/host_factories/hosts"}, {"POST", "/host_factory_tokens"}, {"DELETE", "/host_factory_tokens/abc"},
		{"GET", "/issuers/myorg"}, {"POST", "/issuers/myorg"}, {"GET", "/issuers/myorg/aws"}, {"POST", "/ca/myorg/svc/sign"},
		{"GET", "/authenticators/myorg"}, {"POST", "/groups/myorg/ops/members"}, {"GET", "/branches/myorg"},
	}
	for _, rt := range routes {
		for _, auth := range []string{"", e.admin} {
			var h []string
			if auth != "" {
				h = []string{"Authorization", auth}
			}
			r := e.do(rt[0], rt[1], nil, h...)
			ct := r.header.Get("Content-Type")
			if strings.Contains(r.body, "404 page not found") || (r.status == 404 || r.status == 405 || r.status == 501) && !strings.HasPrefix(ct, "application/json") {
				t.Errorf("%s %s (token %t): %d %q %q", rt[0], rt[1], auth != "", r.status, ct, r.body)
				continue
			}
			if r.body != "" && r.status != 200 && !json.Valid([]byte(r.body)) {
				t.Errorf("%s %s (token %t): %d body is not JSON: %q", rt[0], rt[1], auth != "", r.status, r.body)
			}
		}
	}
	r := e.do("GET", "/", nil, "Accept", "application/json")
	if !json.Valid([]byte(r.body)) || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Errorf("GET / as JSON: %q %q", r.header.Get("Content-Type"), r.body)
	}
	// The native API's routes keep working on the same mux.
	e.native("GET", "/api/v1/users", nil, 200)
	if r := e.do("GET", "/api/v1/nothing-here", nil, "Authorization", e.admin); r.status != 404 || strings.Contains(r.body, "not_implemented") {
		t.Errorf("native unknown route: %d %s", r.status, r.body)
	}
}
