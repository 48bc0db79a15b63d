package conjur_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/authn/jwt/jwttest"
	"github.com/keyward/keyward/internal/authn/ldap/ldaptest"
	"github.com/keyward/keyward/internal/authn/oidc/oidctest"
)

// Tests for issue 17 ("One way in") on the Conjur surface; run them with
// -run Finding.

// neverOK fails unless r is 401 or 403.
func neverOK(t *testing.T, what string, r resp) {
	t.Helper()
	if r.status != http.StatusUnauthorized && r.status != http.StatusForbidden {
		t.Errorf("%s: status %d, want 401 or 403; body %q", what, r.status, r.body)
	}
}

// Finding 3: an outside login resolves to a user by its plain login: never
// the built-in admin through a "user/" prefix, never a host.
func TestFinding3LDAPLoginCannotNameAdminOrHost(t *testing.T) {
	srv := ldaptest.Start(t)
	srv.AddUser(t, "user/admin", "admin-ldap-pw")
	srv.AddUser(t, "host/myhost", "host-ldap-pw")
	e := newEnv(t)
	e.host("myhost", nil)
	e.putAuthenticator("authn-ldap/corp", true, map[string]string{"uri": srv.URL, "base_dn": srv.BaseDN,
		"bind_dn": srv.BindDN, "bind-password": srv.BindPassword}, "user:admin", "host:myhost")
	for _, tc := range []struct{ login, pw string }{{"user/admin", "admin-ldap-pw"}, {"host/myhost", "host-ldap-pw"}} {
		neverOK(t, "LDAP login "+tc.login, e.do("GET", "/authn-ldap/corp/myorg/login", nil, "Authorization", basic(tc.login, tc.pw)))
		neverOK(t, "LDAP authenticate "+tc.login, e.do("POST", "/authn-ldap/corp/myorg/"+url.PathEscape(tc.login)+"/authenticate",
			strings.NewReader(tc.pw)))
	}
}

func TestFinding3OIDCLoginCannotNameAdminOrHost(t *testing.T) {
	e := newEnv(t)
	p := oidctest.New(t)
	e.host("myhost", nil)
	e.putAuthenticator("authn-oidc/okta", true, map[string]string{"provider-uri": p.URL, "client-id": p.ClientID,
		"client-secret": p.ClientSecret, "claim-mapping": "preferred_username", "redirect-uri": "https://app.example/callback",
		"id-token-user-property": "preferred_username"}, "user:admin", "host:myhost")
	for _, name := range []string{"user/admin", "host/myhost"} {
		c := p.Claims("u-"+name, p.ClientID)
		c["preferred_username"] = name
		r := e.do("POST", "/authn-oidc/okta/myorg/authenticate", strings.NewReader("id_token="+p.Sign(c)), "Content-Type", formType)
		neverOK(t, "OIDC id token naming "+name, r)
	}
}

// Finding 14: a caller who may not see a role gets the same answer whether
// it exists or not.
func TestFinding14APIKeyRouteHidesWhetherARoleExists(t *testing.T) {
	e := newEnv(t)
	alice := e.user("alice", nil) // no grants: sees no user, host or group
	e.host("myhost", nil)
	tok := e.tokenHeader(e.token("alice", alice.key))
	for _, tc := range []struct{ existing, missing string }{
		{"user:admin", "user:no-such-user"},
		{"host:myhost", "host:no-such-host"},
		{"group:admin", "group:no-such-group"},
	} {
		for _, method := range []string{"PUT", "GET"} {
			ask := func(role string) resp {
				return e.do(method, "/authn/myorg/api_key?role="+url.QueryEscape(role), nil, "Authorization", tok)
			}
			got, want := ask(tc.existing), ask(tc.missing)
			name := func(role string) string { return role[strings.Index(role, ":")+1:] }
			gotBody := strings.ReplaceAll(got.body, name(tc.existing), "NAME")
			wantBody := strings.ReplaceAll(want.body, name(tc.missing), "NAME")
			if got.status != want.status || gotBody != wantBody {
				t.Errorf("%s ?role=%s answered %d %q; ?role=%s %d %q", method, tc.existing, got.status, got.body, tc.missing, want.status, want.body)
			}
		}
	}
}

