package conjur

import (
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cyberark/conjur-api-go/conjurapi"
	"github.com/cyberark/conjur-api-go/conjurapi/authn"
	"github.com/cyberark/conjur-api-go/conjurapi/response"

	"github.com/keyward/keyward/internal/authn/jwt/jwttest"
)

// config is a conjur-api-go configuration for keyward, storing
// credentials in a netrc file of the test (never the user's keyring).
func (kw *keyward) config(t *testing.T) conjurapi.Config {
	return conjurapi.Config{Account: account, ApplianceURL: kw.url, CredentialStorage: "file",
		NetRCPath: filepath.Join(t.TempDir(), "netrc")}
}

// status is the HTTP status of a conjur-api-go error, or 0.
func status(err error) int {
	var ce *response.ConjurError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

// xff adds X-Forwarded-For to every request, as a proxy on loopback would.
type xff struct {
	base http.RoundTripper
	addr string
}

func (x xff) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", x.addr)
	return x.base.RoundTrip(r)
}

// whoami is the username the server sees for a client.
func whoami(t *testing.T, c *conjurapi.Client) string {
	t.Helper()
	b, err := c.WhoAmI()
	if err != nil {
		t.Fatalf("WhoAmI: %v", err)
	}
	var w struct {
		Username string `json:"username"`
		Account  string `json:"account"`
	}
	if err := json.Unmarshal(b, &w); err != nil || w.Account != account {
		t.Fatalf("WhoAmI answered %s (%v)", b, err)
	}
	return w.Username
}

