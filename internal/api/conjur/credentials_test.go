package conjur_test

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/server"
)

const weakBody = `{"error":{"code":"validation_failed","message":"password CONJ00046E The password you have chosen does not meet the complexity requirements. Choose a password that includes: 12-128 characters, 2 uppercase letters, 2 lowercase letters, 1 digit and 1 special character","details":[{"code":"validation_failed","target":"password","message":"CONJ00046E The password you have chosen does not meet the complexity requirements. Choose a password that includes: 12-128 characters, 2 uppercase letters, 2 lowercase letters, 1 digit and 1 special character"}]}}`

const strengthBody = `{"error":{"code":"unauthorized","message":"Credential strength is insufficient"}}`

func TestAuthenticate(t *testing.T) {
	e := newEnv(t)
	alice := e.user("alice", nil)
	app := e.host("myapp", nil)
	nested := e.host("apps/web", nil)
	cases := []struct {
		name, path, key string
		headers         []string
		status          int
		sub             string
	}{
		{"user", "/authn/myorg/alice/authenticate", alice.key, nil, 200, "alice"},
		{"user/ prefix", "/authn/myorg/user%2Falice/authenticate", alice.key, nil, 200, "alice"},
		{"host percent-encoded", "/authn/myorg/host%2Fmyapp/authenticate", app.key, nil, 200, "host/myapp"},
		{"nested host", "/authn/myorg/host%2Fapps%2Fweb/authenticate", nested.key, nil, 200, "host/apps/web"},
		{"trailing newline in body", "/authn/myorg/alice/authenticate", alice.key + "\n", nil, 200, "alice"},
		{"wrong key", "/authn/myorg/alice/authenticate", app.key, nil, 401, ""},
		{"garbage key", "/authn/myorg/alice/authenticate", "not-a-key", nil, 401, ""},
		{"empty body", "/authn/myorg/alice/authenticate", "", nil, 401, ""},
		{"unknown login", "/authn/myorg/bob/authenticate", alice.key, nil, 401, ""},
		{"unknown account", "/authn/nope/alice/authenticate", alice.key, nil, 401, ""},
		{"account with encoded slash", "/authn/my%2Forg/alice/authenticate", alice.key, nil, 401, ""},
		{"host key as user login", "/authn/myorg/user%2Fmyapp/authenticate", app.key, nil, 401, ""},
		{"bare login names a user, never a host", "/authn/myorg/myapp/authenticate", app.key, nil, 401, ""},
		{"unescaped host path is another route", "/authn/myorg/host/myapp/authenticate", app.key, nil, 404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", tc.path, strings.NewReader(tc.key), tc.headers...)
			if tc.status != 200 {
				want := empty
				if tc.status == 404 {
					want = nil
				}
				r.expect(t, tc.status, want)
				return
			}
			r.expect(t, 200, nil)
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			claims := payload(t, r.body)
			if claims["sub"] != tc.sub {
				t.Fatalf("sub %v, want %s", claims["sub"], tc.sub)
			}
			iat, exp := claims["iat"].(float64), claims["exp"].(float64)
			if exp-iat != 480 {
				t.Fatalf("lifetime %v s, want 480", exp-iat)
			}
		})
	}
}

func TestAuthenticateBase64(t *testing.T) {
	e := newEnv(t)
	for _, ae := range []string{"base64", "gzip, Base64", "deflate, base64;q=1"} {
		r := e.authn("admin", e.adminKey, "Accept-Encoding", ae)
		r.expect(t, 200, nil)
		if r.header.Get("Content-Encoding") != "base64" || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
			t.Fatalf("%q: headers %v", ae, r.header)
		}
		raw, err := base64.StdEncoding.DecodeString(r.body)
		if err != nil {
			t.Fatalf("%q: body is not base64: %v", ae, err)
		}
		if payload(t, string(raw))["sub"] != "admin" {
			t.Fatal("wrong subject")
		}
		// The pre-encoded token is what the Authorization header carries.
		e.do("GET", "/whoami", nil, "Authorization", `Token token="`+r.body+`"`).expect(t, 200, nil)
	}
}

