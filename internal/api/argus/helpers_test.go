package argus_test

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/server"
	"github.com/keyward/keyward/pkg/argussig"
)

const account = "acme"

// clock is the injected clock: tests move it, never sleep.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// env is a real keyward over SQLite behind httptest, on an injected clock.
type env struct {
	t     *testing.T
	s     *server.Server
	srv   *httptest.Server
	clock *clock
	admin string // native admin token (level 1: from the admin's API key)
}

func newEnv(t *testing.T) *env { return newEnvWith(t, server.Config{}) }

func newEnvWith(t *testing.T, cfg server.Config) *env {
	t.Helper()
	c := &clock{t: time.Now().UTC().Truncate(time.Millisecond)}
	cfg.DataDir, cfg.Account, cfg.Now = t.TempDir(), account, c.Now
	s, err := server.Open(context.Background(), cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	key, err := s.Init(context.Background(), account)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, s: s, srv: httptest.NewServer(s.Handler()), clock: c}
	t.Cleanup(func() { e.srv.Close(); _ = s.Close() })
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	e.native("POST", "/api/v1/token", "", map[string]any{"api_key": key}).want(200).decode(&tok)
	e.admin = tok.AccessToken
	return e
}

// resp is one answer.
type resp struct {
	t      *testing.T
	what   string
	status int
	header http.Header
	body   []byte
}

func (r *resp) want(status int) *resp {
	r.t.Helper()
	if r.status != status {
		r.t.Fatalf("%s: status %d, want %d; body %s", r.what, r.status, status, r.body)
	}
	return r
}

func (r *resp) decode(v any) {
	r.t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		r.t.Fatalf("%s: decode %s: %v", r.what, r.body, err)
	}
}

// env is the Argus envelope as the tests read it.
type envl struct {
	ResponseCode int               `json:"responseCode"`
	Limit        int               `json:"limit"`
	Offset       int               `json:"offset"`
	Count        int               `json:"count"`
	Size         int               `json:"size"`
	Messages     []json.RawMessage `json:"messages"`
	Data         json.RawMessage   `json:"data"`
}

type msg struct {
	Message         string  `json:"message"`
	MessageTemplate string  `json:"messageTemplate"`
	Type            string  `json:"type"`
	Field           *string `json:"field"`
	Parameter       any     `json:"parameter"`
	Timestamp       int64   `json:"timestamp"`
}

func (r *resp) envelope() envl {
	r.t.Helper()
	var e envl
	r.decode(&e)
	if e.ResponseCode != r.status {
		r.t.Fatalf("%s: responseCode %d, status %d", r.what, e.ResponseCode, r.status)
	}
	return e
}

// data decodes the envelope's data.
func (r *resp) data(v any) envl {
	r.t.Helper()
	e := r.envelope()
	if len(e.Messages) != 0 {
		r.t.Fatalf("%s: messages on success: %s", r.what, r.body)
	}
	if err := json.Unmarshal(e.Data, v); err != nil {
		r.t.Fatalf("%s: data %s: %v", r.what, e.Data, err)
	}
	return e
}

// msgs returns the error messages, checking the envelope of an error.
func (r *resp) msgs() []msg {
	r.t.Helper()
	e := r.envelope()
	if string(e.Data) != "null" || len(e.Messages) == 0 || e.Limit+e.Offset+e.Count+e.Size != 0 {
		r.t.Fatalf("%s: not an error envelope: %s", r.what, r.body)
	}
	out := make([]msg, len(e.Messages))
	for i, raw := range e.Messages {
		if err := json.Unmarshal(raw, &out[i]); err != nil {
			r.t.Fatal(err)
		}
		if out[i].Timestamp == 0 || out[i].Message == "" || (out[i].Type != "ACTION_ERROR" && out[i].Type != "FIELD_ERROR") {
			r.t.Fatalf("%s: bad message %s", r.what, raw)
		}
	}
	return out
}