// TestConjurClient drives keyward with conjur-api-go through Conjur's
// authn life cycle, then checks that no secret it made reached the logs.
func TestConjurClient(t *testing.T) {
	kw := start(t)
	secrets := map[string]string{"admin key": kw.adminKey}

	admin, err := conjurapi.NewClientFromKey(kw.config(t), authn.LoginPair{Login: "admin", APIKey: kw.adminKey})
	if err != nil {
		t.Fatal(err)
	}
	if u := whoami(t, admin); u != "admin" {
		t.Fatalf("admin is %q", u)
	}
	adminTok, err := admin.Authenticate(authn.LoginPair{Login: "admin", APIKey: kw.adminKey})
	if err != nil {
		t.Fatal(err)
	}
	secrets["admin token"] = string(adminTok)
	adminAuth := tokenHeader(adminTok)

	const password = "Str0ng-Passw0rd!"
	secrets["alice password"] = password
	alice := kw.native(t, adminAuth, "POST", "/api/v1/users", map[string]any{"login": "alice", "password": password}, 201)
	secrets["alice key"] = alice["api_key"].(string)
	app := kw.native(t, adminAuth, "POST", "/api/v1/users", map[string]any{"login": "apps/myapp", "kind": "host"}, 201)
	secrets["host key"] = app["api_key"].(string)

	cfg := kw.config(t) // alice's netrc
	aliceKey := ""
	t.Run("login with a password", func(t *testing.T) {
		c, err := conjurapi.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		key, err := c.Login("alice", password)
		if err != nil {
			t.Fatalf("Login: %v", err)
		}
		if string(key) != secrets["alice key"] {
			t.Fatalf("Login answered another key")
		}
		aliceKey = string(key)
		if _, err := c.Login("alice", "Wr0ng-Passw0rd!"); status(err) != 401 {
			t.Fatalf("wrong password: %v", err)
		}
	})
	t.Run("authenticate with the API key", func(t *testing.T) {
		c, err := conjurapi.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := c.Authenticate(authn.LoginPair{Login: "alice", APIKey: aliceKey})
		if err != nil {
			t.Fatalf("Authenticate: %v", err)
		}
		secrets["alice token"] = string(raw)
		tok, err := authn.NewToken(raw)
		if err != nil {
			t.Fatalf("the client cannot parse keyward's token: %v", err)
		}
		if tok.ShouldRefresh() {
			t.Fatal("a fresh token should not need a refresh")
		}
		if _, err := c.Authenticate(authn.LoginPair{Login: "alice", APIKey: secrets["host key"]}); status(err) != 401 {
			t.Fatalf("another's key: %v", err)
		}
	})
	t.Run("whoami", func(t *testing.T) {
		c, err := conjurapi.NewClientFromKey(cfg, authn.LoginPair{Login: "alice", APIKey: aliceKey})
		if err != nil {
			t.Fatal(err)
		}
		if u := whoami(t, c); u != "alice" {
			t.Fatalf("alice is %q", u)
		}
	})
	t.Run("rotate the current role's key", func(t *testing.T) {
		// Login stored alice's credentials in the netrc; rotation reads them.
		c, err := conjurapi.NewClientFromKey(cfg, authn.LoginPair{Login: "alice", APIKey: aliceKey})
		if err != nil {
			t.Fatal(err)
		}
		newKey, err := c.RotateCurrentRoleAPIKey()
		if err != nil {
			t.Fatalf("RotateCurrentRoleAPIKey: %v", err)
		}
		secrets["alice rotated key"] = string(newKey)
		if string(newKey) == aliceKey {
			t.Fatal("the key did not change")
		}
		if _, err := c.Authenticate(authn.LoginPair{Login: "alice", APIKey: aliceKey}); status(err) != 401 {
			t.Fatalf("the old key still works: %v", err)
		}
		aliceKey = string(newKey)
		c2, err := conjurapi.NewClientFromKey(cfg, authn.LoginPair{Login: "alice", APIKey: aliceKey})
		if err != nil {
			t.Fatal(err)
		}
		if whoami(t, c2) != "alice" {
			t.Fatal("the new key does not work")
		}
	})
	t.Run("change password", func(t *testing.T) {
		c, err := conjurapi.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.ChangeUserPassword("alice", password, "weak")
		if status(err) != 422 || !strings.Contains(err.Error(), "CONJ00046E") {
			t.Fatalf("weak password: %v", err)
		}
		stored, err := c.Login("alice", password)
		if err != nil {
			t.Fatal(err)
		}
		const newPassword = "An0ther-Str0ng-Pw!"
		secrets["alice new password"] = newPassword
		if _, err := c.ChangeUserPassword("alice", password, newPassword); err != nil {
			t.Fatalf("ChangeUserPassword: %v", err)
		}
		// As in Conjur, the API key the client stored keeps working
		// (issue 19, point 1).
		if _, err := c.Authenticate(authn.LoginPair{Login: "alice", APIKey: string(stored)}); err != nil {
			t.Fatalf("Authenticate with the same API key after the password change: %v", err)
		}
		withKey, err := conjurapi.NewClientFromKey(kw.config(t), authn.LoginPair{Login: "alice", APIKey: string(stored)})
		if err != nil || whoami(t, withKey) != "alice" {
			t.Fatalf("a client holding the key: %v", err)
		}
		if _, err := c.Login("alice", password); status(err) != 401 {
			t.Fatalf("the old password still works: %v", err)
		}
		key, err := c.Login("alice", newPassword)
		if err != nil || string(key) != string(stored) {
			t.Fatalf("Login with the new password: %v (the same key: %t)", err, string(key) == string(stored))
		}
		secrets["alice key after password"] = string(key)
	})
	t.Run("admin rotates a user's and a host's key", func(t *testing.T) {
		userKey, err := admin.RotateUserAPIKey("alice")
		if err != nil {
			t.Fatalf("RotateUserAPIKey: %v", err)
		}
		secrets["alice key by admin"] = string(userKey)
		hostKey, err := admin.RotateHostAPIKey("apps/myapp")
		if err != nil {
			t.Fatalf("RotateHostAPIKey: %v", err)
		}
		secrets["host key by admin"] = string(hostKey)
		if _, err := admin.Authenticate(authn.LoginPair{Login: "host/apps/myapp", APIKey: secrets["host key"]}); status(err) != 401 {
			t.Fatalf("the host's old key still works: %v", err)
		}
		host, err := conjurapi.NewClientFromKey(kw.config(t), authn.LoginPair{Login: "host/apps/myapp", APIKey: string(hostKey)})
		if err != nil {
			t.Fatal(err)
		}
		if u := whoami(t, host); u != "host/apps/myapp" {
			t.Fatalf("host is %q", u)
		}
		c, err := conjurapi.NewClientFromKey(kw.config(t), authn.LoginPair{Login: "alice", APIKey: string(userKey)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.RotateUserAPIKey("admin"); status(err) != 404 {
			t.Fatalf("alice rotating admin's key: %v", err)
		}
	})
	t.Run("restricted_to", func(t *testing.T) {
		runner := kw.native(t, adminAuth, "POST", "/api/v1/users",
			map[string]any{"login": "ci/runner", "kind": "host", "restricted_to": []string{"10.20.0.0/16"}}, 201)
		key := runner["api_key"].(string)
		secrets["runner key"] = key
		from := func(addr string) *conjurapi.Client {
			c, err := conjurapi.NewClient(kw.config(t))
			if err != nil {
				t.Fatal(err)
			}
			c.SetHttpClient(&http.Client{Transport: xff{base: http.DefaultTransport, addr: addr}})
			return c
		}
		if _, err := from("192.0.2.10").Authenticate(authn.LoginPair{Login: "host/ci/runner", APIKey: key}); status(err) != 401 {
			t.Fatalf("outside the CIDR: %v", err)
		}
		tok, err := from("10.20.3.4").Authenticate(authn.LoginPair{Login: "host/ci/runner", APIKey: key})
		if err != nil {
			t.Fatalf("inside the CIDR: %v", err)
		}
		secrets["runner token"] = string(tok)
	})
	t.Run("EnableAuthenticator and JWTAuthenticate", func(t *testing.T) {
		iss := jwttest.NewIssuer(t)
		kw.native(t, adminAuth, "PUT", "/api/v1/authenticators/authn-jwt/ci", map[string]any{"enabled": false,
			"config":  map[string]string{"jwks-uri": iss.JWKSURL, "issuer": iss.URL, "token-app-property": "sub", "identity-path": "apps"},
			"allowed": []string{"host:apps/myapp"}}, 200)
		kw.native(t, adminAuth, "PATCH", "/api/v1/users/"+app["id"].(string),
			map[string]any{"annotations": map[string]string{"authn-jwt/ci/project": "keyward"}}, 200)
		claims := iss.Claims("myapp", "")
		claims["project"] = "keyward"
		jwt := iss.Sign(claims)
		secrets["jwt"] = jwt
		jcfg := kw.config(t)
		jcfg.AuthnType, jcfg.ServiceID, jcfg.JWTContent = "jwt", "ci", jwt
		jc, err := conjurapi.NewClientFromJwt(jcfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := jc.JWTAuthenticate(jwt, ""); status(err) != 401 {
			t.Fatalf("disabled service: %v", err)
		}
		if err := admin.EnableAuthenticator("jwt", "ci", true); err != nil {
			t.Fatalf("EnableAuthenticator: %v", err)
		}
		tok, err := jc.JWTAuthenticate(jwt, "")
		if err != nil {
			t.Fatalf("JWTAuthenticate: %v", err)
		}
		secrets["jwt conjur token"] = string(tok)
		if u := whoami(t, jc); u != "host/apps/myapp" {
			t.Fatalf("JWT host is %q", u)
		}
		st, err := admin.AuthenticatorStatus("jwt", "ci")
		if err != nil || st.Status != "ok" {
			t.Fatalf("AuthenticatorStatus: %+v %v", st, err)
		}
		if _, err := admin.AuthenticatorStatus("jwt", "nope"); status(err) != 404 || !strings.Contains(err.Error(), "CONJ00005E") {
			t.Fatalf("status of an undefined service: %v", err)
		}
		if _, err := admin.AuthenticatorStatus("ldap", "corp"); status(err) != 501 {
			t.Fatalf("status of ldap: %v", err)
		}
		if err := admin.EnableAuthenticator("jwt", "ci", false); err != nil {
			t.Fatalf("EnableAuthenticator false: %v", err)
		}
		if _, err := jc.JWTAuthenticate(jwt, ""); status(err) != 401 {
			t.Fatalf("disabled again: %v", err)
		}
		if err := admin.EnableAuthenticator("jwt", "undefined", true); status(err) != 401 {
			t.Fatalf("enabling an undefined service: %v", err)
		}
	})
	t.Run("server version", func(t *testing.T) {
		v, err := admin.ServerVersion()
		if err != nil || v == "" {
			t.Fatalf("ServerVersion: %q %v", v, err)
		}
	})
	kw.noSecrets(t, secrets)
}

// TestEnvironmentAuthenticators starts keyward with KEYWARD_AUTHENTICATORS:
// the list decides what is enabled, defined or not, and authn is off
// unless listed.
func TestEnvironmentAuthenticators(t *testing.T) {
	kw := start(t, "KEYWARD_AUTHENTICATORS=authn-jwt/ci, authn-oidc/okta")
	code, body := kw.call(t, "GET", "/authenticators", nil)
	want := `{"installed":["authn","authn-azure","authn-gcp","authn-iam","authn-jwt","authn-k8s","authn-ldap","authn-oidc"],"configured":["authn"],"enabled":["authn-jwt/ci","authn-oidc/okta"]}`
	if code != 200 || body != want {
		t.Fatalf("GET /authenticators: %d %s", code, body)
	}
	c, err := conjurapi.NewClient(conjurapi.Config{Account: account, ApplianceURL: kw.url, CredentialStorage: "none"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Authenticate(authn.LoginPair{Login: "admin", APIKey: kw.adminKey}); status(err) != 401 {
		t.Fatalf("authn is not listed, yet: %v", err)
	}
}
