package main

import (
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/authn/jwt/jwttest"
)

func TestAuthenticatorSetShowDisableDelete(t *testing.T) {
	startServer(t)
	iss := jwttest.NewIssuer(t)
	cliOK(t, "user", "create", "--login", "apps/ci", "--kind", "host")

	out := cliOK(t, "authenticator", "set", "authn-jwt/ci", "--config", "jwks-uri="+iss.JWKSURL, "--config", "issuer="+iss.URL,
		"--config", "token-app-property=sub", "--allow", "host:apps/ci,role:admin")
	for _, want := range []string{"authn-jwt", "ci", "enabled:", "true", "jwks-uri", iss.JWKSURL, "host:apps/ci"} {
		if !strings.Contains(out, want) {
			t.Errorf("set output lacks %q:\n%s", want, out)
		}
	}
	var a struct {
		Type      string `json:"type"`
		ServiceID string `json:"service_id"`
		Enabled   bool   `json:"enabled"`
		Config    map[string]string
		Allowed   []string
	}
	cliJSON(t, &a, "authenticator", "show", "authn-jwt", "ci")
	if a.Type != "authn-jwt" || a.ServiceID != "ci" || !a.Enabled || a.Config["issuer"] != iss.URL || len(a.Allowed) != 2 {
		t.Fatalf("show: %+v", a)
	}
	if out := cliOK(t, "authenticator", "list"); !strings.Contains(out, "SERVICE ID") || !strings.Contains(out, "authn-jwt") || !strings.Contains(out, "ci") {
		t.Errorf("list:\n%s", out)
	}

	// disable keeps config and allow list.
	cliOK(t, "authenticator", "disable", "authn-jwt/ci")
	cliJSON(t, &a, "authenticator", "show", "authn-jwt/ci")
	if a.Enabled || a.Config["jwks-uri"] != iss.JWKSURL || len(a.Allowed) != 2 {
		t.Fatalf("after disable: %+v", a)
	}
	// set without --enabled keeps the state; --merge keeps the rest of the config.
	cliJSON(t, &a, "authenticator", "set", "authn-jwt/ci", "--merge", "--config", "audience=keyward")
	if a.Enabled || a.Config["audience"] != "keyward" || a.Config["issuer"] != iss.URL || len(a.Allowed) != 2 {
		t.Fatalf("merge: %+v", a)
	}
	cliOK(t, "authenticator", "enable", "authn-jwt/ci")
	cliJSON(t, &a, "authenticator", "show", "authn-jwt/ci")
	if !a.Enabled || a.Config["audience"] != "keyward" {
		t.Fatalf("after enable: %+v", a)
	}

	out = cliOK(t, "authenticator", "delete", "authn-jwt/ci")
	if !strings.Contains(out, "deleted authenticator authn-jwt/ci") {
		t.Errorf("delete: %q", out)
	}
	if code, _, _ := cli(t, "authenticator", "show", "authn-jwt/ci"); code != 1 {
		t.Errorf("show deleted: exit %d, want 1", code)
	}
}

func TestAuthenticatorSetBadConfigKey(t *testing.T) {
	startServer(t)
	iss := jwttest.NewIssuer(t)
	code, out, errs := cli(t, "authenticator", "set", "authn-jwt/ci", "--config", "jwks-uri="+iss.JWKSURL,
		"--config", "no-such-setting=1")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (stdout %q)", code, out)
	}
	if !strings.Contains(errs, "no-such-setting") {
		t.Errorf("stderr does not name the key: %q", errs)
	}
	// Nothing was stored.
	if code, _, _ := cli(t, "authenticator", "show", "authn-jwt/ci"); code != 1 {
		t.Errorf("a refused set stored something: show exits %d", code)
	}
	if code, _, _ := cli(t, "authenticator", "set", "authn-jwt/ci", "--config", "novalue"); code != 2 {
		t.Errorf("--config without =: exit %d, want 2", code)
	}
}

func TestAuthenticatorSecretMaskedAndKept(t *testing.T) {
	startServer(t)
	const secret = "bind-Pa55word-xyz"
	withStdin(t, secret+"\n")
	out := cliOK(t, "authenticator", "set", "authn-ldap/corp", "--config", "uri=ldap://127.0.0.1:1",
		"--config", "base_dn=dc=example,dc=com", "--config", "bind_dn=cn=reader,dc=example,dc=com",
		"--config-stdin", "bind-password", "--allow", "role:admin")
	if strings.Contains(out, secret) || !strings.Contains(out, "*****") {
		t.Fatalf("set shows the secret or no mask:\n%s", out)
	}
	// disable sends the masked value back; the server keeps its secret and the service stays valid.
	out = cliOK(t, "authenticator", "disable", "authn-ldap/corp")
	if strings.Contains(out, secret) || !strings.Contains(out, "*****") || !strings.Contains(out, "false") {
		t.Fatalf("disable:\n%s", out)
	}
	var a struct {
		Enabled bool
		Config  map[string]string
	}
	cliJSON(t, &a, "authenticator", "show", "authn-ldap/corp")
	if a.Enabled || a.Config["bind-password"] != "*****" {
		t.Fatalf("after disable: %+v", a)
	}
}
