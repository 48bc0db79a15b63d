package psauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/server"
)

type env struct {
	t     *testing.T
	srv   *httptest.Server
	admin string
	logs  *bytes.Buffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	logs := &bytes.Buffer{}
	s, err := server.Open(context.Background(), server.Config{DataDir: t.TempDir(), Account: "acme",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, true)
	if err != nil {
		t.Fatal(err)
	}
	key, err := s.Init(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, srv: httptest.NewServer(s.Handler()), admin: key, logs: logs}
	t.Cleanup(func() { e.srv.Close(); _ = s.Close() })
	return e
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("decode %s: %v", a.body, err)
	}
}

func (e *env) do(method, path string, body string, hdr ...string) answer {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return answer{res.StatusCode, res.Header, b}
}

func (e *env) native(method, path, body string, status int, v any) answer {
	e.t.Helper()
	a := e.do(method, path, body, "Authorization", "Bearer "+e.admin, "Content-Type", "application/json")
	if a.status != status {
		e.t.Fatalf("%s %s: %d, want %d: %s", method, path, a.status, status, a.body)
	}
	if v != nil {
		a.json(e.t, v)
	}
	return a
}

type created struct {
	ID           string           `json:"id"`
	Key          string           `json:"key"`
	PSRUNSecret  string           `json:"psrun_secret"`
	ClientID     string           `json:"client_id"`
	ClientSecret string           `json:"client_secret"`
	KeyMasked    string           `json:"key_masked"`
	Rules        []map[string]any `json:"rules"`
}

const base = "/BeyondTrust/api/public/v3/"

var hex = regexp.MustCompile

