package native_test

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestIntrospectAndJWKS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	uid, key := e.createUser("apps/svc", "host", nil)
	tok := e.keyToken(key)

	in := e.form("/api/v1/token/introspect", url.Values{"token": {tok}}).want(200).obj()
	if in["active"] != true || in["sub"] != "host/apps/svc" || in["account"] != account || in["exp"] == nil {
		t.Errorf("active token: %v", in)
	}
	for _, bad := range []string{"garbage", tok + "x", tok[:len(tok)-4], strings.Repeat("a", 20000)} {
		in := e.form("/api/v1/token/introspect", url.Values{"token": {bad}}).want(200).obj()
		if len(in) != 1 || in["active"] != false {
			t.Errorf("inactive token answer: %v", in)
		}
	}
	if _, f, _ := e.form("/api/v1/token/introspect", url.Values{}).errBody(400); f != "token" {
		t.Errorf("no token: field %q", f)
	}
	// A deleted principal's token is no longer active.
	e.do("DELETE", "/api/v1/users/"+uid, e.admin, nil).want(204)
	if in := e.form("/api/v1/token/introspect", url.Values{"token": {tok}}).want(200).obj(); in["active"] != false {
		t.Errorf("token of a deleted host: %v", in)
	}

	// JWKS holds the key that signed the admin's token.
	hdr, _, _ := strings.Cut(e.admin, ".")
	raw, err := base64.RawURLEncoding.DecodeString(hdr)
	if err != nil {
		t.Fatalf("token header: %v", err)
	}
	var h struct{ Kid, Alg string }
	if err := json.Unmarshal(raw, &h); err != nil || h.Kid == "" {
		t.Fatalf("token header %s", raw)
	}
	r := e.do("GET", "/.well-known/jwks.json", "", nil).want(200)
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(r.body, &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("jwks: %s", r.body)
	}
	found := false
	for _, k := range set.Keys {
		if k["kid"] == h.Kid {
			found = true
		}
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
			if _, has := k[private]; has {
				t.Errorf("JWKS key has private member %q", private)
			}
		}
	}
	if !found {
		t.Errorf("JWKS lacks the signing key %s: %s", h.Kid, r.body)
	}

	// After a signing-key rotation, old tokens still verify and JWKS has both.
	e.do("POST", "/api/v1/signing-keys/rotate", e.admin, nil).want(204)
	e.do("GET", "/api/v1/users", e.admin, nil).want(200)
	if err := json.Unmarshal(e.do("GET", "/.well-known/jwks.json", "", nil).want(200).body, &set); err != nil || len(set.Keys) < 2 {
		t.Errorf("JWKS after rotation has %d keys", len(set.Keys))
	}
}

func TestHealthMetricsOpenAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if m := e.do("GET", "/healthz", "", nil).want(200).obj(); m["status"] != "ok" {
		t.Errorf("healthz: %v", m)
	}
	if m := e.do("GET", "/readyz", "", nil).want(200).obj(); m["status"] != "ready" {
		t.Errorf("readyz: %v", m)
	}
	e.do("POST", "/api/v1/token", "", map[string]any{"login": "ghost", "api_key": e.adminKey}).errBody(401)
	e.do("POST", "/api/v1/api-keys/verify", "", map[string]any{"key": e.adminKey}).want(200)

	r := e.do("GET", "/metrics", "", nil).want(200)
	body := string(r.body)
	if !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Errorf("metrics content type %q", r.header.Get("Content-Type"))
	}
	nameRE := regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? `)
	for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		m := nameRE.FindStringSubmatch(line)
		if m == nil || !strings.HasPrefix(m[1], "keyward_") && !strings.HasPrefix(m[1], "go_") && !strings.HasPrefix(m[1], "process_") &&
			!strings.HasPrefix(m[1], "promhttp_") {
			t.Errorf("metric line neither keyward_ nor the client library's runtime and process metrics: %q", line)
		}
	}
	for _, want := range []string{
		`keyward_http_requests_total{route="POST /api/v1/token",status="200"}`,
		`keyward_http_requests_total{route="POST /api/v1/token",status="401"}`,
		`keyward_http_requests_total{route="GET /healthz",status="200"}`,
		`keyward_http_request_duration_seconds_bucket{route="POST /api/v1/api-keys/verify",status="200",le="+Inf"}`,
		`keyward_authentications_total{method="api_key",outcome="failure",surface="native"}`,
		`keyward_authentications_total{method="api_key_verify",outcome="success",surface="native"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(e.do("GET", "/api/v1/openapi.json", "", nil).want(200).body, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi version %q", doc.OpenAPI)
	}
	for _, rt := range nativeRoutes() {
		op, ok := doc.Paths[rt.Pattern][strings.ToLower(rt.Method)]
		if !ok {
			t.Errorf("OpenAPI lacks %s %s", rt.Method, rt.Pattern)
			continue
		}
		want := rt.Permission
		if rt.Public {
			want = "public"
		}
		if op["x-keyward-permission"] != want {
			t.Errorf("%s %s: x-keyward-permission %v, want %q", rt.Method, rt.Pattern, op["x-keyward-permission"], want)
		}
	}
}