func TestAuthenticateBadInput(t *testing.T) {
	e := newEnv(t)
	// A 10 MB body is over the server's limit.
	big := strings.Repeat("k", 10<<20)
	e.authn("admin", big).expect(t, http.StatusRequestEntityTooLarge, nil)
	// Malformed percent-encoding never reaches a handler: the HTTP server refuses it.
	u, _ := url.Parse(e.url)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /authn/myorg/host%%zzapp/authenticate HTTP/1.1\r\nHost: %s\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx", u.Host)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Fatalf("malformed escape: %d", res.StatusCode)
	}
	// Nothing changed: the admin key still works.
	e.token("admin", e.adminKey)
}

func TestAuthnDisabledByEnvironment(t *testing.T) {
	e := newEnv(t, func(c *server.Config) { c.EnvAuthenticators = []string{"authn-jwt/ci"} })
	e.authn("admin", e.adminKey).expect(t, 401, empty)
	e.do("GET", "/authn/myorg/login", nil, "Authorization", basic("admin", e.adminKey)).expect(t, 401, empty)
	e.do("PUT", "/authn/myorg/api_key", nil, "Authorization", basic("admin", e.adminKey)).expect(t, 401, empty)
	// The native API ignores the Conjur list.
	r := e.do("POST", "/api/v1/token", strings.NewReader(`{"api_key":"`+e.adminKey+`"}`))
	r.expect(t, 200, nil)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.Unmarshal([]byte(r.body), &tok)
	// Each refusal is audited with its reason, by the core.
	r = e.do("GET", "/api/v1/audit?limit=100", nil, "Authorization", "Bearer "+tok.AccessToken)
	r.expect(t, 200, nil)
	var audit struct {
		Items []map[string]any `json:"items"`
	}
	json.Unmarshal([]byte(r.body), &audit)
	var disabled int
	for _, rec := range audit.Items {
		if rec["reason"] == "authenticator_disabled" && rec["authenticator"] == "authn" {
			disabled++
		}
	}
	if disabled != 3 {
		t.Fatalf("%d authenticator_disabled records, want 3", disabled)
	}
}

func TestLogin(t *testing.T) {
	e := newEnv(t)
	alice := e.user("alice", map[string]any{"password": "Str0ng-Passw0rd!"})
	app := e.host("myapp", nil)
	cases := []struct {
		name, account, auth string
		want                string // "" for 401
	}{
		{"password", account, basic("alice", "Str0ng-Passw0rd!"), alice.key},
		{"API key as password", account, basic("alice", alice.key), alice.key},
		{"host with its key", account, basic("host/myapp", app.key), app.key},
		{"wrong password", account, basic("alice", "Wr0ng-Passw0rd!"), ""},
		{"unknown user", account, basic("bob", "Str0ng-Passw0rd!"), ""},
		{"unknown account", "nope", basic("alice", "Str0ng-Passw0rd!"), ""},
		{"no credentials", account, "", ""},
		{"token instead of Basic", account, e.admin, ""},
		{"malformed Basic", account, "Basic !!!", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h []string
			if tc.auth != "" {
				h = []string{"Authorization", tc.auth}
			}
			r := e.do("GET", "/authn/"+tc.account+"/login", nil, h...)
			if tc.want == "" {
				r.expect(t, 401, empty)
				return
			}
			r.expect(t, 200, &tc.want)
			if !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
				t.Fatalf("Content-Type %q", r.header.Get("Content-Type"))
			}
		})
	}
}

