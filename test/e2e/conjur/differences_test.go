package conjur

import (
	"strings"
	"testing"

	"github.com/cyberark/conjur-api-go/conjurapi"
	"github.com/cyberark/conjur-api-go/conjurapi/authn"

	"github.com/keyward/keyward/internal/authn/jwt/jwttest"
	"github.com/keyward/keyward/internal/authn/ldap/ldaptest"
)

// Issue 19 through conjur-api-go: the LDAP login's API key authenticates
// through authn-ldap; an issuer's key rotation is picked up within the run;
// RoleExists, Role and ResourceExists read keyward's users, hosts and roles.
func TestIssue19WithTheClient(t *testing.T) {
	srv := ldaptest.Start(t)
	srv.AddUser(t, "alice", "alice-ldap-pw")
	kw := start(t)
	admin := kw.adminAuth(t)
	iss := jwttest.NewIssuer(t)
	kw.native(t, admin, "PUT", "/api/v1/authenticators/authn-ldap/corp", map[string]any{"enabled": true,
		"config":  map[string]string{"uri": srv.URL, "base_dn": srv.BaseDN, "bind_dn": srv.BindDN, "bind-password": srv.BindPassword},
		"allowed": []string{"user:alice"}}, 200)
	kw.native(t, admin, "PUT", "/api/v1/authenticators/authn-jwt/ci", map[string]any{"enabled": true,
		"config":  map[string]string{"jwks-uri": iss.JWKSURL, "issuer": iss.URL, "token-app-property": "sub", "identity-path": "apps"},
		"allowed": []string{"host:apps/myapp"}}, 200)
	alice := kw.native(t, admin, "POST", "/api/v1/users", map[string]any{"login": "alice"}, 201)
	kw.native(t, admin, "POST", "/api/v1/users", map[string]any{"login": "bob"}, 201)
	host := kw.native(t, admin, "POST", "/api/v1/users", map[string]any{"login": "apps/myapp", "kind": "host",
		"annotations": map[string]string{"authn-jwt/ci/ref": "main"}}, 201)
	role := kw.native(t, admin, "POST", "/api/v1/roles", map[string]any{"name": "ops", "permissions": []string{}}, 201)
	kw.native(t, admin, "PUT", "/api/v1/users/"+alice["id"].(string)+"/roles", map[string]any{"roles": []map[string]any{{"id": role["id"]}}}, 200)
	kw.native(t, admin, "PUT", "/api/v1/users/"+host["id"].(string)+"/roles", map[string]any{"roles": []map[string]any{{"id": role["id"]}}}, 200)

	t.Run("LDAP login, then authenticate with the returned key", func(t *testing.T) {
		c, err := conjurapi.NewClient(conjurapi.Config{Account: account, ApplianceURL: kw.url, CredentialStorage: "none", AuthnType: "ldap", ServiceID: "corp"})
		if err != nil {
			t.Fatal(err)
		}
		key, err := c.Login("alice", "alice-ldap-pw")
		if err != nil || string(key) != alice["api_key"] {
			t.Fatalf("LDAP Login: %v", err)
		}
		tok, err := c.Authenticate(authn.LoginPair{Login: "alice", APIKey: string(key)})
		if err != nil || subject(t, string(tok)) != "alice" {
			t.Fatalf("authn-ldap Authenticate with the API key: %v", err)
		}
	})

	t.Run("JWKS rotation", func(t *testing.T) {
		claims := func() map[string]any {
			cl := iss.Claims("myapp", "")
			cl["ref"] = "main"
			return cl
		}
		first := iss.Sign(claims())
		c, err := conjurapi.NewClient(conjurapi.Config{Account: account, ApplianceURL: kw.url, CredentialStorage: "none", AuthnType: "jwt",
			ServiceID: "ci", JWTContent: first})
		if err != nil {
			t.Fatal(err)
		}
		if tok, err := c.JWTAuthenticate(first, ""); err != nil || subject(t, string(tok)) != "host/apps/myapp" {
			t.Fatalf("JWT before the rotation: %v", err)
		}
		iss.RotateRSA()
		if tok, err := c.JWTAuthenticate(iss.Sign(claims()), ""); err != nil || subject(t, string(tok)) != "host/apps/myapp" {
			t.Fatalf("JWT with the new kid: %v", err)
		}
	})

	t.Run("roles and resources", func(t *testing.T) {
		c, err := conjurapi.NewClientFromKey(kw.config(t), authn.LoginPair{Login: "admin", APIKey: kw.adminKey})
		if err != nil {
			t.Fatal(err)
		}
		for id, want := range map[string]bool{"myorg:user:alice": true, "myorg:user:nobody": false, "myorg:host:apps/myapp": true,
			"myorg:group:ops": true, "myorg:group:nothing": false} {
			if got, err := c.RoleExists(id); err != nil || got != want {
				t.Errorf("RoleExists(%s) = %t, %v; want %t", id, got, err, want)
			}
		}
		r, err := c.Role("myorg:group:ops")
		if err != nil {
			t.Fatalf("Role: %v", err)
		}
		var members []string
		for _, m := range r["members"].([]any) {
			members = append(members, m.(map[string]any)["member"].(string))
		}
		if r["id"] != "myorg:group:ops" || strings.Join(members, ",") != "myorg:host:apps/myapp,myorg:user:alice" {
			t.Errorf("Role(ops) = %v", r)
		}
		for id, want := range map[string]bool{"myorg:host:apps/myapp": true, "myorg:host:apps/nothing": false} {
			if got, err := c.ResourceExists(id); err != nil || got != want {
				t.Errorf("ResourceExists(%s) = %t, %v; want %t", id, got, err, want)
			}
		}
		// alice, without users-view, sees only herself: bob is "false"
		// to her, as a missing user is.
		ac, err := conjurapi.NewClientFromKey(kw.config(t), authn.LoginPair{Login: "alice", APIKey: alice["api_key"].(string)})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := ac.RoleExists("myorg:user:bob"); err != nil || got {
			t.Errorf("alice sees bob: %t, %v", got, err)
		}
		if got, err := ac.RoleExists("myorg:user:alice"); err != nil || !got {
			t.Errorf("alice does not see herself: %t, %v", got, err)
		}
		// A Conjur route keyward does not serve is an error, not "false".
		if got, err := c.ResourceExists("myorg:variable:db/password"); err == nil || !strings.Contains(err.Error(), "501") {
			t.Errorf("ResourceExists of a variable: %t, %v; want an error naming 501", got, err)
		}
	})
}
