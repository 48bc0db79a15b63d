package argus_test

// Review r21 F3 (customer variant): review 22 F2 made native authenticator
// definitions refuse narrowed keys; PrivX sources (PUT
// /role-store/api/v1/sources/{id}) do not. A customer-limited key re-points
// a source that admits a user of another customer at an IdP its owner
// controls, then logs in as that user: an unconstrained session of another
// customer's user. FAILS on 5510312.
//
//	cp /work/notes/review-r21-tests/internal/api/argus/review_r21_test.go internal/api/argus/
//	go test ./internal/api/argus/ -run TestR21CustomerKeyRepointsSource -v

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/authn/ldap/ldaptest"
	"github.com/keyward/keyward/internal/authn/oidc/oidctest"
)

func TestR21CustomerKeyRepointsSource(t *testing.T) {
	e := newEnv(t)
	corpIDP := oidctest.New(t)
	evilIDP := oidctest.New(t) // the attacker's own issuer
	const p = "/role-store/api/v1/"
	var src struct {
		ID string `json:"id"`
	}
	e.native("POST", p+"sources", e.admin, map[string]any{"name": "idp", "enabled": true, "connection": map[string]any{"type": "OIDC",
		"oidc_issuer": corpIDP.URL, "oidc_client_id": corpIDP.ClientID, "oidc_client_secret": corpIDP.ClientSecret}}).want(201).decode(&src)

	e.role("ops", "users-view", "users-manage", "authenticators-manage")
	owner := e.newUser("owner", "cust-a", true, "ops")
	bob := e.newUser("bob", "cust-b", false)
	e.native("PATCH", "/api/v1/users/"+bob.id, e.admin, map[string]any{"source": src.ID}).want(200)

	limited := nativeToken(t, e, e.createKey(e.session(owner), "owner", map[string]any{"sessionConstraints": map[string]any{"customer": []string{"cust-a"}}}).APIKey)
	if r := e.native("GET", p+"users/"+bob.id, limited, nil); r.status != 403 {
		t.Fatalf("the limited key reads bob: %d", r.status)
	}
	r := e.native("PUT", p+"sources/"+src.ID, limited, map[string]any{"name": "idp", "enabled": true, "connection": map[string]any{"type": "OIDC",
		"oidc_issuer": evilIDP.URL, "oidc_client_id": evilIDP.ClientID, "oidc_client_secret": evilIDP.ClientSecret}})
	if r.status == 403 {
		return // refused, as the native authenticator routes do
	}
	c := evilIDP.Claims("u-bob", evilIDP.ClientID)
	c["preferred_username"] = "bob"
	res, err := http.Post(e.srv.URL+"/authn-oidc/"+src.ID+"/"+account+"/authenticate", "application/x-www-form-urlencoded",
		strings.NewReader("id_token="+url.QueryEscape(evilIDP.Sign(c))))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	t.Fatalf("a key limited to customer cust-a re-pointed source %s (PUT sources: %d) and logged in as bob of cust-b through it: %d %.80s…",
		src.ID, r.status, res.StatusCode, body)
}

// F9 (medium): POST users/search/external lists a source's directory live
// to a key limited to one customer: the entries of users of other customers
// (login, names, email, DN) with it. Every other PrivX user list keeps to
// the key's customers (searchUsers), and account-wide reads are refused
// (accountWide, as the audit log).
func TestR21CustomerKeyExternalSearch(t *testing.T) {
	srv := ldaptest.Start(t)
	srv.AddUser(t, "bob", "bob-pw")
	e := newEnv(t)
	const p = "/role-store/api/v1/"
	var src struct {
		ID string `json:"id"`
	}
	e.native("POST", p+"sources", e.admin, map[string]any{"name": "corp", "enabled": true, "connection": map[string]any{"type": "LDAP",
		"address": srv.Host, "port": srv.Port, "ldap_base_dn": srv.BaseDN, "ldap_bind_dn": srv.BindDN, "ldap_bind_password": srv.BindPassword}}).want(201).decode(&src)
	e.role("viewer", "users-view")
	owner := e.newUser("owner", "cust-a", true, "viewer")
	bob := e.newUser("bob", "cust-b", false)
	e.native("PATCH", "/api/v1/users/"+bob.id, e.admin, map[string]any{"source": src.ID}).want(200)
	limited := nativeToken(t, e, e.createKey(e.session(owner), "owner", map[string]any{"sessionConstraints": map[string]any{"customer": []string{"cust-a"}}}).APIKey)
	if r := e.native("POST", p+"users/search", limited, map[string]any{"keywords": "bob"}); r.status != 200 || strings.Contains(string(r.body), `"bob"`) {
		t.Fatalf("users/search shows bob to the limited key: %d %s", r.status, r.body)
	}
	r := e.native("POST", p+"users/search/external", limited, map[string]any{"keywords": "bob"})
	if r.status == 200 && strings.Contains(string(r.body), `"principal":"bob"`) {
		t.Fatalf("a key limited to cust-a lists bob (cust-b) through users/search/external: %s", r.body)
	}
}
