package conjur_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/authn/ldap/ldaptest"
)

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
