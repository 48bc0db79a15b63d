package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/keyward/keyward/internal/console"
	"github.com/keyward/keyward/internal/server"
)

const consolePassword = "COnsole-passw0rd!"

// consoleEnv is a server with its initial admin's key, over HTTP or TLS.
type consoleEnv struct {
	t   *testing.T
	srv *httptest.Server
	key string
}

func newConsoleEnv(t *testing.T, tlsOn bool) *consoleEnv {
	t.Helper()
	s, err := server.Open(context.Background(), server.Config{DataDir: t.TempDir(), Account: "acme"}, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	key, err := s.Init(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	e := &consoleEnv{t: t, key: key}
	if tlsOn {
		e.srv = httptest.NewTLSServer(s.Handler())
	} else {
		e.srv = httptest.NewServer(s.Handler())
	}
	t.Cleanup(e.srv.Close)
	return e
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("not JSON: %s", a.body)
	}
	return m
}

// do sends a request; hdr are header pairs; cookie is the console cookie value.
func (e *consoleEnv) do(method, path, cookie string, body any, hdr ...string) answer {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: console.CookieName, Value: cookie})
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return answer{status: res.StatusCode, header: res.Header, body: b}
}

func (e *consoleEnv) admin(method, path string, body any, want int) map[string]any {
	e.t.Helper()
	a := e.do(method, path, "", body, "Authorization", "Bearer "+e.key)
	if a.status != want {
		e.t.Fatalf("%s %s: %d, want %d: %s", method, path, a.status, want, a.body)
	}
	if len(a.body) == 0 {
		return nil
	}
	return a.json(e.t)
}

// user creates a user with the console password and, with admin, the
// built-in admin role.
func (e *consoleEnv) user(login string, admin bool) string {
	e.t.Helper()
	id := e.admin("POST", "/api/v1/users", map[string]any{"login": login, "kind": "user", "password": consolePassword}, 201)["id"].(string)
	if admin {
		var roleID string
		for _, r := range e.admin("GET", "/api/v1/roles", nil, 200)["items"].([]any) {
			if m := r.(map[string]any); m["name"] == "admin" {
				roleID = m["id"].(string)
			}
		}
		e.admin("PUT", "/api/v1/users/"+id+"/roles", map[string]any{"roles": []map[string]any{{"id": roleID}}}, 200)
	}
	return id
}

var sameOrigin = []string{"Sec-Fetch-Site", "same-origin"}

// signIn signs in with a password and answers the cookie and the step.
func (e *consoleEnv) signIn(login, password string) (*http.Cookie, answer) {
	e.t.Helper()
	a := e.do("POST", "/console/api/sign-in", "", map[string]string{"login": login, "password": password}, sameOrigin...)
	for _, c := range (&http.Response{Header: a.header}).Cookies() {
		if c.Name == console.CookieName {
			return c, a
		}
	}
	return nil, a
}

// session signs in (no TOTP) and answers the cookie value and CSRF token.
func (e *consoleEnv) session(login string) (string, string) {
	e.t.Helper()
	c, a := e.signIn(login, consolePassword)
	if c == nil || a.status != 200 {
		e.t.Fatalf("sign-in of %s: %d %s", login, a.status, a.body)
	}
	s := e.do("GET", "/console/api/session", c.Value, nil).json(e.t)
	return c.Value, s["csrf_token"].(string)
}