// fails checks an error answer: its status and its one template.
func (r *resp) fails(status int, template string) msg {
	r.t.Helper()
	r.want(status)
	ms := r.msgs()
	if ms[0].MessageTemplate != template {
		r.t.Fatalf("%s: template %q, want %q; body %s", r.what, ms[0].MessageTemplate, template, r.body)
	}
	return ms[0]
}

// fieldErrors checks a 412 naming exactly these fields, in order.
func (r *resp) fieldErrors(fields ...string) []msg {
	r.t.Helper()
	r.want(412)
	ms := r.msgs()
	var got []string
	for _, m := range ms {
		if m.Type != "FIELD_ERROR" || m.Field == nil {
			r.t.Fatalf("%s: not a FIELD_ERROR: %s", r.what, r.body)
		}
		got = append(got, *m.Field)
	}
	if strings.Join(got, ",") != strings.Join(fields, ",") {
		r.t.Fatalf("%s: fields %v, want %v; body %s", r.what, got, fields, r.body)
	}
	return ms
}

// cred is how a request authenticates.
type cred func(req *http.Request)

func bearer(tok string) cred {
	return func(req *http.Request) { req.Header.Set("Authorization", "Bearer "+tok) }
}

func apiKey(k string) cred { return func(req *http.Request) { req.Header.Set("Argus-API-Key", k) } }

func header(name, v string) cred { return func(req *http.Request) { req.Header.Add(name, v) } }

// call sends a request to the server; body is JSON-encoded unless a string.
func (e *env) call(method, path string, body any, creds ...cred) *resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, c := range creds {
		c(req)
	}
	return e.send(req)
}

func (e *env) send(req *http.Request) *resp {
	e.t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return &resp{t: e.t, what: req.Method + " " + req.URL.RequestURI(), status: res.StatusCode, header: res.Header, body: b}
}

// native calls the native API with a bearer token.
func (e *env) native(method, path, tok string, body any) *resp {
	e.t.Helper()
	if tok == "" {
		return e.call(method, path, body)
	}
	return e.call(method, path, body, bearer(tok))
}

// user is a test user: its id, login, password, and (with MFA) seed.
type user struct {
	id, login, password, seed string
}

const password = "Correct-Horse-9!Battery"

// newUser creates a user with a password and the given roles (names),
// optionally a customer and MFA.
func (e *env) newUser(login, customer string, mfa bool, roles ...string) user {
	e.t.Helper()
	var created struct {
		ID string `json:"id"`
	}
	e.native("POST", "/api/v1/users", e.admin, map[string]any{"login": login, "password": password, "customer": customer}).want(201).decode(&created)
	u := user{id: created.ID, login: login, password: password}
	if len(roles) > 0 {
		var grants []map[string]any
		for _, r := range roles {
			grants = append(grants, map[string]any{"id": e.roleID(r), "type": "PERMANENT"})
		}
		e.native("PUT", "/api/v1/users/"+u.id+"/roles", e.admin, map[string]any{"roles": grants}).want(200)
	}
	if mfa {
		var enrol struct {
			Seed string `json:"seed"`
		}
		e.native("POST", "/api/v1/users/"+u.id+"/mfa", e.admin, nil).want(201).decode(&enrol)
		u.seed = enrol.Seed
		e.native("POST", "/api/v1/users/"+u.id+"/mfa/verify", e.admin, map[string]any{"code": e.code(u)}).want(200)
		e.clock.Add(31 * time.Second) // the next code is another step's
	}
	return u
}

// nativeKeyOf is the native form of an Argus key: the same core key.
func nativeKeyOf(argusKey string) string {
	p := strings.Split(argusKey, "/")
	return core.ArgusKeyCredential("", p[0], p[1], p[2]).Secret
}

var roleIDs sync.Map

// role creates a role with permissions, once per env.
func (e *env) role(name string, perms ...string) {
	e.t.Helper()
	var r struct {
		ID string `json:"id"`
	}
	e.native("POST", "/api/v1/roles", e.admin, map[string]any{"name": name, "permissions": perms}).want(201).decode(&r)
	roleIDs.Store(e.srv.URL+"/"+name, r.ID)
}