func TestChangePassword(t *testing.T) {
	e := newEnv(t)
	alice := e.user("alice", map[string]any{"password": "Str0ng-Passw0rd!"})
	bob := e.user("bob", nil)
	app := e.host("myapp", nil)
	aliceTok := e.tokenHeader(e.token("alice", alice.key))
	put := func(auth, query, body string) resp {
		return e.do("PUT", "/authn/myorg/password"+query, strings.NewReader(body), "Authorization", auth)
	}
	put(basic("alice", "Str0ng-Passw0rd!"), "", "weak").expect(t, 422, ptr(weakBody))
	put(basic("alice", "Str0ng-Passw0rd!"), "", "").expect(t, 422, ptr(weakBody))
	put(aliceTok, "", "N3w-Str0ng-Passw0rd!").expect(t, 401, ptr(strengthBody))
	put(aliceTok, "?role=user:bob", "N3w-Str0ng-Passw0rd!").expect(t, 401, empty)
	put(basic("alice", "Str0ng-Passw0rd!"), "?role=user:bob", "N3w-Str0ng-Passw0rd!").expect(t, 401, empty)
	put(basic("host/myapp", app.key), "", "N3w-Str0ng-Passw0rd!").expect(t, 403, empty)
	put(basic("alice", "wrong"), "", "N3w-Str0ng-Passw0rd!").expect(t, 401, empty)
	put("", "", "N3w-Str0ng-Passw0rd!").expect(t, 401, empty)
	// With the API key as the password, the change works; as in Conjur, the
	// API key stays what it was (issue 19, point 1).
	put(basic("alice", alice.key), "", "N3w-Str0ng-Passw0rd!").expect(t, 204, empty)
	e.do("GET", "/authn/myorg/login", nil, "Authorization", basic("alice", "Str0ng-Passw0rd!")).expect(t, 401, empty)
	r := e.do("GET", "/authn/myorg/login", nil, "Authorization", basic("alice", "N3w-Str0ng-Passw0rd!"))
	r.expect(t, 200, ptr(alice.key))
	e.token("alice", alice.key)
	// With the password, too: the key the client stored still works after.
	put(basic("alice", "N3w-Str0ng-Passw0rd!"), "", "Th1rd-Str0ng-Passw0rd!").expect(t, 204, empty)
	e.token("alice", alice.key)
	e.do("PUT", "/authn/myorg/password", strings.NewReader("F0urth-Str0ng-Passw0rd!"), "Authorization", basic("alice", alice.key)).expect(t, 204, empty)
	_ = bob
	// The refused change, the change and the key read back are audited;
	// so is a login through an authenticator nobody defined.
	e.do("POST", "/authn-jwt/nosuch/myorg/authenticate", strings.NewReader("jwt=x")).expect(t, 401, empty)
	var got []string
	for _, it := range e.native("GET", "/api/v1/audit?limit=200", nil, 200)["items"].([]any) {
		rec := it.(map[string]any)
		got = append(got, fmt.Sprintf("%v/%v/%v/%v", rec["event"], rec["outcome"], rec["subject"], rec["authenticator"]))
	}
	for _, want := range []string{"password/failure/myorg:user:alice/authn", "password/success/myorg:user:alice/authn",
		"apikey.read/success/myorg:user:alice/authn", "authn/failure/myorg:user:unknown/authn-jwt/nosuch"} {
		if !slices.Contains(got, want) {
			t.Errorf("no audit record %s in %v", want, got)
		}
	}
}

func TestRotateAPIKey(t *testing.T) {
	e := newEnv(t)
	alice := e.user("alice", nil)
	bob := e.user("bob", nil)
	viewer := e.user("viewer", nil)
	e.grant(viewer, "viewers", core.PermUsersView)
	rolemgr := e.user("rolemgr", nil)
	e.grant(rolemgr, "rolemgrs", core.PermRolesManage)
	app := e.host("myapp", nil)
	aliceTok := e.tokenHeader(e.token("alice", alice.key))
	viewerTok := e.tokenHeader(e.token("viewer", viewer.key))
	rolemgrTok := e.tokenHeader(e.token("rolemgr", rolemgr.key))
	put := func(auth, query string) resp {
		return e.do("PUT", "/authn/myorg/api_key"+query, nil, "Authorization", auth)
	}
	notFound := func(resource, requester string) *string {
		return ptr(`{"error":{"code":"not_found","message":"CONJ00123E Resource '` + resource + `' requested by role '` + requester + `' not found"}}`)
	}

	// Refusals.
	put(aliceTok, "").expect(t, 401, ptr(strengthBody))
	put(aliceTok, "?role=myorg:user:alice").expect(t, 401, ptr(strengthBody))
	put(aliceTok, "?role=myorg:user:bob").expect(t, 404, notFound("myorg:user:bob", "myorg:user:alice"))
	put(aliceTok, "?role=myorg:user:nobody").expect(t, 404, notFound("myorg:user:nobody", "myorg:user:alice"))
	// The role is named the same way whether it exists (finding 14).
	put(aliceTok, "?role=user:nobody").expect(t, 404, notFound("myorg:user:nobody", "myorg:user:alice"))
	put(e.admin, "?role=myorg:host:nobody").expect(t, 404, notFound("myorg:host:nobody", "myorg:user:admin"))
	put(viewerTok, "?role=myorg:user:bob").expect(t, 403, empty)
	put(e.admin, "?role=myorg:group:admin").expect(t, 403, empty)
	put(rolemgrTok, "?role=myorg:group:admin").expect(t, 405,
		ptr(`{"error":{"code":"method_not_allowed","message":"CONJ00126E Role 'myorg:group:admin' is not applicable for key rotation"}}`))
	put(basic("alice", alice.key), "?role=myorg:user:bob").expect(t, 401, empty)
	// Basic credentials act only on themselves: a missing role is refused
	// like an existing one, so the answer does not tell which exist.
	put(basic("alice", alice.key), "?role=myorg:user:nobody").expect(t, 401, empty)
	put(basic("alice", "wrong"), "").expect(t, 401, empty)
	put("", "").expect(t, 401, empty)
	e.token("bob", bob.key) // nothing was rotated

	// Basic rotates its own key; the old one stops working at once.
	r := put(basic("alice", alice.key), "")
	r.expect(t, 200, nil)
	if !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") || r.body == alice.key {
		t.Fatalf("rotation answer %q (%s)", r.body, r.header.Get("Content-Type"))
	}
	e.authn("alice", alice.key).expect(t, 401, empty)
	e.token("alice", r.body)

	// A token with update on the role rotates another's key: users and hosts.
	for _, tc := range []struct{ role, login, old string }{
		{"myorg:user:bob", "bob", bob.key}, {"myorg:host:myapp", "host/myapp", app.key}, {"host:myapp", "host/myapp", ""},
	} {
		r := put(e.admin, "?role="+tc.role)
		r.expect(t, 200, nil)
		if tc.old != "" {
			e.authn(tc.login, tc.old).expect(t, 401, empty)
		}
		e.token(tc.login, r.body)
	}
}

