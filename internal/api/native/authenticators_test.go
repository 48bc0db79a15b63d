package native_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyward/keyward/internal/server"
)

// publicKeys is a Conjur public-keys value holding one fresh EC key.
func publicKeys(t *testing.T) string {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk := jose.JSONWebKey{Key: &priv.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}
	b, err := json.Marshal(map[string]any{"type": "jwks", "value": map[string]any{"keys": []any{jwk}}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAuthenticatorConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pk := publicKeys(t)
	const jwks = "https://issuer.example.com/.well-known/jwks.json"
	put := func(path string, config map[string]any, allowed ...string) *resp {
		if allowed == nil {
			allowed = []string{}
		}
		return e.do("PUT", "/api/v1/authenticators/"+path, e.admin, map[string]any{"enabled": true, "config": config, "allowed": allowed})
	}

	bad := []struct {
		name   string
		path   string
		config map[string]any
		field  string
	}{
		{"unknown key", "authn-jwt/ci", map[string]any{"jwks-uri": jwks, "colour": "blue"}, "config.colour"},
		{"non-string value", "authn-jwt/ci", map[string]any{"jwks-uri": 5}, "config.jwks-uri"},
		{"non-string bool", "authn-jwt/ci", map[string]any{"jwks-uri": jwks, "issuer": true}, "config.issuer"},
		{"malformed URL", "authn-jwt/ci", map[string]any{"jwks-uri": "not a url"}, "config.jwks-uri"},
		{"relative URL", "authn-jwt/ci", map[string]any{"provider-uri": "/just/a/path"}, "config.provider-uri"},
		{"bad JWKS", "authn-jwt/ci", map[string]any{"public-keys": `{"type":"jwks","value":{"keys":"nope"}}`, "issuer": "i"}, "config.public-keys"},
		{"public-keys not JSON", "authn-jwt/ci", map[string]any{"public-keys": `{bad`, "issuer": "i"}, "config.public-keys"},
		{"public-keys without issuer", "authn-jwt/ci", map[string]any{"public-keys": pk}, "config.issuer"},
		{"two key sources", "authn-jwt/ci", map[string]any{"jwks-uri": jwks, "provider-uri": "https://issuer.example.com"}, "config.jwks-uri"},
		{"three key sources", "authn-jwt/ci", map[string]any{"jwks-uri": jwks, "provider-uri": "https://issuer.example.com", "public-keys": pk, "issuer": "i"}, "config.jwks-uri"},
		{"no key source", "authn-jwt/ci", map[string]any{"issuer": "i"}, "config.jwks-uri"},
		{"bad PEM", "authn-jwt/ci", map[string]any{"jwks-uri": jwks, "ca-cert": "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----"}, "config.ca-cert"},
		{"denied enforced claim", "authn-jwt/ci", map[string]any{"jwks-uri": jwks, "enforced-claims": "exp"}, "config.enforced-claims"},
		{"bad token-app-property", "authn-jwt/ci", map[string]any{"jwks-uri": jwks, "token-app-property": "no spaces!"}, "config.token-app-property"},
		{"ldap connect_type", "authn-ldap/corp", map[string]any{"host": "ldap.example.com", "base_dn": "dc=example,dc=com", "connect_type": "pigeon"}, "config.connect_type"},
		{"ldap port", "authn-ldap/corp", map[string]any{"host": "ldap.example.com", "base_dn": "dc=example,dc=com", "port": "99999"}, "config.port"},
		{"ldap port not a number", "authn-ldap/corp", map[string]any{"host": "ldap.example.com", "base_dn": "dc=example,dc=com", "port": "ldap"}, "config.port"},
		{"ldap uri scheme", "authn-ldap/corp", map[string]any{"uri": "http://ldap.example.com", "base_dn": "dc=example,dc=com"}, "config.uri"},
		{"ldap bad CA", "authn-ldap/corp", map[string]any{"host": "ldap.example.com", "base_dn": "dc=example,dc=com", "tls-ca-cert": "not pem"}, "config.tls-ca-cert"},
		{"oidc without provider", "authn-oidc/sso", map[string]any{"id-token-user-property": "email"}, "config.provider-uri"},
		{"oidc code flow without secret", "authn-oidc/sso", map[string]any{"provider-uri": "https://idp.example.com", "client-id": "c", "claim-mapping": "email"}, "config.client-secret"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			e := e.on(t)
			_, f, msg := put(tc.path, tc.config).errBody(400)
			if f != tc.field {
				t.Errorf("field %q (%s), want %q", f, msg, tc.field)
			}
			e.do("GET", "/api/v1/authenticators/"+tc.path, e.admin, nil).errBody(404)
		})
	}
	if _, f, _ := put("authn-jwt/ci", map[string]any{"jwks-uri": jwks}, "robot:r2d2").errBody(400); f != "allowed" {
		t.Errorf("bad allowed entry: field %q", f)
	}
	if _, f, _ := put("authn-gcp/extra", map[string]any{}).errBody(400); f != "service_id" {
		t.Errorf("gcp with service id: field %q", f)
	}
	put("authn-nope/x", map[string]any{}).errBody(404)
	if n := len(e.do("GET", "/api/v1/authenticators", e.admin, nil).want(200).items()); n != 0 {
		t.Fatalf("refused configurations were stored: %d", n)
	}

	// A good one round-trips.
	r := put("authn-jwt/ci", map[string]any{"public-keys": pk, "issuer": "https://ci.example.com", "token-app-property": "sub",
		"identity-path": "apps", "enforced-claims": "ref", "claim-aliases": "branch:ref"}, "host:apps/ci", "role:deployers").want(200)
	got := r.obj()
	if got["type"] != "authn-jwt" || got["service_id"] != "ci" || got["enabled"] != true || got["config"].(map[string]any)["issuer"] != "https://ci.example.com" {
		t.Errorf("stored jwt service: %s", r.body)
	}
	list := e.do("GET", "/api/v1/authenticators", e.admin, nil).want(200).items()
	if len(list) != 1 || list[0]["status"] != "ok" {
		t.Errorf("list: %v", list)
	}
	if rec := e.findAudit(map[string]string{"event": "authenticator.put"}); rec == nil || rec["authenticator"] != "authn-jwt/ci" {
		t.Errorf("authenticator.put audit record: %v", rec)
	}
	// A bad replacement leaves the good one as it was.
	before := string(e.do("GET", "/api/v1/authenticators/authn-jwt/ci", e.admin, nil).want(200).body)
	put("authn-jwt/ci", map[string]any{"jwks-uri": "::"}).errBody(400)
	if after := string(e.do("GET", "/api/v1/authenticators/authn-jwt/ci", e.admin, nil).want(200).body); after != before {
		t.Errorf("a refused PUT changed the service:\n%s\n%s", before, after)
	}

	// Secret values are masked in every answer and sealed at rest.
	const bindPW, clientSecret = "ldap-Bind-Secret-77", "oidc-Client-Secret-88"
	r = put("authn-ldap/corp", map[string]any{"host": "127.0.0.1", "port": "1", "base_dn": "dc=example,dc=com",
		"bind_dn": "cn=admin,dc=example,dc=com", "bind-password": bindPW})
	r.want(200)
	if got := r.obj()["config"].(map[string]any)["bind-password"]; got != "*****" {
		t.Errorf("bind-password answered as %v", got)
	}
	r2 := put("authn-oidc/sso", map[string]any{"provider-uri": "http://127.0.0.1:1/", "client-id": "keyward", "client-secret": clientSecret,
		"claim-mapping": "email", "redirect-uri": "https://keyward.example.com/callback"}).want(200)
	for _, rr := range []*resp{r, r2,
		e.do("GET", "/api/v1/authenticators/authn-ldap/corp", e.admin, nil).want(200),
		e.do("GET", "/api/v1/authenticators/authn-oidc/sso", e.admin, nil).want(200),
		e.do("GET", "/api/v1/authenticators", e.admin, nil).want(200),
	} {
		if bytes.Contains(rr.body, []byte(bindPW)) || bytes.Contains(rr.body, []byte(clientSecret)) {
			t.Errorf("%s %s shows a secret: %s", rr.method, rr.path, rr.body)
		}
	}
	// Sent back masked, the stored secret is kept (the service still builds).
	put("authn-ldap/corp", map[string]any{"host": "127.0.0.1", "port": "1", "base_dn": "dc=example,dc=com",
		"bind_dn": "cn=admin,dc=example,dc=com", "bind-password": "*****"}).want(200)
	// ...but not for a service aimed elsewhere: the mask would send the stored
	// secret to a listener of the caller's choosing.
	for _, moved := range []map[string]any{
		{"host": "127.0.0.2", "port": "1"},
		{"host": "127.0.0.1", "port": "2"},
		{"uri": "ldap://127.0.0.1:3"},
	} {
		cfg := map[string]any{"base_dn": "dc=example,dc=com", "bind_dn": "cn=admin,dc=example,dc=com", "bind-password": "*****"}
		for k, v := range moved {
			cfg[k] = v
		}
		if _, field, _ := put("authn-ldap/corp", cfg).errBody(400); field != "config.bind-password" {
			t.Errorf("moved service with a masked secret: field %q", field)
		}
	}
	put("authn-oidc/sso", map[string]any{"provider-uri": "http://127.0.0.1:9/", "client-id": "keyward", "client-secret": "*****",
		"claim-mapping": "email", "redirect-uri": "https://keyward.example.com/callback"}).errBody(400)
	e.close()
	for _, f := range []string{server.DBFile, server.DBFile + "-wal"} {
		b, err := os.ReadFile(filepath.Join(e.dir, f))
		if err != nil {
			continue
		}
		if bytes.Contains(b, []byte(bindPW)) || bytes.Contains(b, []byte(clientSecret)) {
			t.Errorf("%s holds a configuration secret in plain text", f)
		}
	}
	e.open()

	// Delete.
	e.do("DELETE", "/api/v1/authenticators/authn-jwt/ci", e.admin, nil).want(204)
	e.do("GET", "/api/v1/authenticators/authn-jwt/ci", e.admin, nil).errBody(404)
	e.do("DELETE", "/api/v1/authenticators/authn-jwt/ci", e.admin, nil).errBody(404)

	// authenticators-manage is what opens these routes.
	mgrID, mgrKey := e.createUser("authn-admin", "user", nil)
	uid, userKey := e.createUser("user-admin", "user", nil)
	e.grant(mgrID, e.createRole("authn-managers", "authenticators-manage"))
	e.grant(uid, e.createRole("user-managers", "users-manage", "users-view", "roles-manage", "api-keys-manage"))
	body := map[string]any{"enabled": false, "config": map[string]any{"jwks-uri": jwks}, "allowed": []string{}}
	e.do("PUT", "/api/v1/authenticators/authn-jwt/gh", e.keyToken(userKey), body).errBody(403)
	e.do("GET", "/api/v1/authenticators", e.keyToken(userKey), nil).errBody(403)
	e.do("PUT", "/api/v1/authenticators/authn-jwt/gh", e.keyToken(mgrKey), body).want(200)
	e.do("GET", "/api/v1/authenticators/authn-jwt/gh", e.keyToken(mgrKey), nil).want(200)
}