func (e *env) roleID(name string) string {
	v, ok := roleIDs.Load(e.srv.URL + "/" + name)
	if !ok {
		e.t.Fatalf("no role %s", name)
	}
	return v.(string)
}

// code is u's current TOTP code on the injected clock.
func (e *env) code(u user) string {
	e.t.Helper()
	c, err := totp.GenerateCodeCustom(u.seed, e.clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// session logs u in on the password route (level 2) or, with MFA, the
// TOTP route (level 3), and returns the token.
func (e *env) session(u user) string {
	e.t.Helper()
	var s struct {
		SecurityLevel int `json:"securityLevel"`
		Credentials   struct {
			RequestCredentialsData string `json:"requestCredentialsData"`
		} `json:"credentials"`
	}
	if u.seed == "" {
		e.call("POST", "/authentication/v1/password/authentication", map[string]any{"userName": u.login, "password": u.password}).want(200).data(&s)
	} else {
		e.call("POST", "/authentication/v1/totp/authentication", map[string]any{"userName": u.login, "password": u.password, "tokenCode": e.code(u)}).want(200).data(&s)
		e.clock.Add(31 * time.Second)
	}
	return s.Credentials.RequestCredentialsData
}

// keyObj is an Argus key object.
type keyObj struct {
	ID                  string   `json:"id"`
	Prefix              string   `json:"prefix"`
	User                userRef  `json:"user"`
	Description         string   `json:"description"`
	ValidSources        []string `json:"validSources"`
	ExpirationTimestamp *int64   `json:"expirationTimestamp"`
	SessionConstraints  struct {
		Function []string `json:"function"`
		Customer []string `json:"customer"`
	} `json:"sessionConstraints"`
	CreatedTimestamp  int64  `json:"createdTimestamp"`
	LastUsedTimestamp *int64 `json:"lastUsedTimestamp"`
	APIKey            string `json:"apiKey"`
}

type userRef struct {
	ID       string `json:"id"`
	UserName string `json:"userName"`
}

// createKey creates a key for u's login with a level-3 token.
func (e *env) createKey(tok, login string, body any) keyObj {
	e.t.Helper()
	var k keyObj
	e.call("POST", "/authentication/v1/user/"+login+"/apikey", body, bearer(tok)).want(200).data(&k)
	return k
}

// auditRec is a native audit record.
type auditRec struct {
	Event, Outcome, Reason, Actor, Subject, Authenticator string
	KeyID                                                 string `json:"key_id"`
	Detail                                                string
}

// lastAudit returns the newest n records, newest first.
func (e *env) lastAudit(n int) []auditRec {
	e.t.Helper()
	var page struct {
		Items []auditRec `json:"items"`
	}
	e.native("GET", "/api/v1/audit?limit="+itoa(n), e.admin, nil).want(200).decode(&page)
	return page.Items
}

// findAudit returns the newest record of event among the last 50, or fails.
func (e *env) findAudit(event string) auditRec {
	e.t.Helper()
	for _, r := range e.lastAudit(50) {
		if r.Event == event {
			return r
		}
	}
	e.t.Fatalf("no %s record among the last 50", event)
	return auditRec{}
}

func itoa(n int) string { return strconv.Itoa(n) }

// signer signs requests to the env's server.
type signer struct {
	*argussig.Signer
	e *env
}

func (e *env) signer(keyID string, k crypto.Signer) *signer {
	e.t.Helper()
	s, err := argussig.NewSigner(keyID, k)
	if err != nil {
		e.t.Fatal(err)
	}
	s.Now = e.clock.Now
	return &signer{Signer: s, e: e}
}

// signed sends a request signed now.
func (s *signer) signed(method, path, body string) *resp {
	s.e.t.Helper()
	req := s.request(method, path, body)
	if err := s.SignRequest(req); err != nil {
		s.e.t.Fatal(err)
	}
	return s.e.send(req)
}

func (s *signer) request(method, path, body string) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.e.srv.URL+path, rd)
	if err != nil {
		s.e.t.Fatal(err)
	}
	return req
}
