package conjur_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/authn/jwt/jwttest"
	"github.com/keyward/keyward/internal/authn/ldap/ldaptest"
	"github.com/keyward/keyward/internal/model"
)

// The review of issue 19 (findings F3–F7 and note A): each test here
// failed on the reviewed code.

// keyID is the id part of a kw_<id>_<secret> key.
func keyID(key string) string { return strings.Split(key, "_")[1] }

// lastAuthnAudit is the newest "authn" audit record of authenticator name.
func lastAuthnAudit(t *testing.T, e *env, name string) map[string]any {
	t.Helper()
	return lastAudit(t, e, "authn", name)
}

// lastAudit is the newest audit record of event by authenticator name.
func lastAudit(t *testing.T, e *env, event, name string) map[string]any {
	t.Helper()
	for _, it := range e.native("GET", "/api/v1/audit?limit=20", nil, 200)["items"].([]any) {
		if rec := it.(map[string]any); rec["event"] == event && rec["authenticator"] == name {
			return rec
		}
	}
	t.Fatalf("no %s audit record of %s", event, name)
	return nil
}

// ldapEnv is a server with service authn-ldap/corp over a real slapd
// holding alice and carol, who are both allowed.
func ldapEnv(t *testing.T) (*env, principal, principal) {
	srv := ldaptest.Start(t)
	srv.AddUser(t, "alice", "alice-ldap-pw")
	srv.AddUser(t, "carol", "carol-ldap-pw")
	e := newEnv(t)
	e.putAuthenticator("authn-ldap/corp", true, map[string]string{"uri": srv.URL, "base_dn": srv.BaseDN,
		"bind_dn": srv.BindDN, "bind-password": srv.BindPassword}, "user:alice", "user:carol")
	return e, e.user("alice", nil), e.user("carol", nil)
}

func ldapAuthn(e *env, login, body string) resp {
	return e.do("POST", "/authn-ldap/corp/myorg/"+url.PathEscape(login)+"/authenticate", strings.NewReader(body))
}

// F3: wrong LDAP passwords sent by anyone who knows a login lock out the
// password (429), never the user's own Conjur API key, which is not a
// guess: API keys are never throttled, on /authn as on authn-ldap.
func TestLDAPLockoutDoesNotRefuseTheAPIKey(t *testing.T) {
	e, alice, _ := ldapEnv(t)
	for range 10 {
		ldapAuthn(e, "alice", "guess")
	}
	ldapAuthn(e, "alice", "guess").expect(t, http.StatusTooManyRequests, nil) // the password guesses are throttled
	e.authn("alice", alice.key).expect(t, 200, nil)
	ldapAuthn(e, "alice", alice.key).expect(t, 200, nil)
}

// F4 and F5: a body shaped as a keyward API key is decided by the key check
// alone and never goes to the directory as a bind password; a refusal is
// audited with the key check's reason, a success with the key's id, as
// /authn does.
func TestLDAPKeyIsDecidedByKeywardAndAudited(t *testing.T) {
	e, alice, carol := ldapEnv(t)
	ldapAuthn(e, "alice", alice.key).expect(t, 200, nil)
	if rec := lastAuthnAudit(t, e, "authn-ldap/corp"); rec["key_id"] != keyID(alice.key) {
		t.Errorf("audit of authenticate with alice's Conjur key: key_id %v, want %s (%v)", rec["key_id"], keyID(alice.key), rec)
	}
	e.native("PATCH", "/api/v1/users/"+carol.id, map[string]any{"status": "disabled"}, 200)
	ldapAuthn(e, "carol", carol.key).expect(t, 401, empty)
	rec := lastAuthnAudit(t, e, "authn-ldap/corp")
	if rec["reason"] != "disabled" || rec["key_id"] != keyID(carol.key) || strings.Contains(fmt.Sprint(rec["detail"]), "bind") {
		t.Errorf("carol's key was decided by an LDAP bind (the key went to the directory): %v", rec)
	}
	ldapAuthn(e, "alice", carol.key).expect(t, 401, empty)
	if rec := lastAuthnAudit(t, e, "authn-ldap/corp"); rec["reason"] != "login_mismatch" || strings.Contains(fmt.Sprint(rec["detail"]), "bind") {
		t.Errorf("carol's key sent as alice's LDAP password: %v", rec)
	}
	// The login route takes the directory password only; a key there is
	// refused without a bind too.
	e.do("GET", "/authn-ldap/corp/myorg/login", nil, "Authorization", basic("alice", alice.key)).expect(t, 401, empty)
	if rec := lastAudit(t, e, "login", "authn-ldap/corp"); rec["reason"] != "bad_credential" || rec["key_id"] != keyID(alice.key) ||
		strings.Contains(fmt.Sprint(rec["detail"]), "bind") {
		t.Errorf("alice's key on the login route: %v", rec)
	}
}