// Finding 19: the public authenticator list shows no other account's services.
func TestFinding19PublicAuthenticatorsListsDefaultAccountOnly(t *testing.T) {
	e := newEnv(t)
	otherKey, err := e.srv.Init(context.Background(), "other")
	if err != nil {
		t.Fatalf("init second account: %v", err)
	}
	otherTok := e.tokenHeader(func() string {
		r := e.do("POST", "/authn/other/admin/authenticate", strings.NewReader(otherKey))
		r.expect(t, http.StatusOK, nil)
		return r.body
	}())
	iss := jwttest.NewIssuer(t)
	body := `{"enabled":true,"config":{"public-keys":` + jsonString(iss.PublicKeys()) + `,"issuer":"https://ci.example"},"allowed":[]}`
	e.do("PUT", "/api/v1/authenticators/authn-jwt/elsewhere", strings.NewReader(body), "Authorization", otherTok,
		"Content-Type", "application/json").expect(t, http.StatusOK, nil)
	r := e.do("GET", "/authenticators", nil)
	r.expect(t, http.StatusOK, nil)
	if strings.Contains(r.body, "elsewhere") {
		t.Errorf("GET /authenticators names another account's service: %s", r.body)
	}
	if !strings.Contains(r.body, `"authn"`) {
		t.Errorf("GET /authenticators does not name authn: %s", r.body)
	}
}

// jsonString quotes s as a JSON string.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Also (issue 17): outside authenticators are throttled per login after
// failures, as password logins are, with the same numbers.
func TestFindingAlsoOutsideAuthenticatorsThrottledPerLogin(t *testing.T) {
	e, iss, _ := jwtSetup(t)
	const alicePassword = "Correct-Horse-42x"
	e.user("alice", map[string]any{"password": alicePassword})
	const maxTries = 20
	// firstThrottled repeats a failing attempt until it answers 429 and
	// returns which attempt that was (0: never within maxTries).
	firstThrottled := func(what string, fail func() resp) (int, resp) {
		t.Helper()
		for i := 1; i <= maxTries; i++ {
			r := fail()
			if r.status == http.StatusTooManyRequests {
				return i, r
			}
			if r.status != http.StatusUnauthorized {
				t.Fatalf("%s, attempt %d: status %d, want 401 or 429; body %q", what, i, r.status, r.body)
			}
		}
		return 0, resp{}
	}

	pwN, pwR := firstThrottled("wrong password", func() resp {
		return e.do("GET", "/authn/myorg/login", nil, "Authorization", basic("alice", "Wrong-Horse-42x"))
	})
	if pwN == 0 {
		t.Errorf("passwords: %d failed logins of one login never answered 429 (no per-login password throttle to mirror)", maxTries)
	} else if pwR.header.Get("Retry-After") == "" {
		t.Errorf("password throttle answered 429 without Retry-After")
	}

	const byID = "/authn-jwt/byid/myorg/host%2Fapps%2Fmyapp/authenticate"
	post := func(path, tok string) resp {
		return e.do("POST", path, form("jwt", tok), "Content-Type", formType)
	}
	jwtN, jwtR := firstThrottled("authn-jwt with a foreign key", func() resp {
		return post(byID, iss.SignUnknownKey(ciClaims(iss, "x")))
	})
	if jwtN == 0 {
		t.Fatalf("authn-jwt: %d failed attempts for host/apps/myapp never answered 429", maxTries)
	}
	if jwtR.header.Get("Retry-After") == "" {
		t.Errorf("authn-jwt throttle answered 429 without Retry-After")
	}
	if pwN != 0 && jwtN != pwN {
		t.Errorf("authn-jwt throttles at attempt %d, passwords at %d: want the same numbers", jwtN, pwN)
	}
	// While throttled, even a good token for that login is refused...
	if r := post(byID, iss.Sign(ciClaims(iss, "x"))); r.status != http.StatusTooManyRequests {
		t.Errorf("good token for the throttled login: status %d, want 429", r.status)
	}
	// ...but another login is not throttled.
	if r := post("/authn-jwt/byid/myorg/host%2Fapps%2Fother/authenticate", iss.Sign(ciClaims(iss, "x"))); r.status == http.StatusTooManyRequests {
		t.Errorf("another login is throttled too: %d", r.status)
	}
}

