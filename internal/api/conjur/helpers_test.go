package conjur_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/server"
)

const account = "myorg"

// env is a real keyward server (SQLite in a temp folder) behind httptest.
type env struct {
	t        *testing.T
	srv      *server.Server
	url      string
	adminKey string
	admin    string // the admin's Token header
}

// newEnv starts a server for account myorg; cfg may adjust its config.
func newEnv(t *testing.T, cfg ...func(*server.Config)) *env {
	t.Helper()
	c := server.Config{DataDir: t.TempDir(), Account: account}
	for _, f := range cfg {
		f(&c)
	}
	ctx := context.Background()
	s, err := server.Open(ctx, c, true)
	if err != nil {
		t.Fatalf("server.Open: %v", err)
	}
	key, err := s.Init(ctx, account)
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		ts.Close()
		if err := s.Close(); err != nil {
			t.Errorf("server.Close: %v", err)
		}
	})
	e := &env{t: t, srv: s, url: ts.URL, adminKey: key}
	if s.Core.BasicAuthnEnabled() {
		e.admin = e.tokenHeader(e.token("admin", key))
	}
	return e
}

// resp is a finished response.
type resp struct {
	status int
	header http.Header
	body   string
}

// do sends a request; headers are name, value pairs.
func (e *env) do(method, path string, body io.Reader, headers ...string) resp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, body)
	if err != nil {
		e.t.Fatalf("request %s %s: %v", method, path, err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("read %s %s: %v", method, path, err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: string(b)}
}

// expect fails unless the response has status, and, when body is not
// nil, exactly that body.
func (r resp) expect(t *testing.T, status int, body *string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %q", r.status, status, r.body)
	}
	if body != nil && r.body != *body {
		t.Fatalf("body\n got %q\nwant %q", r.body, *body)
	}
}

func ptr(s string) *string { return &s }

// empty is the expected body of Conjur's bare answers.
var empty = ptr("")

// authn posts an API key to the authenticate route of login.
func (e *env) authn(login, key string, headers ...string) resp {
	e.t.Helper()
	return e.do("POST", "/authn/"+account+"/"+url.QueryEscape(login)+"/authenticate", strings.NewReader(key), headers...)
}

// token authenticates and returns the raw Conjur token JSON.
func (e *env) token(login, key string) string {
	e.t.Helper()
	r := e.authn(login, key)
	r.expect(e.t, http.StatusOK, nil)
	return r.body
}

// tokenHeader is the Authorization value for a raw token.
func (e *env) tokenHeader(tok string) string {
	return `Token token="` + base64.StdEncoding.EncodeToString([]byte(tok)) + `"`
}

// basic is the Authorization value for HTTP Basic.
func basic(login, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(login+":"+secret))
}

// native calls the native API as the admin and decodes the JSON answer.
func (e *env) native(method, path string, body any, want int) map[string]any {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	r := e.do(method, path, rd, "Authorization", e.admin, "Content-Type", "application/json")
	r.expect(e.t, want, nil)
	out := map[string]any{}
	if strings.TrimSpace(r.body) != "" {
		if err := json.Unmarshal([]byte(r.body), &out); err != nil {
			e.t.Fatalf("%s %s: %v in %q", method, path, err, r.body)
		}
	}
	return out
}

// principal is a user or host made through the native API.
type principal struct {
	id, login, key string
}

// user makes a principal; spec holds the native create fields.
func (e *env) user(login string, spec map[string]any) principal {
	e.t.Helper()
	body := map[string]any{"login": login}
	for k, v := range spec {
		body[k] = v
	}
	out := e.native("POST", "/api/v1/users", body, http.StatusCreated)
	return principal{id: out["id"].(string), login: login, key: out["api_key"].(string)}
}

// host makes a host with the given annotations.
func (e *env) host(login string, annotations map[string]string) principal {
	e.t.Helper()
	spec := map[string]any{"kind": "host"}
	if annotations != nil {
		spec["annotations"] = annotations
	}
	return e.user(login, spec)
}

// grant gives a principal a new role holding perms.
func (e *env) grant(p principal, name string, perms ...string) {
	e.t.Helper()
	role := e.native("POST", "/api/v1/roles", map[string]any{"name": name, "permissions": perms}, http.StatusCreated)
	e.native("PUT", "/api/v1/users/"+p.id+"/roles", map[string]any{"roles": []map[string]any{{"id": role["id"]}}}, http.StatusOK)
}

// payload decodes a Conjur token's payload claims.
func payload(t *testing.T, tok string) map[string]any {
	t.Helper()
	var parts map[string]string
	if err := json.Unmarshal([]byte(tok), &parts); err != nil {
		t.Fatalf("token is not a JSON object of strings: %v: %q", err, tok)
	}
	for _, k := range []string{"protected", "payload", "signature"} {
		if parts[k] == "" {
			t.Fatalf("token lacks %s: %q", k, tok)
		}
	}
	raw, err := base64.StdEncoding.DecodeString(parts["payload"])
	if err != nil {
		t.Fatalf("payload is not standard padded base64: %v", err)
	}
	claims := map[string]any{}
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// putAuthenticator defines an authenticator service through the native API.
func (e *env) putAuthenticator(path string, enabled bool, config map[string]string, allowed ...string) {
	e.t.Helper()
	if allowed == nil {
		allowed = []string{}
	}
	e.native("PUT", "/api/v1/authenticators/"+path, map[string]any{"enabled": enabled, "config": config, "allowed": allowed}, http.StatusOK)
}

// form is a url-encoded body of name, value pairs.
func form(kv ...string) io.Reader {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return strings.NewReader(v.Encode())
}

const formType = "application/x-www-form-urlencoded"