func TestConsoleHeadersAndAssets(t *testing.T) {
	t.Parallel()
	e := newConsoleEnv(t, false)
	check := func(a answer, cache string) {
		t.Helper()
		want := map[string]string{
			"Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
			"X-Content-Type-Options":  "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": cache,
		}
		for k, v := range want {
			if got := a.header.Get(k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
	}
	home := e.do("GET", "/console/", "", nil)
	if home.status != 200 || !strings.HasPrefix(home.header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /console/: %d %s", home.status, home.header.Get("Content-Type"))
	}
	check(home, "no-store")
	if bytes.Contains(home.body, []byte("<style")) || regexp.MustCompile(`<script[^>]*>\s*[^<\s]`).Match(home.body) || bytes.Contains(home.body, []byte(" style=")) {
		t.Fatal("the shell has inline script or style")
	}
	for _, p := range []string{"/console/configuration/general/api-registrations", "/console/audit?event=x", "/console/users", "/console/my-account"} {
		a := e.do("GET", p, "", nil)
		if a.status != 200 || !bytes.Equal(a.body, home.body) {
			t.Errorf("deep link %s: %d", p, a.status)
		}
		check(a, "no-store")
	}
	check(e.do("GET", "/console/api/session", "", nil), "no-store")
	check(e.do("GET", "/console/nowhere", "", nil), "no-store")
	refs := regexp.MustCompile(`/console/assets/([a-z]+)\.([0-9a-f]{16})\.(js|css|png)`).FindAllStringSubmatch(string(home.body), -1)
	if len(refs) != 3 {
		t.Fatalf("hashed assets in the shell: %v", refs)
	}
	for _, r := range refs {
		a := e.do("GET", r[0], "", nil)
		if a.status != 200 {
			t.Fatalf("GET %s: %d", r[0], a.status)
		}
		check(a, "public, max-age=31536000, immutable")
	}
	if a := e.do("GET", "/console/assets/app.0000000000000000.js", "", nil); a.status != 404 {
		t.Errorf("unknown asset: %d", a.status)
	}
	// No embedded file refers to another host.
	ext := regexp.MustCompile(`(?i)https?://`)
	n := 0
	if err := fs.WalkDir(console.Files(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		b, err := fs.ReadFile(console.Files(), p)
		if err != nil {
			return err
		}
		for _, store := range []string{"localStorage", "sessionStorage", "document.cookie"} {
			if bytes.Contains(b, []byte(store)) {
				t.Errorf("%s uses %s", p, store)
			}
		}
		if loc := ext.FindIndex(b); loc != nil {
			t.Errorf("%s refers to another host: %q", p, b[loc[0]:min(len(b), loc[1]+40)])
		}
		return nil
	}); err != nil || n < 4 {
		t.Fatalf("walk embedded files: %d files, %v", n, err)
	}
}

func TestConsoleSignInAndCookie(t *testing.T) {
	t.Parallel()
	for _, tlsOn := range []bool{false, true} {
		e := newConsoleEnv(t, tlsOn)
		// The initial admin has no password: no sign-in.
		if c, a := e.signIn("admin", consolePassword); c != nil || a.status != 401 || a.json(t)["error"].(map[string]any)["message"] != "Sign-in failed" {
			t.Fatalf("admin without a password: %d %s", a.status, a.body)
		}
		e.user("ops", true)
		c1, a := e.signIn("ops", consolePassword)
		if c1 == nil || a.status != 200 || a.json(t)["step"] != "done" {
			t.Fatalf("sign-in: %d %s", a.status, a.body)
		}
		if !c1.HttpOnly || c1.SameSite != http.SameSiteStrictMode || c1.Path != "/console/" || c1.Secure != tlsOn || len(c1.Value) < 22 {
			t.Fatalf("cookie (tls %v): %+v", tlsOn, c1)
		}
		c2, _ := e.signIn("ops", consolePassword)
		if c2 == nil || c2.Value == c1.Value {
			t.Fatal("a new sign-in did not get a new cookie value")
		}
		s := e.do("GET", "/console/api/session", c1.Value, nil).json(t)
		if s["signed_in"] != true || s["login"] != "ops" || s["level"].(float64) != 2 || s["role_id"] != "acme:user:ops" {
			t.Fatalf("session: %v", s)
		}
		for _, bad := range [][2]string{{"ops", "Wrong-passw0rd!!"}, {"nobody", consolePassword}} {
			c, a := e.signIn(bad[0], bad[1])
			if c != nil || a.status != 401 || a.json(t)["error"].(map[string]any)["message"] != "Sign-in failed" {
				t.Fatalf("sign-in %v: %d %s", bad, a.status, a.body)
			}
		}
		// The core audited the sign-ins with authenticator console.
		recs := e.admin("GET", "/api/v1/audit?"+url.Values{"event": {"login"}, "actor": {"acme:user:ops"}}.Encode(), nil, 200)["items"].([]any)
		var ok, failed int
		for _, r := range recs {
			m := r.(map[string]any)
			if m["authenticator"] != "console" {
				t.Fatalf("sign-in record without authenticator console: %v", m)
			}
			if m["outcome"] == "success" {
				ok++
			} else if m["reason"] == "bad_password" {
				failed++
			}
		}
		if ok != 2 || failed != 1 {
			t.Fatalf("sign-in records: %d successes, %d bad passwords", ok, failed)
		}
		// Sign Out ends the session on the server.
		csrf := s["csrf_token"].(string)
		if a := e.do("POST", "/console/api/sign-out", c1.Value, nil, "Sec-Fetch-Site", "same-origin", "X-CSRF-Token", csrf); a.status != 204 {
			t.Fatalf("sign-out: %d %s", a.status, a.body)
		}
		if s := e.do("GET", "/console/api/session", c1.Value, nil).json(t); s["signed_in"] != false {
			t.Fatal("the session lived on after Sign Out")
		}
		if a := e.do("GET", "/console/api/v1/users", c1.Value, nil); a.status != 401 {
			t.Fatalf("forward after sign-out: %d", a.status)
		}
		if a := e.do("GET", "/console/api/v1/users", c2.Value, nil); a.status != 200 {
			t.Fatalf("the other session: %d %s", a.status, a.body)
		}
	}
}

func TestConsoleSignInWithTOTPAndLockout(t *testing.T) {
	t.Parallel()
	e := newConsoleEnv(t, false)
	id := e.user("ops", true)
	tok := e.do("POST", "/api/v1/token", "", map[string]string{"login": "ops", "password": consolePassword}).json(t)["access_token"].(string)
	enrol := e.do("POST", "/api/v1/users/"+id+"/mfa", "", nil, "Authorization", "Bearer "+tok).json(t)
	seed := enrol["seed"].(string)
	code := func(at time.Time) string {
		c, err := totp.GenerateCodeCustom(seed, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if a := e.do("POST", "/api/v1/users/"+id+"/mfa/verify", "", map[string]string{"code": code(time.Now().Add(-30 * time.Second))}, "Authorization", "Bearer "+tok); a.status != 200 {
		t.Fatalf("verify: %d %s", a.status, a.body)
	}
	pending, a := e.signIn("ops", consolePassword)
	if pending == nil || a.json(t)["step"] != "code" {
		t.Fatalf("first step: %d %s", a.status, a.body)
	}
	if s := e.do("GET", "/console/api/session", pending.Value, nil).json(t); s["signed_in"] != false {
		t.Fatal("the code step's cookie is a session")
	}
	if a := e.do("GET", "/console/api/v1/users", pending.Value, nil); a.status != 401 {
		t.Fatalf("the code step's cookie reached the API: %d", a.status)
	}
	a = e.do("POST", "/console/api/sign-in/code", pending.Value, map[string]string{"code": code(time.Now())}, sameOrigin...)
	var done *http.Cookie
	for _, c := range (&http.Response{Header: a.header}).Cookies() {
		if c.Name == console.CookieName {
			done = c
		}
	}
	if a.status != 200 || done == nil || done.Value == pending.Value {
		t.Fatalf("code step: %d %s, cookie %+v", a.status, a.body, done)
	}
	if s := e.do("GET", "/console/api/session", done.Value, nil).json(t); s["level"].(float64) != 3 {
		t.Fatalf("TOTP session level: %v", s)
	}
	// Five wrong codes lock MFA sign-ins: the console says only Sign-in
	// failed, and the native token route answers 429.
	for i := 0; i < 5; i++ {
		p, _ := e.signIn("ops", consolePassword)
		a := e.do("POST", "/console/api/sign-in/code", p.Value, map[string]string{"code": "000000"}, sameOrigin...)
		if a.status != 401 || a.json(t)["error"].(map[string]any)["message"] != "Sign-in failed" {
			t.Fatalf("wrong code %d: %d %s", i, a.status, a.body)
		}
	}
	p, _ := e.signIn("ops", consolePassword)
	a = e.do("POST", "/console/api/sign-in/code", p.Value, map[string]string{"code": code(time.Now().Add(30 * time.Second))}, sameOrigin...)
	if a.status != 401 || !bytes.Contains(a.body, []byte(`"Sign-in failed"`)) {
		t.Fatalf("right code while locked: %d %s", a.status, a.body)
	}
	if a := e.do("POST", "/api/v1/token", "", map[string]string{"login": "ops", "password": consolePassword, "totp": code(time.Now().Add(30 * time.Second))}); a.status != 429 {
		t.Fatalf("token while locked: %d %s", a.status, a.body)
	}
}

func TestConsoleCSRF(t *testing.T) {
	t.Parallel()
	e := newConsoleEnv(t, false)
	e.user("ops", true)
	cookie, csrf := e.session("ops")
	body := map[string]any{"name": "csrf-test"}
	// Same-origin, cookie, no token: 403.
	if a := e.do("POST", "/console/api/v1/api-registrations", cookie, body, sameOrigin...); a.status != 403 {
		t.Fatalf("same-origin POST without the token: %d %s", a.status, a.body)
	}
	// A wrong token: 403.
	if a := e.do("POST", "/console/api/v1/api-registrations", cookie, body, "Sec-Fetch-Site", "same-origin", "X-CSRF-Token", csrf+"x"); a.status != 403 {
		t.Fatalf("wrong token: %d", a.status)
	}
	// Cross-site with cookie and token: 403.
	if a := e.do("POST", "/console/api/v1/api-registrations", cookie, body, "Sec-Fetch-Site", "cross-site", "X-CSRF-Token", csrf); a.status != 403 {
		t.Fatalf("cross-site POST: %d %s", a.status, a.body)
	}
	if a := e.do("POST", "/console/api/v1/api-registrations", cookie, body, "Origin", "https://evil.example", "X-CSRF-Token", csrf); a.status != 403 {
		t.Fatalf("foreign Origin POST: %d %s", a.status, a.body)
	}
	if a := e.do("POST", "/console/api/sign-out", cookie, nil, sameOrigin...); a.status != 403 {
		t.Fatalf("sign-out without the token: %d", a.status)
	}
	if n := e.admin("GET", "/api/v1/api-registrations", nil, 200)["total"].(float64); n != 0 {
		t.Fatalf("a refused request changed something: %v registrations", n)
	}
	// The form field works as the header does.
	form := e.do("POST", "/console/api/v1/api-registrations", cookie, nil, "Sec-Fetch-Site", "same-origin", "Content-Type", "application/x-www-form-urlencoded")
	if form.status != 403 {
		t.Fatalf("form without csrf_token: %d", form.status)
	}
	a := e.do("POST", "/console/api/v1/api-registrations", cookie, body, "Sec-Fetch-Site", "same-origin", "X-CSRF-Token", csrf)
	if a.status != 201 {
		t.Fatalf("POST with the token: %d %s", a.status, a.body)
	}
	// Audited as the native route, the session's principal as actor.
	recs := e.admin("GET", "/api/v1/audit?event=api_registration.create", nil, 200)["items"].([]any)
	if len(recs) != 1 || recs[0].(map[string]any)["actor"] != "acme:user:ops" {
		t.Fatalf("create record: %v", recs)
	}
	// A refused value comes back with its field.
	bad := e.do("PATCH", "/console/api/v1/api-registrations/"+a.json(t)["id"].(string), cookie, map[string]any{"rules": []map[string]string{{"type": "ip", "value": "not-an-address"}}},
		"Sec-Fetch-Site", "same-origin", "X-CSRF-Token", csrf)
	if bad.status != 400 || bad.json(t)["error"].(map[string]any)["field"] != "rules" {
		t.Fatalf("bad rule: %d %s", bad.status, bad.body)
	}
}

func TestConsoleCookieOnlyUnderConsole(t *testing.T) {
	t.Parallel()
	e := newConsoleEnv(t, false)
	e.user("ops", true)
	cookie, _ := e.session("ops")
	for _, p := range [][2]string{{"GET", "/api/v1/users"}, {"GET", "/api/v1/audit"}, {"GET", "/whoami"}, {"POST", "/BeyondTrust/api/public/v3/Auth/SignAppin"}} {
		if a := e.do(p[0], p[1], cookie, nil); a.status != 401 {
			t.Errorf("%s %s with the console cookie: %d, want 401", p[0], p[1], a.status)
		}
	}
	if a := e.do("GET", "/console/api/v1/users", cookie, nil); a.status != 200 {
		t.Fatalf("under /console/: %d", a.status)
	}
	// A principal the core no longer admits loses the console at once.
	var opsID string
	for _, u := range e.admin("GET", "/api/v1/users?search=ops", nil, 200)["items"].([]any) {
		if m := u.(map[string]any); m["login"] == "ops" {
			opsID = m["id"].(string)
		}
	}
	e.admin("PATCH", "/api/v1/users/"+opsID, map[string]any{"status": "disabled"}, 200)
	if a := e.do("GET", "/console/api/v1/users", cookie, nil); a.status != 401 {
		t.Fatalf("forward for a disabled principal: %d", a.status)
	}
	if a := e.do("GET", "/console/users", cookie, nil); a.status != 200 || !strings.Contains(string(a.body), "app.") {
		t.Fatalf("page for a disabled principal: %d %s", a.status, a.body)
	}
	if a := e.do("GET", "/console/api/session", cookie, nil); a.status != 200 || a.json(t)["signed_in"] != false {
		t.Fatalf("session of a disabled principal: %d %s", a.status, a.body)
	}
}

func TestConsoleMissingPermission(t *testing.T) {
	t.Parallel()
	e := newConsoleEnv(t, false)
	e.user("viewer", false)
	cookie, _ := e.session("viewer")
	s := e.do("GET", "/console/api/session", cookie, nil).json(t)
	if len(s["permissions"].([]any)) != 0 {
		t.Fatalf("viewer's permissions: %v", s["permissions"])
	}
	for path, perm := range map[string]string{"/console/users": "users-view", "/console/roles": "roles-view", "/console/api-keys": "api-keys-manage",
		"/console/authenticators": "authenticators-manage", "/console/audit": "audit-view", "/console/configuration": "api-registrations-manage",
		"/console/configuration/general/api-registrations": "api-registrations-manage"} {
		a := e.do("GET", path, cookie, nil)
		if a.status != 403 || !strings.HasPrefix(a.header.Get("Content-Type"), "text/html") || !strings.Contains(string(a.body), "Missing permission: "+perm+"<") {
			t.Errorf("%s: %d %s %s", path, a.status, a.header.Get("Content-Type"), a.body)
		}
	}
	if a := e.do("GET", "/console/my-account", cookie, nil); a.status != 200 {
		t.Errorf("My Account: %d", a.status)
	}
	a := e.do("GET", "/console/api/v1/users", cookie, nil)
	if a.status != 403 || !strings.Contains(string(a.body), "users-view") {
		t.Fatalf("native users list through the console: %d %s", a.status, a.body)
	}
	recs := e.admin("GET", "/api/v1/audit?outcome=failure&actor=acme:user:viewer", nil, 200)["items"].([]any)
	if len(recs) < 8 {
		t.Fatalf("refusals audited: %d", len(recs))
	}
}

// TestConsoleCodeStepEndsAfterWrongCodes: a pending code step is ended after
// as many wrong codes as lock MFA (its cookie cleared, the end audited), and
// its cookie then reaches no code check at all.
func TestConsoleCodeStepEndsAfterWrongCodes(t *testing.T) {
	t.Parallel()
	e := newConsoleEnv(t, false)
	id := e.user("ops", true)
	tok := e.do("POST", "/api/v1/token", "", map[string]string{"login": "ops", "password": consolePassword}).json(t)["access_token"].(string)
	seed := e.do("POST", "/api/v1/users/"+id+"/mfa", "", nil, "Authorization", "Bearer "+tok).json(t)["seed"].(string)
	code := func(at time.Time) string {
		c, err := totp.GenerateCodeCustom(seed, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if a := e.do("POST", "/api/v1/users/"+id+"/mfa/verify", "", map[string]string{"code": code(time.Now().Add(-30 * time.Second))}, "Authorization", "Bearer "+tok); a.status != 200 {
		t.Fatalf("verify: %d %s", a.status, a.body)
	}
	// A code that is none of the previous, current or next step's.
	wrong := "000000"
	for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
		if code(time.Now().Add(d)) == wrong {
			wrong = "999999"
		}
	}
	count := func(q string) float64 {
		return e.admin("GET", "/api/v1/audit?"+q, nil, 200)["total"].(float64)
	}
	pending, _ := e.signIn("ops", consolePassword)
	for i := 1; i <= 5; i++ {
		a := e.do("POST", "/console/api/sign-in/code", pending.Value, map[string]string{"code": wrong}, sameOrigin...)
		if a.status != 401 || a.json(t)["error"].(map[string]any)["message"] != "Sign-in failed" {
			t.Fatalf("wrong code %d: %d %s", i, a.status, a.body)
		}
		cleared := false
		for _, c := range (&http.Response{Header: a.header}).Cookies() {
			cleared = cleared || (c.Name == console.CookieName && c.MaxAge < 0)
		}
		if cleared != (i == 5) {
			t.Fatalf("wrong code %d: cookie cleared = %v", i, cleared)
		}
	}
	if n := count("event=mfa.code_step_ended&outcome=failure&actor=acme:user:ops"); n != 1 {
		t.Fatalf("code step end audited %v times, want 1", n)
	}
	logins := count("event=login&actor=acme:user:ops")
	if logins < 6 {
		t.Fatalf("login records of ops: %v, want the first step and five wrong codes at least", logins)
	}
	// The ended step's cookie reaches no code check: refused by the console
	// itself, so the core records no further login attempt.
	if a := e.do("POST", "/console/api/sign-in/code", pending.Value, map[string]string{"code": code(time.Now())}, sameOrigin...); a.status != 401 {
		t.Fatalf("code after the step ended: %d %s", a.status, a.body)
	}
	if n := count("event=login&actor=acme:user:ops"); n != logins {
		t.Fatalf("the ended step reached the core: login records %v → %v", logins, n)
	}
}

// TestConsoleSessionThroughOwnEnrolmentAndPassword: enrolling one's TOTP
// from the console does not end the session that enrols (the new seed is
// not yet a way in); enabling it does (the sign-in is now below the
// principal's second factor), and so does changing one's password through
// PUT /api/v1/users/{id}/password.
func TestConsoleSessionThroughOwnEnrolmentAndPassword(t *testing.T) {
	t.Parallel()
	e := newConsoleEnv(t, false)
	id := e.user("bob", false)
	cookie, csrf := e.session("bob")
	post := func(path string, body any) answer {
		return e.do("POST", path, cookie, body, "Sec-Fetch-Site", "same-origin", "X-CSRF-Token", csrf)
	}
	a := post("/console/api/v1/users/"+id+"/mfa", nil)
	if a.status != 201 {
		t.Fatalf("enrol through the console: %d %s", a.status, a.body)
	}
	seed := a.json(t)["seed"].(string)
	if a := e.do("GET", "/console/api/v1/users/"+id, cookie, nil); a.status != 200 {
		t.Fatalf("the session ended at enrolment: %d %s", a.status, a.body)
	}
	c, _ := totp.GenerateCodeCustom(seed, time.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if a := post("/console/api/v1/users/"+id+"/mfa/verify", map[string]string{"code": c}); a.status != 200 {
		t.Fatalf("verify through the console: %d %s", a.status, a.body)
	}
	if a := e.do("GET", "/console/api/v1/users/"+id, cookie, nil); a.status != 401 {
		t.Fatalf("after enabling TOTP the level-2 session still works: %d", a.status)
	}
	if s := e.do("GET", "/console/api/session", cookie, nil).json(t); s["signed_in"] != false {
		t.Fatalf("session after enabling TOTP: %v", s)
	}

	// carol changes her own password through the console: 204, the new
	// one signs in, the session that changed it is over.
	carol := e.user("carol", false)
	cookie, csrf = e.session("carol")
	const newPw = "CArol-new-passw0rd!"
	if a := e.do("PUT", "/console/api/v1/users/"+carol+"/password", cookie, map[string]string{"password": newPw}, "Sec-Fetch-Site", "same-origin", "X-CSRF-Token", csrf); a.status != 204 {
		t.Fatalf("own password through the console: %d %s", a.status, a.body)
	}
	if a := e.do("POST", "/api/v1/token", "", map[string]string{"login": "carol", "password": newPw}); a.status != 200 {
		t.Fatalf("new password: %d %s", a.status, a.body)
	}
	if s := e.do("GET", "/console/api/session", cookie, nil).json(t); s["signed_in"] != false {
		t.Fatalf("session after the password change: %v", s)
	}
}