// Finding 12: the LDAP identity is the entry the search and bind proved,
// named by its own login attribute and resolved among users only: LDAP
// user dave typing "Dave" gets dave's key (never keyward user Dave's), and
// directory user deploybot is not keyward host deploybot.
func TestFinding12LDAPIdentityIsTheProvenEntry(t *testing.T) {
	srv := ldaptest.Start(t)
	srv.AddUser(t, "dave", "dave-ldap-pw")
	srv.AddUser(t, "deploybot", "bot-ldap-pw")
	e := newEnv(t)
	dave := e.user("dave", nil)
	bigDave := e.user("Dave", nil)
	e.host("deploybot", nil)
	e.putAuthenticator("authn-ldap/corp", true, map[string]string{"uri": srv.URL, "base_dn": srv.BaseDN,
		"bind_dn": srv.BindDN, "bind-password": srv.BindPassword}, "user:dave", "user:Dave", "host:deploybot")
	r := e.do("GET", "/authn-ldap/corp/myorg/login", nil, "Authorization", basic("Dave", "dave-ldap-pw"))
	switch {
	case r.status == http.StatusOK && string(r.body) == bigDave.key:
		t.Fatal("LDAP user dave, typing Dave, got keyward user Dave's API key")
	case r.status == http.StatusOK && string(r.body) != dave.key:
		t.Fatalf("LDAP login as Dave answered a key that is not dave's: %q", r.body)
	case r.status != http.StatusOK:
		neverOK(t, "LDAP login Dave", r)
	}
	neverOK(t, "LDAP login deploybot (a host in keyward)", e.do("GET", "/authn-ldap/corp/myorg/login", nil, "Authorization", basic("deploybot", "bot-ldap-pw")))
	neverOK(t, "LDAP authenticate deploybot", e.do("POST", "/authn-ldap/corp/myorg/deploybot/authenticate", strings.NewReader("bot-ldap-pw")))
	// The proven entry's own name still works.
	if r := e.do("GET", "/authn-ldap/corp/myorg/login", nil, "Authorization", basic("dave", "dave-ldap-pw")); r.status != http.StatusOK || string(r.body) != dave.key {
		t.Fatalf("LDAP login dave: %d %q, want dave's key", r.status, r.body)
	}
}

// Finding 9: authn-jwt with jwks-uri and no issuer checks the derived
// issuer (the host name of jwks-uri) whenever a token carries iss.
func TestFinding9JWKSURIServiceChecksIssuerWhenPresent(t *testing.T) {
	e := newEnv(t)
	iss := jwttest.NewIssuer(t)
	e.putAuthenticator("authn-jwt/bare", true, map[string]string{"jwks-uri": iss.JWKSURL}, "host:apps/myapp")
	e.host("apps/myapp", map[string]string{"authn-jwt/bare/project": "keyward"})
	post := func(claims map[string]any) resp {
		claims["project"] = "keyward"
		return e.do("POST", "/authn-jwt/bare/myorg/host%2Fapps%2Fmyapp/authenticate", strings.NewReader("jwt="+iss.Sign(claims)), "Content-Type", formType)
	}
	foreign := iss.Claims("x", "")
	foreign["iss"] = "https://evil.example"
	if r := post(foreign); r.status != http.StatusUnauthorized {
		t.Fatalf("token with a foreign iss: status %d, want 401", r.status)
	}
	none := iss.Claims("x", "")
	delete(none, "iss")
	if r := post(none); r.status != http.StatusOK {
		t.Fatalf("token without iss: status %d, want 200 (as Conjur)", r.status)
	}
	host := iss.Claims("x", "")
	host["iss"] = "127.0.0.1"
	if r := post(host); r.status != http.StatusOK {
		t.Fatalf("token whose iss is jwks-uri's host name: status %d, want 200", r.status)
	}
}

