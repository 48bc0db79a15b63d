package conjur

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/cyberark/conjur-api-go/conjurapi"
	"github.com/cyberark/conjur-api-go/conjurapi/authn"

	"github.com/keyward/keyward/internal/authn/jwt/jwttest"
	"github.com/keyward/keyward/internal/authn/ldap/ldaptest"
	"github.com/keyward/keyward/internal/authn/oidc/oidctest"
)

// adminAuth authenticates the admin with conjur-api-go and returns the
// Token header for raw calls.
func (kw *keyward) adminAuth(t *testing.T) string {
	t.Helper()
	c, err := conjurapi.NewClient(conjurapi.Config{Account: account, ApplianceURL: kw.url, CredentialStorage: "none"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.Authenticate(authn.LoginPair{Login: "admin", APIKey: kw.adminKey})
	if err != nil {
		t.Fatalf("admin Authenticate: %v", err)
	}
	return tokenHeader(tok)
}

// subject is the sub claim of a Conjur token.
func subject(t *testing.T, tok string) string {
	t.Helper()
	var parts map[string]string
	if err := json.Unmarshal([]byte(tok), &parts); err != nil {
		t.Fatalf("not a Conjur token: %q", tok)
	}
	raw, err := base64.StdEncoding.DecodeString(parts["payload"])
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ Sub string }
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c.Sub
}

// TestJWTRoundTrip is issue 13's round trip: authn-jwt/ci configured
// through the native API, a host annotated through PATCH /api/v1/users, a
// Conjur token for a JWT signed by a real issuer, and Conjur's refusals.
func TestJWTRoundTrip(t *testing.T) {
	kw := start(t)
	admin := kw.adminAuth(t)
	iss := jwttest.NewIssuer(t)
	view := kw.native(t, admin, "PUT", "/api/v1/authenticators/authn-jwt/ci", map[string]any{"enabled": true,
		"config": map[string]string{"jwks-uri": iss.JWKSURL, "issuer": iss.URL, "token-app-property": "sub",
			"identity-path": "apps", "enforced-claims": "ref"},
		"allowed": []string{"host:apps/myapp"}}, 200)
	if view["enabled"] != true {
		t.Fatalf("PUT answered %v", view)
	}
	annotations := map[string]string{"authn-jwt/ci/ref": "main", "authn-jwt/ci/project": "keyward"}
	for _, login := range []string{"apps/myapp", "apps/other"} {
		h := kw.native(t, admin, "POST", "/api/v1/users", map[string]any{"login": login, "kind": "host"}, 201)
		kw.native(t, admin, "PATCH", "/api/v1/users/"+h["id"].(string), map[string]any{"annotations": annotations}, 200)
		got := kw.native(t, admin, "GET", "/api/v1/users/"+h["id"].(string), nil, 200)
		if a, _ := got["annotations"].(map[string]any); a["authn-jwt/ci/ref"] != "main" {
			t.Fatalf("annotations not stored: %v", got["annotations"])
		}
	}
	claims := func(sub string, edit func(map[string]any)) map[string]any {
		c := iss.Claims(sub, "")
		c["ref"], c["project"] = "main", "keyward"
		if edit != nil {
			edit(c)
		}
		return c
	}
	post := func(jwt string) (int, string) {
		return kw.call(t, "POST", "/authn-jwt/ci/"+account+"/authenticate", strings.NewReader("jwt="+jwt),
			"Content-Type", "application/x-www-form-urlencoded")
	}
	code, tok := post(iss.Sign(claims("myapp", nil)))
	if code != 200 || subject(t, tok) != "host/apps/myapp" {
		t.Fatalf("good JWT: %d %s", code, tok)
	}
	if code, _ := kw.call(t, "GET", "/whoami", nil, "Authorization", tokenHeader([]byte(tok))); code != 200 {
		t.Fatalf("the token does not work: %d", code)
	}
	refusals := []struct {
		name string
		jwt  string
		want int
	}{
		{"wrong annotation value", iss.Sign(claims("myapp", func(c map[string]any) { c["ref"] = "dev" })), 401},
		{"missing enforced claim", iss.Sign(claims("myapp", func(c map[string]any) { delete(c, "ref") })), 401},
		{"alg none", iss.SignNone(claims("myapp", nil)), 401},
		{"wrong key", iss.SignUnknownKey(claims("myapp", nil)), 401},
		{"host not in allowed", iss.Sign(claims("other", nil)), 403},
	}
	for _, r := range refusals {
		if code, body := post(r.jwt); code != r.want || body != "" {
			t.Errorf("%s: %d %q, want %d and an empty body", r.name, code, body, r.want)
		}
	}
	if code, _ := kw.call(t, "PATCH", "/authn-jwt/ci/"+account, strings.NewReader("enabled=false"),
		"Authorization", admin, "Content-Type", "application/x-www-form-urlencoded"); code != 204 {
		t.Fatalf("disable: %d", code)
	}
	if code, body := post(iss.Sign(claims("myapp", nil))); code != 401 || body != "" {
		t.Fatalf("disabled service: %d %q", code, body)
	}
	if code, body := kw.call(t, "GET", "/authenticators", nil); code != 200 || !strings.Contains(body, `"configured":["authn","authn-jwt/ci"],"enabled":["authn"]`) {
		t.Fatalf("GET /authenticators: %d %s", code, body)
	}
}

// TestOIDCRoundTrip runs both authn-oidc flows against a local provider.
func TestOIDCRoundTrip(t *testing.T) {
	kw := start(t)
	admin := kw.adminAuth(t)
	p := oidctest.New(t)
	kw.native(t, admin, "PUT", "/api/v1/authenticators/authn-oidc/okta", map[string]any{"enabled": true,
		"config": map[string]string{"provider-uri": p.URL, "client-id": p.ClientID, "client-secret": p.ClientSecret,
			"claim-mapping": "preferred_username", "redirect-uri": "https://app.example/callback", "id-token-user-property": "preferred_username"},
		"allowed": []string{"user:alice"}}, 200)
	kw.native(t, admin, "POST", "/api/v1/users", map[string]any{"login": "alice"}, 201)
	kw.native(t, admin, "POST", "/api/v1/users", map[string]any{"login": "bob"}, 201)

	c, err := conjurapi.NewClient(conjurapi.Config{Account: account, ApplianceURL: kw.url, CredentialStorage: "none",
		AuthnType: "oidc", ServiceID: "okta"})
	if err != nil {
		t.Fatal(err)
	}
	providers, err := c.ListOidcProviders()
	if err != nil || len(providers) != 1 || providers[0].ServiceID != "okta" {
		t.Fatalf("ListOidcProviders: %+v %v", providers, err)
	}
	pr := providers[0]
	codeFor := func(user string) string {
		p.SetLogin(map[string]any{"sub": "u-" + user, "preferred_username": user})
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := noFollow.Get(pr.RedirectURI)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		loc, err := url.Parse(res.Header.Get("Location"))
		if err != nil || loc.Query().Get("code") == "" {
			t.Fatalf("authorize: %d %s", res.StatusCode, res.Header.Get("Location"))
		}
		return loc.Query().Get("code")
	}
	tok, err := c.OidcAuthenticate(codeFor("alice"), pr.Nonce, pr.CodeVerifier)
	if err != nil || subject(t, string(tok)) != "alice" {
		t.Fatalf("OidcAuthenticate: %v", err)
	}
	// The code flow's request errors are Conjur's 400 (issue 19, point 7).
	if _, err := c.OidcAuthenticate(codeFor("bob"), pr.Nonce, pr.CodeVerifier); status(err) != 400 {
		t.Fatalf("bob is not allowed: %v", err)
	}
	if _, err := c.OidcAuthenticate(codeFor("alice"), pr.Nonce, "not-the-verifier"); status(err) != 400 {
		t.Fatalf("wrong verifier: %v", err)
	}
	idToken := func(user string) string {
		cl := p.Claims("u-"+user, p.ClientID)
		cl["preferred_username"] = user
		return p.Sign(cl)
	}
	tok, err = c.OidcTokenAuthenticate(idToken("alice"))
	if err != nil || subject(t, string(tok)) != "alice" {
		t.Fatalf("OidcTokenAuthenticate: %v", err)
	}
	if _, err := c.OidcTokenAuthenticate(idToken("bob")); status(err) != 403 {
		t.Fatalf("bob's id token: %v", err)
	}
}

// TestLDAPRoundTrip logs in and authenticates through authn-ldap against
// a real slapd (skipped without slapd unless CI is set).
func TestLDAPRoundTrip(t *testing.T) {
	srv := ldaptest.Start(t)
	srv.AddUser(t, "alice", "alice-ldap-pw")
	srv.AddUser(t, "bob", "bob-ldap-pw")
	kw := start(t)
	admin := kw.adminAuth(t)
	kw.native(t, admin, "PUT", "/api/v1/authenticators/authn-ldap/corp", map[string]any{"enabled": true,
		"config":  map[string]string{"uri": srv.URL, "base_dn": srv.BaseDN, "bind_dn": srv.BindDN, "bind-password": srv.BindPassword},
		"allowed": []string{"user:alice"}}, 200)
	alice := kw.native(t, admin, "POST", "/api/v1/users", map[string]any{"login": "alice"}, 201)
	kw.native(t, admin, "POST", "/api/v1/users", map[string]any{"login": "bob"}, 201)

	cfg := conjurapi.Config{Account: account, ApplianceURL: kw.url, CredentialStorage: "none", AuthnType: "ldap", ServiceID: "corp"}
	c, err := conjurapi.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	key, err := c.Login("alice", "alice-ldap-pw")
	if err != nil || string(key) != alice["api_key"] {
		t.Fatalf("LDAP Login: %v", err)
	}
	tok, err := c.Authenticate(authn.LoginPair{Login: "alice", APIKey: "alice-ldap-pw"})
	if err != nil || subject(t, string(tok)) != "alice" {
		t.Fatalf("LDAP Authenticate: %v", err)
	}
	if _, err := c.Login("alice", "wrong"); status(err) != 401 {
		t.Fatalf("wrong LDAP password: %v", err)
	}
	if _, err := c.Login("bob", "bob-ldap-pw"); status(err) != 403 {
		t.Fatalf("bob is not allowed: %v", err)
	}
}
