package server_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestCrossAccountThroughTheCLI: a second account made with the CLI
// (keyward account add) on the built binary is a separate tenant: its admin
// cannot see or change the first account's admin by id (404, as for an id
// that exists nowhere), the first admin keeps every permission, and a
// signing-key rotation in the second leaves the first's next token on the
// same key.
func TestCrossAccountThroughTheCLI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	acme := initData(t, dir)
	out, errOut, code := run(t, "account", "add", "--data", dir, "--account", "beta")
	if code != 0 {
		t.Fatalf("account add exited %d: %s", code, errOut)
	}
	var beta initAnswer
	if err := json.Unmarshal([]byte(out), &beta); err != nil || beta.Account != "beta" || beta.Login != "admin" {
		t.Fatalf("account add answer %q: %v", out, err)
	}
	p := serve(t, dir)
	token := func(key string) string {
		_, m := p.do("POST", "/api/v1/token", "", map[string]any{"api_key": key})
		tok, _ := m["access_token"].(string)
		if tok == "" {
			t.Fatalf("token for %s…: %v", key[:8], m)
		}
		return tok
	}
	kid := func(tok string) string {
		hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
		var h struct {
			Kid string `json:"kid"`
		}
		_ = json.Unmarshal(hdr, &h)
		return h.Kid
	}
	acmeTok, betaTok := token(acme.APIKey), token(beta.APIKey)
	_, list := p.do("GET", "/api/v1/users?search=admin", acmeTok, nil)
	acmeAdminID := list["items"].([]any)[0].(map[string]any)["id"].(string)

	_, missing := p.do("GET", "/api/v1/users/no-such-principal-00", betaTok, nil)
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/v1/users/" + acmeAdminID, nil},
		{"PATCH", "/api/v1/users/" + acmeAdminID, map[string]any{"status": "disabled"}},
		{"PUT", "/api/v1/users/" + acmeAdminID + "/roles", map[string]any{"roles": []any{}}},
		{"POST", "/api/v1/users/" + acmeAdminID + "/api-keys", map[string]any{}},
		{"DELETE", "/api/v1/users/" + acmeAdminID, nil},
	} {
		status, body := p.do(tc.method, tc.path, betaTok, tc.body)
		msg := strings.ReplaceAll(body["error"].(map[string]any)["message"].(string), acmeAdminID, "no-such-principal-00")
		if status != http.StatusNotFound || msg != missing["error"].(map[string]any)["message"] {
			t.Errorf("beta's admin %s %s: %d %v, want 404 like a missing id (%v)", tc.method, tc.path, status, body, missing)
		}
	}
	if status, _ := p.do("GET", "/api/v1/audit?limit=1", acmeTok, nil); status != http.StatusOK {
		t.Fatalf("acme's admin lost its permissions: %d", status)
	}
	before := kid(token(acme.APIKey))
	if status, _ := p.do("POST", "/api/v1/signing-keys/rotate", betaTok, nil); status != http.StatusNoContent {
		t.Fatalf("beta's rotation: %d", status)
	}
	if after := kid(token(acme.APIKey)); after != before || after == "" {
		t.Fatalf("beta's rotation moved acme's signing key: %q → %q", before, after)
	}
	if nb := kid(token(beta.APIKey)); nb == kid(betaTok) {
		t.Fatalf("beta's rotation left beta's key: %q", nb)
	}
}