// F6: authn-oidc remembers a failed discovery as the JWKS does, so
// unauthenticated requests cannot make keyward fetch it for each of them.
func TestOIDCDiscoveryFailureIsCached(t *testing.T) {
	var hits atomic.Int64
	prov := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.NotFound(w, r)
	}))
	t.Cleanup(prov.Close)
	iss := jwttest.NewIssuer(t)
	e := newEnv(t)
	e.user("alice", nil)
	e.putAuthenticator("authn-oidc/down", true, map[string]string{"provider-uri": prov.URL, "id-token-user-property": "sub"}, "user:alice")
	tok := iss.Sign(iss.Claims("alice", ""))
	before := hits.Load()
	for range 10 {
		e.do("POST", "/authn-oidc/down/myorg/authenticate", form("id_token", tok), "Content-Type", formType).expect(t, 401, empty)
	}
	if got := hits.Load() - before; got > 1 {
		t.Fatalf("10 authenticates against a provider whose discovery fails made %d fetches; want at most 1", got)
	}
}

// F7: a service id is one segment of Conjur's alphabet. With "/" allowed,
// authn-jwt/gh/prod/sub would be both service gh's annotation (claim
// prod/sub) and service gh/prod's (claim sub), so a host annotated only for
// gh would log in through gh/prod. PUT refuses such ids; one stored before
// fails closed.
func TestServiceIDOutsideConjurAlphabet(t *testing.T) {
	iss := jwttest.NewIssuer(t)
	e := newEnv(t)
	cfg := map[string]any{"jwks-uri": iss.JWKSURL, "token-app-property": "sub", "issuer": iss.URL}
	spec := map[string]any{"enabled": true, "config": cfg, "allowed": []string{"host:app"}}
	e.native("PUT", "/api/v1/authenticators/authn-jwt/gh", spec, 200)
	e.host("app", map[string]string{"authn-jwt/gh/prod/sub": "app"}) // for service gh: claim prod/sub
	b, _ := json.Marshal(spec)
	for _, id := range []string{"gh%2Fprod", "gh.prod", "gh%3Fprod", "gh%20prod", "gh%3Aprod", strings.Repeat("a", 129)} {
		r := e.do("PUT", "/api/v1/authenticators/authn-jwt/"+id, bytes.NewReader(b), "Authorization", e.admin, "Content-Type", "application/json")
		r.expect(t, 400, nil)
		if !strings.Contains(r.body, `"service_id"`) {
			t.Errorf("PUT %s: %s; want the field service_id", id, r.body)
		}
	}
	e.native("PUT", "/api/v1/authenticators/authn-jwt/gh-prod_2", spec, 200)
	// A service stored under such an id before: its login fails closed.
	err := e.srv.Store().PutAuthenticator(context.Background(), model.AuthenticatorService{Account: account, Type: "authn-jwt",
		ServiceID: "gh/prod", Enabled: true, UpdatedAt: time.Now(), Allowed: []string{"host:app"},
		Config: map[string]string{"jwks-uri": iss.JWKSURL, "token-app-property": "sub", "issuer": iss.URL}})
	if err != nil {
		t.Fatal(err)
	}
	tok := iss.Sign(iss.Claims("app", ""))
	e.do("POST", "/authn-jwt/gh%2Fprod/myorg/authenticate", form("jwt", tok), "Content-Type", formType).expect(t, 401, empty)
	if rec := lastAuthnAudit(t, e, "authn-jwt/gh/prod"); rec["reason"] != "configuration_error" {
		t.Errorf("login through the stored gh/prod: %v", rec)
	}
}

// Note A: {id...} matches an empty id, so ServeMux would answer
// /roles/myorg/user and /resources/myorg/host (and any path whose
// trailing-slash form matches, %2F-encoded ones included) with a 307 and an
// HTML body whose Location is the decoded, cleaned path
// (/roles/..%2F..%2Fapi%2Fv1%2Fusers/y -> /api/v1/users/y/). Every answer
// is JSON instead: 404 where Conjur has no route, 501 for Conjur's resource
// list.
func TestRoleRoutesWithoutIDAnswerJSON(t *testing.T) {
	e := newEnv(t)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for p, want := range map[string]int{"/roles/myorg/user": 404, "/roles/myorg/user/": 404, "/resources/myorg/host": 501,
		"/resources/myorg/host/": 404, "/roles/..%2F..%2Fapi%2Fv1%2Fusers/y": 404} {
		req, _ := http.NewRequest("GET", e.url+p, nil)
		req.Header.Set("Authorization", e.admin)
		res, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != want || !json.Valid(body) {
			t.Errorf("GET %s: %d %q (Location %q); want %d with a JSON body, no redirect", p, res.StatusCode, body, res.Header.Get("Location"), want)
		}
	}
}