// Finding 10: authn-oidc's id-token flow with client-id alone checks the
// audience; without client-id the service says it accepts any client's
// tokens.
func TestFinding10OIDCIDTokenChecksAudience(t *testing.T) {
	e := newEnv(t)
	p := oidctest.New(t)
	alice := e.user("alice", nil)
	e.putAuthenticator("authn-oidc/strict", true, map[string]string{"provider-uri": p.URL, "client-id": p.ClientID,
		"id-token-user-property": "preferred_username"}, "user:alice")
	e.putAuthenticator("authn-oidc/loose", true, map[string]string{"provider-uri": p.URL,
		"id-token-user-property": "preferred_username"}, "user:alice")
	tok := func(aud any) string {
		c := p.Claims("u-alice", "")
		c["preferred_username"] = alice.login
		if aud == nil {
			delete(c, "aud")
		} else {
			c["aud"] = aud
		}
		return p.Sign(c)
	}
	post := func(svc, token string) int {
		return e.do("POST", "/authn-oidc/"+svc+"/myorg/authenticate", strings.NewReader("id_token="+token), "Content-Type", formType).status
	}
	for name, tc := range map[string]struct {
		token string
		want  int
	}{
		"aud is the client":  {tok(p.ClientID), 200},
		"aud another client": {tok("another-client"), 401},
		"no aud":             {tok(nil), 401},
	} {
		if got := post("strict", tc.token); got != tc.want {
			t.Errorf("strict service, %s: status %d, want %d", name, got, tc.want)
		}
	}
	if got := post("loose", tok("another-client")); got != 200 {
		t.Errorf("service without client-id, another client's token: %d, want 200 (Conjur v1's behaviour)", got)
	}
	list := e.native("GET", "/api/v1/authenticators", nil, http.StatusOK)
	warned := map[string]bool{}
	for _, it := range list["items"].([]any) {
		svc := it.(map[string]any)
		if w, ok := svc["warnings"].([]any); ok && len(w) > 0 && strings.Contains(w[0].(string), "any") {
			warned[svc["service_id"].(string)] = true
		}
	}
	if !warned["loose"] || warned["strict"] {
		t.Fatalf("warnings on services: %v, want only loose warned that it accepts any client's tokens", warned)
	}
}

// Finding 1, through grants given later: a holder of authenticators-manage
// may define a service admitting a host it outranks today; when the host is
// later granted more than that author holds, logins through the service
// stop (403) until someone who outranks the host saves the service again.
func TestFinding1LaterGrantsOutgrowTheServiceAuthor(t *testing.T) {
	e := newEnv(t)
	iss := jwttest.NewIssuer(t)
	mgr := e.user("authn-mgr", nil)
	e.grant(mgr, "authn-managers", "authenticators-manage")
	bot := e.host("apps/bot", map[string]string{"authn-jwt/bots/project": "keyward"})
	body, _ := json.Marshal(map[string]any{"enabled": true, "config": map[string]string{"jwks-uri": iss.JWKSURL},
		"allowed": []string{"host:apps/bot"}})
	mgrTok := e.tokenHeader(e.token("authn-mgr", mgr.key))
	e.do("PUT", "/api/v1/authenticators/authn-jwt/bots", bytes.NewReader(body), "Authorization", mgrTok,
		"Content-Type", "application/json").expect(t, http.StatusOK, nil)
	login := func() int {
		c := iss.Claims("x", "")
		delete(c, "iss")
		c["project"] = "keyward"
		return e.do("POST", "/authn-jwt/bots/myorg/host%2Fapps%2Fbot/authenticate", strings.NewReader("jwt="+iss.Sign(c)),
			"Content-Type", formType).status
	}
	if got := login(); got != http.StatusOK {
		t.Fatalf("login through the manager's service before any grant: %d, want 200", got)
	}
	e.grant(bot, "bot-auditors", "audit-view")
	if got := login(); got != http.StatusForbidden {
		t.Fatalf("login after the host was granted audit-view, which the service's author lacks: %d, want 403", got)
	}
	e.putAuthenticator("authn-jwt/bots", true, map[string]string{"jwks-uri": iss.JWKSURL}, "host:apps/bot")
	if got := login(); got != http.StatusOK {
		t.Fatalf("login after the admin saved the service: %d, want 200", got)
	}
}