func TestAPIKeyLastRotated(t *testing.T) {
	e := newEnv(t)
	alice := e.user("alice", nil)
	before := time.Now().UTC().Add(-time.Second)
	r := e.do("GET", "/authn/myorg/api_key", nil, "Authorization", basic("alice", alice.key))
	r.expect(t, 200, nil)
	if !strings.Contains(r.body, `"role":"myorg:user:alice"`) {
		t.Fatalf("body %s", r.body)
	}
	e.do("GET", "/authn/myorg/api_key?role=myorg:user:alice", nil, "Authorization", e.admin).expect(t, 200, nil)
	aliceTok := e.tokenHeader(e.token("alice", alice.key))
	e.do("GET", "/authn/myorg/api_key", nil, "Authorization", aliceTok).expect(t, 401, ptr(strengthBody))
	e.do("GET", "/authn/myorg/api_key?role=myorg:user:admin", nil, "Authorization", aliceTok).expect(t, 404, nil)
	e.do("PUT", "/authn/myorg/api_key?role=myorg:user:alice", nil, "Authorization", e.admin).expect(t, 200, nil)
	r = e.do("GET", "/authn/myorg/api_key?role=myorg:user:alice", nil, "Authorization", e.admin)
	r.expect(t, 200, nil)
	var ts string
	if _, err := fmt.Sscanf(strings.SplitAfter(r.body, `"timestamp":"`)[1], "%20s", &ts); err != nil {
		t.Fatal(err)
	}
	at, err := time.Parse("2006-01-02T15:04:05Z", ts)
	if err != nil || at.Before(before.Truncate(time.Second)) {
		t.Fatalf("timestamp %q (%v) in %s", ts, err, r.body)
	}
}

func TestRestrictedTo(t *testing.T) {
	e := newEnv(t)
	app := e.host("ci/runner", map[string]string{})
	e.native("PATCH", "/api/v1/users/"+app.id, map[string]any{"restricted_to": []string{"10.1.0.0/16"}}, 200)
	e.authn("host/ci/runner", app.key, "X-Forwarded-For", "192.0.2.7").expect(t, 401, empty)
	e.authn("host/ci/runner", app.key).expect(t, 401, empty) // loopback is outside too
	tok := e.authn("host/ci/runner", app.key, "X-Forwarded-For", "10.1.2.3")
	tok.expect(t, 200, nil)
	if payload(t, tok.body)["sub"] != "host/ci/runner" {
		t.Fatal("wrong subject")
	}
}