func TestNativeRegistrations(t *testing.T) {
	e := newEnv(t)
	e.native("POST", "/api/v1/users", `{"login":"bob","kind":"user","email":"bob@example.com","full_name":"Bob B"}`, 201, nil)
	var g created
	raw := e.native("POST", "/api/v1/api-registrations", `{"name":"ci","allowed":["user:bob"],"rules":[{"type":"ip","value":"127.0.0.1"},{"type":"xff","value":"2001:db8::/32"}]}`, 201, &g)
	if !hex(`^[0-9a-f]{128}$`).MatchString(g.Key) || !hex(`^[0-9a-f]{64}$`).MatchString(g.PSRUNSecret) || g.KeyMasked != "********"+g.Key[124:] || len(g.Rules) != 2 {
		t.Fatalf("create answer: %s", raw.body)
	}
	var obj map[string]any
	raw.json(t, &obj)
	for _, k := range []string{"id", "name", "type", "enforce_mfa", "client_certificate_required", "user_password_required", "verify_psrun_signature", "allowed", "rules", "key_masked", "created_at", "updated_at", "key_rotated_at", "last_used_at", "key", "psrun_secret"} {
		if _, ok := obj[k]; !ok {
			t.Errorf("create answer lacks %s", k)
		}
	}
	if obj["enforce_mfa"] != true || obj["type"] != "api_key_policy" || obj["user_password_required"] != false {
		t.Fatalf("defaults: %s", raw.body)
	}
	for _, path := range []string{"/api/v1/api-registrations/" + g.ID, "/api/v1/api-registrations?limit=10&offset=0"} {
		a := e.native("GET", path, "", 200, nil)
		if bytes.Contains(a.body, []byte(g.Key)) || bytes.Contains(a.body, []byte(g.PSRUNSecret)) || bytes.Contains(a.body, []byte(`"key"`)) {
			t.Fatalf("%s shows a secret: %s", path, a.body)
		}
	}
	e.native("GET", "/api/v1/api-registrations/nope", "", 404, nil)
	e.native("POST", "/api/v1/api-registrations", `{"name":"ci","rules":[{"type":"ip","value":"127.0.0.1"}]}`, 409, nil)
	for body, field := range map[string]string{
		`{"name":"x","rules":[{"type":"xff","value":"127.0.0.1"}]}`:                "rules",
		`{"name":"x","rules":[{"type":"ip","value":"1.2.3.4-1.2.3.1"}]}`:           "rules",
		`{"name":"x","rules":[{"type":"ip","value":"1.2.3.4/40"}]}`:                "rules",
		`{"name":"x","allowed":["bob"],"rules":[{"type":"ip","value":"1.2.3.4"}]}`: "allowed",
	} {
		var eb struct {
			Error struct {
				Field string `json:"field"`
			} `json:"error"`
		}
		e.native("POST", "/api/v1/api-registrations", body, 400, &eb)
		if eb.Error.Field != field {
			t.Errorf("%s: field %q, want %q", body, eb.Error.Field, field)
		}
	}
	var key struct{ Key, PSRUNSecret string }
	e.native("GET", "/api/v1/api-registrations/"+g.ID+"/key", "", 200, &key)
	if key.Key != g.Key {
		t.Fatal("show key")
	}
	xffID := g.Rules[1]["id"].(string)
	e.native("PATCH", "/api/v1/api-registrations/"+g.ID, `{"rules":[{"id":"`+xffID+`","type":"ip","value":"127.0.0.1"}]}`, 400, nil)

	var acc created
	e.native("POST", "/api/v1/api-registrations", `{"name":"oauth","type":"api_access_policy","run_as":"bob","rules":[{"type":"ip","value":"127.0.0.1"}]}`, 201, &acc)
	if !hex(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(acc.ClientID) || len(acc.ClientSecret) != 64 || acc.Key != "" || acc.KeyMasked != "" {
		t.Fatalf("access policy: %+v", acc)
	}
	var rot map[string]string
	e.native("POST", "/api/v1/api-registrations/"+acc.ID+"/rotate", "", 200, &rot)
	if len(rot) != 1 || len(rot["client_secret"]) != 64 {
		t.Fatalf("rotate access policy: %v", rot)
	}
	rot = nil
	e.native("POST", "/api/v1/api-registrations/"+g.ID+"/psrun-secret/rotate", "", 200, &rot)
	if len(rot) != 1 || len(rot["psrun_secret"]) != 64 {
		t.Fatalf("rotate psrun: %v", rot)
	}
	e.native("DELETE", "/api/v1/api-registrations/"+acc.ID, "", 204, nil)
	e.native("GET", "/api/v1/api-registrations/"+acc.ID, "", 404, nil)

	var audit struct {
		Items []map[string]any `json:"items"`
	}
	a := e.native("GET", "/api/v1/audit?limit=200", "", 200, &audit)
	seen := map[string]bool{}
	for _, r := range audit.Items {
		ev := r["event"].(string)
		if strings.HasPrefix(ev, "api_registration.") {
			seen[ev] = true
			if r["key_id"] == "" || r["actor"] != "acme:user:admin" || r["client_ip"] != "127.0.0.1" || r["outcome"] != "success" {
				t.Errorf("record %v", r)
			}
		}
	}
	for _, ev := range []string{"api_registration.create", "api_registration.delete", "api_registration.key.read", "api_registration.key.rotate", "api_registration.psrun_secret.rotate"} {
		if !seen[ev] {
			t.Errorf("no %s record", ev)
		}
	}
	for _, s := range []string{g.Key, g.PSRUNSecret, acc.ClientSecret, rot["psrun_secret"]} {
		if bytes.Contains(a.body, []byte(s)) {
			t.Fatal("the audit holds a secret")
		}
	}
}

func TestSignAppinOverHTTP(t *testing.T) {
	e := newEnv(t)
	e.native("POST", "/api/v1/users", `{"login":"bob","kind":"user","email":"bob@example.com","full_name":"Bob B"}`, 201, nil)
	var g created
	e.native("POST", "/api/v1/api-registrations", `{"name":"ci","enforce_mfa":false,"allowed":["user:bob"],"rules":[{"type":"ip","value":"127.0.0.1"}]}`, 201, &g)
	hdr := "PS-Auth key=" + g.Key + "; runas=bob;"
	cookieRE := regexp.MustCompile(`^ASP\.NET_SessionId=([0-9a-f]{64}); Path=/; HttpOnly$`)
	var cookie string
	for _, p := range []string{"Auth/SignAppin", "Auth/SignAppIn", "auth/signappin", "Auth/SignAppIn/", "AUTH/SIGNAPPIN"} {
		for _, ct := range []string{"", "application/json"} {
			h := []string{"Authorization", hdr}
			if ct != "" {
				h = append(h, "Content-Type", ct)
			}
			a := e.do("POST", strings.Replace(base, "BeyondTrust", "beyondtrust", 1)+p, "", h...)
			if a.status != 200 || a.header.Get("Content-Type") != "application/json" {
				t.Fatalf("%s: %d %s", p, a.status, a.body)
			}
			m := cookieRE.FindStringSubmatch(a.header.Get("Set-Cookie"))
			if m == nil || m[1] == cookie {
				t.Fatalf("%s: Set-Cookie %q", p, a.header.Get("Set-Cookie"))
			}
			cookie = m[1]
			var body map[string]any
			a.json(t, &body)
			if n, ok := body["UserId"].(float64); !ok || n <= 0 || body["SID"] != nil || body["UserName"] != "bob" || body["EmailAddress"] != "bob@example.com" || body["Name"] != "Bob B" {
				t.Fatalf("%s: %s", p, a.body)
			}
			if _, ok := body["SID"]; !ok || !bytes.Contains(a.body, []byte(`"UserId":`)) || bytes.Contains(a.body, []byte(`"UserId":"`)) {
				t.Fatalf("UserId must be a JSON integer and SID null: %s", a.body)
			}
		}
	}
	for _, h := range []string{"PS-Auth key=" + g.Key, "PS-Auth key=" + g.Key + "; runas=[bob", "PS-Auth key=nope; runas=bob", "Basic Ym9iOng=", "Bearer nope", "PS-Auth"} {
		a := e.do("POST", base+"Auth/SignAppin", "", "Authorization", h)
		if a.status != 401 || string(a.body) != `"User not authenticated"` || a.header.Get("Content-Type") != "application/json" || a.header.Get("Set-Cookie") != "" {
			t.Fatalf("%q: %d %s", h, a.status, a.body)
		}
	}
	if a := e.do("POST", base+"Auth/SignAppin", ""); a.status != 401 || string(a.body) != `"User not authenticated"` {
		t.Fatalf("no header: %d %s", a.status, a.body)
	}
	if a := e.do("GET", base+"Configuration/Version", ""); a.status != 401 {
		t.Fatalf("version without a session: %d", a.status)
	}
	for _, ck := range [][]string{
		{"Cookie", "path=/; ASP.NET_SessionId=" + cookie + "; HttpOnly"},
		{"Cookie", "a=b", "Cookie", "ASP.NET_SessionId=" + cookie},
	} {
		a := e.do("GET", base+"configuration/version/", "", ck...)
		var v map[string]string
		if a.status != 200 {
			t.Fatalf("version with %v: %d %s", ck, a.status, a.body)
		}
		a.json(t, &v)
		if _, ok := v["Version"]; !ok || len(v) != 1 {
			t.Fatalf("version: %s", a.body)
		}
	}
	if a := e.do("POST", base+"Auth/Signout", "", "Cookie", "ASP.NET_SessionId="+cookie); a.status != 200 || len(a.body) != 0 {
		t.Fatalf("signout: %d %q", a.status, a.body)
	}
	if a := e.do("GET", base+"Configuration/Version", "", "Cookie", "ASP.NET_SessionId="+cookie); a.status != 401 {
		t.Fatalf("version after signout: %d", a.status)
	}
	if a := e.do("POST", base+"auth/signout/", ""); a.status != 200 || len(a.body) != 0 {
		t.Fatalf("signout without cookie: %d %q", a.status, a.body)
	}
	if a := e.do("GET", base+"Nothing/Here", ""); a.status != 404 {
		t.Fatalf("unknown route: %d", a.status)
	}

	var acc created
	e.native("POST", "/api/v1/api-registrations", `{"name":"oauth","type":"api_access_policy","run_as":"bob","access_token_minutes":2,"rules":[{"type":"ip","value":"127.0.0.1"}]}`, 201, &acc)
	form := func(v url.Values) answer {
		return e.do("POST", base+"Auth/connect/token", v.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	}
	ok := url.Values{"client_id": {acc.ClientID}, "client_secret": {acc.ClientSecret}, "grant_type": {"client_credentials"}}
	for v, want := range map[string]string{
		url.Values{"client_id": {acc.ClientID}, "client_secret": {"x"}, "grant_type": {"client_credentials"}}.Encode():    `{"error":"invalid_client"}`,
		url.Values{"client_id": {acc.ClientID}, "client_secret": {acc.ClientSecret}, "grant_type": {"password"}}.Encode(): `{"error":"unsupported_grant_type"}`,
	} {
		vals, _ := url.ParseQuery(v)
		if a := form(vals); a.status != 400 || strings.TrimSpace(string(a.body)) != want {
			t.Fatalf("token %s: %d %s", v, a.status, a.body)
		}
	}
	a := form(ok)
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		TokenType   string `json:"token_type"`
		Scope       string `json:"scope"`
	}
	a.json(t, &tok)
	if a.status != 200 || tok.ExpiresIn != 120 || tok.TokenType != "Bearer" || tok.Scope != "publicapi" || tok.AccessToken == "" {
		t.Fatalf("token: %d %s", a.status, a.body)
	}
	a = e.do("POST", base+"Auth/SignAppIn", "", "Authorization", "Bearer "+tok.AccessToken)
	if a.status != 200 || !strings.Contains(string(a.body), `"UserName":"bob"`) {
		t.Fatalf("bearer sign-in: %d %s", a.status, a.body)
	}
	if a := e.do("GET", "/api/v1/users", "", "Authorization", "Bearer "+tok.AccessToken); a.status != 401 {
		t.Fatalf("the OAuth token works on the native API: %d", a.status)
	}

	var audit struct {
		Items []map[string]any `json:"items"`
	}
	e.native("GET", "/api/v1/audit?limit=500", "", 200, &audit)
	seen := map[string]bool{}
	for _, r := range audit.Items {
		ev, _ := r["event"].(string)
		if !strings.HasPrefix(ev, "psauth.") || r["outcome"] != "success" {
			continue
		}
		seen[ev] = true
		if ev != "psauth.signout" || r["key_id"] != nil {
			if r["key_id"] != g.ID && r["key_id"] != acc.ID || r["actor"] != "acme:user:bob" || r["client_ip"] != "127.0.0.1" {
				t.Errorf("record %v", r)
			}
		}
	}
	for _, ev := range []string{"psauth.signappin", "psauth.signout", "psauth.token"} {
		if !seen[ev] {
			t.Errorf("no %s record", ev)
		}
	}
	oa := e.do("GET", "/api/v1/openapi.json", "")
	for _, p := range []string{"/api/v1/api-registrations", "/api/v1/api-registrations/{id}/key", "/api/v1/api-registrations/{id}/psrun-secret/rotate",
		"/BeyondTrust/api/public/v3/Auth/SignAppin", "/BeyondTrust/api/public/v3/Auth/connect/token"} {
		if !bytes.Contains(oa.body, []byte(`"`+p+`"`)) {
			t.Errorf("OpenAPI lacks %s", p)
		}
	}
}

// TestRulesSeeThePeerNotXFF: loopback is a trusted proxy by default, so the
// server takes the client address from X-Forwarded-For; the rules still
// check the TCP peer only.
func TestRulesSeeThePeerNotXFF(t *testing.T) {
	e := newEnv(t)
	e.native("POST", "/api/v1/users", `{"login":"bob","kind":"user"}`, 201, nil)
	var spoof, xff created
	e.native("POST", "/api/v1/api-registrations", `{"name":"spoof","enforce_mfa":false,"allowed":["user:bob"],"rules":[{"type":"ip","value":"10.1.2.3"}]}`, 201, &spoof)
	e.native("POST", "/api/v1/api-registrations", `{"name":"lb","enforce_mfa":false,"allowed":["user:bob"],"rules":[{"type":"ip","value":"127.0.0.1"},{"type":"xff","value":"10.1.2.0/24"}]}`, 201, &xff)
	sign := func(key string, hdr ...string) int {
		return e.do("POST", base+"Auth/SignAppin", "", append([]string{"Authorization", "PS-Auth key=" + key + "; runas=bob"}, hdr...)...).status
	}
	if s := sign(spoof.Key, "X-Forwarded-For", "10.1.2.3"); s != 401 {
		t.Fatalf("an ip rule admitted an X-Forwarded-For address: %d", s)
	}
	if s := sign(xff.Key, "X-Forwarded-For", "10.1.2.3"); s != 200 {
		t.Fatalf("load balancer peer with its client's address: %d", s)
	}
	for _, h := range [][]string{nil, {"X-Forwarded-For", "10.1.2.3, 10.1.2.4"}, {"X-Forwarded-For", "10.1.2.3", "X-Forwarded-For", "10.1.2.3"}, {"X-Forwarded-For", "10.9.9.9"}} {
		if s := sign(xff.Key, h...); s != 401 {
			t.Fatalf("X-Forwarded-For %v: %d, want 401", h, s)
		}
	}
}