// Review F7: a session of another account learns from the status route
// neither which accounts nor which services exist.
func TestReviewStatusIsNoOracleAcrossAccounts(t *testing.T) {
	e := newEnv(t)
	iss := jwttest.NewIssuer(t)
	e.putAuthenticator("authn-jwt/ci", true, map[string]string{"jwks-uri": iss.JWKSURL}, "host:apps/x")
	otherKey, err := e.srv.Init(context.Background(), "other")
	if err != nil {
		t.Fatal(err)
	}
	r := e.do("POST", "/authn/other/admin/authenticate", strings.NewReader(otherKey))
	r.expect(t, http.StatusOK, nil)
	tok := e.tokenHeader(r.body)
	answers := map[string]string{}
	for _, path := range []string{"/authn-jwt/ci/myorg/status", "/authn-jwt/nosuch/myorg/status", "/authn-jwt/ci/nosuch-account/status"} {
		r := e.do("GET", path, nil, "Authorization", tok)
		answers[path] = r.body
		if r.status != http.StatusForbidden {
			t.Errorf("%s with another account's token: %d, want 403", path, r.status)
		}
	}
	// The answers name the path asked for, nothing more.
	if answers["/authn-jwt/ci/myorg/status"] != strings.ReplaceAll(answers["/authn-jwt/nosuch/myorg/status"], "nosuch", "ci") {
		t.Errorf("existing and missing services answer differently:\n%s\n%s", answers["/authn-jwt/ci/myorg/status"], answers["/authn-jwt/nosuch/myorg/status"])
	}
}

// Review 2, finding 2: the outside-login throttle counts a directory entry
// once, however its login is spelled: the directory ignores case and
// leading, trailing and repeated spaces, so must the count.
func TestReviewLDAPThrottleIgnoresSpelling(t *testing.T) {
	srv := ldaptest.Start(t)
	srv.AddUser(t, "dave", "dave-ldap-pw")
	e := newEnv(t)
	e.user("dave", nil)
	e.putAuthenticator("authn-ldap/corp", true, map[string]string{"uri": srv.URL, "base_dn": srv.BaseDN,
		"bind_dn": srv.BindDN, "bind-password": srv.BindPassword}, "user:dave")
	login := func(name, pw string) int {
		return e.do("GET", "/authn-ldap/corp/myorg/login", nil, "Authorization", basic(name, pw)).status
	}
	limited := false
	for i := 0; i < 12 && !limited; i++ {
		limited = login("dave", "wrong") == http.StatusTooManyRequests
	}
	if !limited {
		t.Fatal("12 wrong LDAP passwords for dave were never throttled")
	}
	for _, spelling := range []string{"dave ", " dave", "DAVE", "  dave  "} {
		if got := login(spelling, "dave-ldap-pw"); got != http.StatusTooManyRequests {
			t.Errorf("throttled login spelled %q: %d, want 429", spelling, got)
		}
	}
}