// TestAuditRecords checks the record shape of successes and failures,
// actors for unknown logins, and the request id from the client.
func TestAuditRecords(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	uid, key := e.createUser("hank", "user", nil)

	rid := "client-req-42"
	r := e.do("POST", "/api/v1/token", "", map[string]any{"login": "hank", "api_key": key}, "X-Request-Id", rid, "X-Forwarded-For", "198.51.100.7").want(200)
	if r.header.Get("X-Request-Id") != rid {
		t.Errorf("X-Request-Id echoed as %q", r.header.Get("X-Request-Id"))
	}
	e.do("POST", "/api/v1/token", "", map[string]any{"login": "nosuchuser", "password": goodPassword}, "X-Request-Id", "client-req-43").errBody(401)
	// A request id the server generates is echoed too.
	if gen := e.do("GET", "/healthz", "", nil).header.Get("X-Request-Id"); len(gen) < 16 {
		t.Errorf("generated request id %q", gen)
	}
	// A request id with a line break is replaced, not echoed.
	if got := e.do("GET", "/healthz", "", nil, "X-Request-Id", strings.Repeat("x", 200)).header.Get("X-Request-Id"); len(got) > 128 {
		t.Errorf("overlong request id echoed")
	}
	e.do("DELETE", "/api/v1/users/"+uid, e.admin, nil, "X-Request-Id", "client-req-44").want(204)

	succ := e.findAudit(map[string]string{"request_id": rid})
	if succ == nil {
		t.Fatal("no audit record with the client's request id")
	}
	for _, f := range []string{"time", "event", "outcome", "actor", "subject", "client_ip", "request_id"} {
		if v, _ := succ[f].(string); v == "" {
			t.Errorf("success record lacks %s: %v", f, succ)
		}
	}
	if _, has := succ["reason"]; has {
		t.Errorf("success record has a reason: %v", succ)
	}
	if succ["event"] != "token" || succ["outcome"] != "success" || succ["actor"] != account+":user:hank" ||
		succ["subject"] != account+":user:hank" || succ["client_ip"] != "198.51.100.7" || succ["key_id"] == nil {
		t.Errorf("success record: %v", succ)
	}
	if ts, err := time.Parse(time.RFC3339Nano, succ["time"].(string)); err != nil || time.Since(ts) > time.Minute {
		t.Errorf("time %v", succ["time"])
	}

	failRec := e.findAudit(map[string]string{"request_id": "client-req-43"})
	if failRec == nil || failRec["outcome"] != "failure" || failRec["reason"] == nil || failRec["reason"] == "" ||
		failRec["actor"] != account+":user:nosuchuser" || failRec["client_ip"] != "127.0.0.1" {
		t.Errorf("failure record: %v", failRec)
	}
	del := e.findAudit(map[string]string{"request_id": "client-req-44"})
	if del == nil || del["event"] != "user.delete" || del["actor"] != account+":user:admin" || del["subject"] != account+":user:hank" {
		t.Errorf("delete record: %v", del)
	}

	// Every record of the whole list has the required members; failures a reason.
	for _, rec := range e.audit(1000) {
		for _, f := range []string{"time", "event", "outcome", "actor", "subject", "request_id"} {
			if v, _ := rec[f].(string); v == "" {
				t.Errorf("record lacks %s: %v", f, rec)
			}
		}
		if _, ok := rec["client_ip"]; !ok {
			t.Errorf("record lacks client_ip: %v", rec)
		}
		switch rec["outcome"] {
		case "success":
			if _, has := rec["reason"]; has {
				t.Errorf("success with reason: %v", rec)
			}
		case "failure":
			if v, _ := rec["reason"].(string); v == "" {
				t.Errorf("failure without reason: %v", rec)
			}
		default:
			t.Errorf("outcome %v", rec["outcome"])
		}
	}
	// Paging: newest first, total counts all.
	all := e.do("GET", "/api/v1/audit?limit=1000", e.admin, nil).want(200)
	page := e.do("GET", "/api/v1/audit?limit=2&offset=1", e.admin, nil).want(200)
	if page.total() != all.total() || len(page.items()) != 2 || page.items()[0]["seq"] != all.items()[1]["seq"] {
		t.Errorf("audit paging: %s", page.body)
	}
	e.do("GET", "/api/v1/audit?limit=-1", e.admin, nil).errBody(400)
}

// TestKeyChangesAudited: creating, rotating and revoking a key each leave a
// record naming the key, the admin and the key's owner.
func TestKeyChangesAudited(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	uid, _ := e.createUser("kay", "user", nil)
	kid, _ := e.createKey(uid, nil)
	e.do("POST", "/api/v1/api-keys/"+kid+"/rotate", e.admin, map[string]any{}).want(200)
	e.do("DELETE", "/api/v1/api-keys/"+kid, e.admin, nil).want(204)
	for _, event := range []string{"apikey.create", "rotate", "apikey.revoke"} {
		rec := e.findAudit(map[string]string{"event": event, "key_id": kid})
		if rec == nil || rec["outcome"] != "success" || rec["actor"] != account+":user:admin" || rec["subject"] != account+":user:kay" {
			t.Errorf("%s record: %v", event, rec)
		}
	}
	// A request id that could break a header line is replaced, not echoed.
	if got := e.do("GET", "/healthz", "", nil, "X-Request-Id", `a"b`).header.Get("X-Request-Id"); got == `a"b` || got == "" {
		t.Errorf("request id with a quote echoed as %q", got)
	}
}
