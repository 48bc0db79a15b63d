package native_test

import (
	"bytes"
	"encoding/base32"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// secretNames are the JSON members that hold secrets and nothing else.
var secretNames = map[string]bool{"key": true, "api_key": true, "token": true, "access_token": true, "secret": true, "password": true,
	"seed": true, "recovery_codes": true, "totp": true, "recovery_code": true}

// secretMembers walks a JSON value and returns the paths of secret-named
// members holding a value.
func secretMembers(v any, path string) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if secretNames[k] && val != nil && val != "" {
				out = append(out, path+"."+k)
			}
			out = append(out, secretMembers(val, path+"."+k)...)
		}
	case []any:
		for _, val := range x {
			out = append(out, secretMembers(val, path+"[]")...)
		}
	}
	return out
}

// TestSecretsStayPut runs a full scenario with debug logs captured, then
// checks that no read answer holds a secret-named member or any secret
// made, that secret-named members appear only where the secret is meant,
// and that no secret appears in the logs or in plain text at rest.
func TestSecretsStayPut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	secrets := []string{e.adminKey, e.admin}
	keep := func(s string) string { secrets = append(secrets, s); return s }

	// Writes that hand out a secret: exactly the documented members.
	r := e.do("POST", "/api/v1/users", e.admin, map[string]any{"login": "jo", "password": keep(goodPassword)}).want(201)
	joID := r.str("id")
	keep(r.str("api_key"))
	if got := secretMembers(r.obj(), ""); len(got) != 1 || got[0] != ".api_key" {
		t.Errorf("user create answer has secret members %v", got)
	}
	hostID, hostKey := e.createUser("apps/jo-app", "host", nil)
	keep(hostKey)
	roleID := e.createRole("viewers", "users-view", "roles-view", "audit-view", "authenticators-manage")
	e.grant(joID, roleID)
	r = e.do("POST", "/api/v1/users/"+joID+"/api-keys", e.admin, map[string]any{"description": "ci", "valid_sources": []string{"127.0.0.0/8"}}).want(201)
	keyID := r.str("id")
	keep(r.str("key"))
	if got := secretMembers(r.obj(), ""); len(got) != 1 || got[0] != ".key" {
		t.Errorf("key create answer has secret members %v", got)
	}
	r = e.do("POST", "/api/v1/api-keys/"+keyID+"/rotate", e.admin, map[string]any{"grace_period_seconds": 60}).want(200)
	rotated := keep(r.str("key"))
	if got := secretMembers(r.obj(), ""); len(got) != 1 || got[0] != ".key" {
		t.Errorf("rotate answer has secret members %v", got)
	}
	r = e.do("POST", "/api/v1/token", "", map[string]any{"login": "jo", "password": goodPassword}).want(200)
	joTok := keep(r.str("access_token"))
	if got := secretMembers(r.obj(), ""); len(got) != 1 || got[0] != ".access_token" {
		t.Errorf("token answer has secret members %v", got)
	}
	// MFA: the seed is shown once, by the enrolment answer alone (and in
	// its URL and QR code); recovery codes once, by verify.
	r = e.do("POST", "/api/v1/users/"+joID+"/mfa", e.admin, nil).want(201)
	seed := keep(r.str("seed"))
	if raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(seed); err != nil || len(raw) < 16 {
		t.Fatalf("seed %q is not base32 of 16 bytes or more: %v", seed, err)
	} else {
		keep(string(raw))
	}
	if got := secretMembers(r.obj(), ""); len(got) != 1 || got[0] != ".seed" {
		t.Errorf("MFA enrolment answer has secret members %v", got)
	}
	r = e.do("POST", "/api/v1/users/"+joID+"/mfa/verify", e.admin, map[string]any{"code": totpNow(t, seed)}).want(200)
	if got := secretMembers(r.obj(), ""); len(got) != 1 || got[0] != ".recovery_codes" {
		t.Errorf("MFA verify answer has secret members %v", got)
	}
	recovery := strs(r.obj()["recovery_codes"])
	for _, c := range recovery {
		keep(c)
	}
	r = e.do("POST", "/api/v1/token", "", map[string]any{"login": "jo", "password": goodPassword, "recovery_code": recovery[0]}).want(200)
	joStrong := keep(r.str("access_token"))
	e.do("POST", "/api/v1/token", "", map[string]any{"login": "jo", "password": goodPassword, "totp": totpAt(t, seed, time.Now().Add(30*time.Second))}).want(200)
	keep(e.keyToken(rotated))
	keep(e.keyToken(hostKey))
	e.verify(rotated)
	e.form("/api/v1/token/introspect", url.Values{"token": {joTok}}).want(200)
	newPW := keep("Another-Good-Pass-9")
	e.do("PATCH", "/api/v1/users/"+joID, e.admin, map[string]any{"password": newPW}).want(200)
	e.do("PUT", "/api/v1/authenticators/authn-ldap/corp", e.admin, map[string]any{"enabled": true, "allowed": []string{},
		"config": map[string]any{"host": "127.0.0.1", "port": "1", "base_dn": "dc=x", "bind_dn": "cn=a,dc=x", "bind-password": keep("Bind-Pass-Word-55")}}).want(200)
	// Failures that carry secrets in the request.
	e.do("POST", "/api/v1/token", "", map[string]any{"login": "jo", "password": keep("Wrong-Password-11")}).errBody(401)
	e.do("POST", "/api/v1/token", "", map[string]any{"login": "ghost", "api_key": rotated + "x"}).errBody(401)
	e.do("POST", "/api/v1/users", e.admin, map[string]any{"login": "weak", "password": keep("weakpassword")}).errBody(400)
	e.do("GET", "/api/v1/users", keep("kw_aaaaaaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbcccccc"), nil).errBody(401)
	e.do("GET", "/api/v1/users", joTok+"tampered", nil).errBody(401)

	// Every read answer, as admin and as jo.
	reads := []string{
		"/api/v1/users", "/api/v1/users/" + joID, "/api/v1/users/" + hostID, "/api/v1/users/" + e.adminID,
		"/api/v1/users/" + joID + "/roles", "/api/v1/users/" + joID + "/api-keys", "/api/v1/users/" + hostID + "/api-keys",
		"/api/v1/users/" + e.adminID + "/api-keys", "/api/v1/roles", "/api/v1/roles/" + roleID,
		"/api/v1/audit?limit=1000", "/api/v1/authenticators", "/api/v1/authenticators/authn-ldap/corp",
		"/api/v1/openapi.json", "/.well-known/jwks.json", "/metrics", "/healthz", "/readyz",
	}
	for _, path := range reads {
		for _, who := range []string{e.admin, joTok, joStrong} {
			r := e.do("GET", path, who, nil)
			if r.status != 200 && r.status != 403 {
				t.Errorf("GET %s: %d", path, r.status)
				continue
			}
			for _, s := range secrets {
				if bytes.Contains(r.body, []byte(s)) {
					t.Errorf("GET %s answers with a secret (%.8s…)", path, s)
				}
			}
			if path == "/metrics" || path == "/api/v1/openapi.json" {
				continue // not JSON, or a schema naming the request members
			}
			var v any
			if err := json.Unmarshal(r.body, &v); err != nil {
				t.Errorf("GET %s: %v", path, err)
				continue
			}
			if got := secretMembers(v, ""); len(got) > 0 {
				t.Errorf("GET %s has secret-named members %v", path, got)
			}
		}
	}

	// The logs saw the whole scenario at debug level and hold no secret.
	logs := e.logs.String()
	if !strings.Contains(logs, "POST /api/v1/token") || !strings.Contains(logs, "request_id") {
		t.Fatalf("debug access log not captured: %.300s", logs)
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("logs hold a secret (%.8s…)", s)
		}
		if i := strings.LastIndexByte(s, '_'); strings.HasPrefix(s, "kw_") && i > 0 && len(s)-i > 20 && strings.Contains(logs, s[i+1:]) {
			t.Errorf("logs hold an API key's secret part")
		}
	}

	// At rest: no API key, password or token in plain text, in any file of
	// the data folder (database, WAL, audit journal), running and stopped.
	scan := func(when string) {
		entries, err := os.ReadDir(e.dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, ent := range entries {
			b, err := os.ReadFile(filepath.Join(e.dir, ent.Name()))
			if err != nil {
				continue
			}
			for _, s := range secrets {
				if bytes.Contains(b, []byte(s)) {
					t.Errorf("%s (%s) holds a secret in plain text (%.8s…)", ent.Name(), when, s)
				}
			}
		}
	}
	scan("running")
	e.close()
	scan("stopped")
}
