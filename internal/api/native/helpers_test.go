package native_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	_ "modernc.org/sqlite"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward/internal/server"
)

// lockedBuffer is a log sink safe to read while the server writes to it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is a real keyward over SQLite in a temp folder behind httptest.
type env struct {
	t        *testing.T
	dir      string
	srv      *httptest.Server
	s        *server.Server
	logs     *lockedBuffer
	adminKey string
	admin    string // admin access token
	adminID  string
}

const account = "acme"

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), logs: &lockedBuffer{}}
	e.open()
	key, err := e.s.Init(context.Background(), account)
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	e.adminKey = key
	e.admin = e.token(map[string]any{"api_key": key})
	r := e.do("GET", "/api/v1/users?search=admin", e.admin, nil)
	r.want(200)
	for _, it := range r.items() {
		if it["login"] == "admin" {
			e.adminID = it["id"].(string)
		}
	}
	if e.adminID == "" {
		t.Fatal("admin user not listed")
	}
	return e
}

// open starts (or restarts) the server on e.dir.
func (e *env) open() {
	t := e.t
	t.Helper()
	s, err := server.Open(context.Background(), server.Config{DataDir: e.dir, Account: account,
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})), AccessLog: true}, true)
	if err != nil {
		t.Fatalf("open server: %v", err)
	}
	e.s = s
	e.srv = httptest.NewServer(s.Handler())
	t.Cleanup(e.close)
}

func (e *env) close() {
	if e.srv != nil {
		e.srv.Close()
		e.srv = nil
	}
	if e.s != nil {
		if err := e.s.Close(); err != nil {
			e.t.Errorf("close server: %v", err)
		}
		e.s = nil
	}
}

// resp is one answer.
type resp struct {
	t      *testing.T
	method string
	path   string
	status int
	header http.Header
	body   []byte
}

func (r *resp) want(status int) *resp {
	r.t.Helper()
	if r.status != status {
		r.t.Fatalf("%s %s: status %d, want %d; body %s", r.method, r.path, r.status, status, r.body)
	}
	return r
}

func (r *resp) obj() map[string]any {
	r.t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		r.t.Fatalf("%s %s: body is not a JSON object: %v: %s", r.method, r.path, err, r.body)
	}
	return m
}

func (r *resp) items() []map[string]any {
	r.t.Helper()
	var l struct {
		Items []map[string]any `json:"items"`
		Total *int             `json:"total"`
	}
	if err := json.Unmarshal(r.body, &l); err != nil || l.Total == nil || l.Items == nil {
		r.t.Fatalf("%s %s: not a list answer {items,total}: %v: %s", r.method, r.path, err, r.body)
	}
	return l.Items
}

func (r *resp) total() int {
	r.t.Helper()
	return int(r.obj()["total"].(float64))
}

func (r *resp) str(name string) string {
	r.t.Helper()
	v, ok := r.obj()[name].(string)
	if !ok {
		r.t.Fatalf("%s %s: member %q is not a string: %s", r.method, r.path, name, r.body)
	}
	return v
}

// errBody checks the native error format and returns code and field.
func (r *resp) errBody(status int) (code, field, msg string) {
	r.t.Helper()
	r.want(status)
	var b struct {
		Error *struct {
			Code    string  `json:"code"`
			Message string  `json:"message"`
			Field   *string `json:"field"`
		} `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil || b.Error == nil || b.Error.Code == "" || b.Error.Message == "" {
		r.t.Fatalf("%s %s: not a native error body: %v: %s", r.method, r.path, err, r.body)
	}
	if b.Error.Field != nil {
		field = *b.Error.Field
		if field == "" {
			r.t.Fatalf("%s %s: empty field member: %s", r.method, r.path, r.body)
		}
	}
	return b.Error.Code, field, b.Error.Message
}

// do sends a request. body is nil, a string or []byte (sent raw), or
// anything else (sent as JSON). auth is an access token or API key sent as
// Bearer, or "" for none. hdr are extra header pairs.
func (e *env) do(method, path, auth string, body any, hdr ...string) *resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return &resp{t: e.t, method: method, path: path, status: res.StatusCode, header: res.Header, body: b}
}

// form posts a form body.
func (e *env) form(path string, vals url.Values) *resp {
	e.t.Helper()
	return e.do("POST", path, "", vals.Encode(), "Content-Type", "application/x-www-form-urlencoded")
}

// token exchanges credentials for an access token.
func (e *env) token(body map[string]any) string {
	e.t.Helper()
	r := e.do("POST", "/api/v1/token", "", body).want(200)
	m := r.obj()
	if m["token_type"] != "Bearer" || m["expires_in"].(float64) <= 0 {
		e.t.Fatalf("token answer %s", r.body)
	}
	return m["access_token"].(string)
}

// keyToken exchanges an API key alone for an access token.
func (e *env) keyToken(key string) string {
	e.t.Helper()
	return e.token(map[string]any{"api_key": key})
}

// createUser makes a principal as admin; extra members are merged into the body.
func (e *env) createUser(login, kind string, extra map[string]any) (id, key string) {
	e.t.Helper()
	body := map[string]any{"login": login, "kind": kind}
	for k, v := range extra {
		body[k] = v
	}
	r := e.do("POST", "/api/v1/users", e.admin, body).want(201)
	return r.str("id"), r.str("api_key")
}

// createRole makes a role as admin.
func (e *env) createRole(name string, perms ...string) string {
	e.t.Helper()
	if perms == nil {
		perms = []string{}
	}
	return e.do("POST", "/api/v1/roles", e.admin, map[string]any{"name": name, "permissions": perms}).want(201).str("id")
}

// grant sets a user's grants to these roles, PERMANENT.
func (e *env) grant(userID string, roleIDs ...string) {
	e.t.Helper()
	gs := []map[string]any{}
	for _, id := range roleIDs {
		gs = append(gs, map[string]any{"id": id, "type": "PERMANENT"})
	}
	e.do("PUT", "/api/v1/users/"+userID+"/roles", e.admin, map[string]any{"roles": gs}).want(200)
}

// createKey makes an API key for a principal as admin.
func (e *env) createKey(userID string, body map[string]any) (id, key string) {
	e.t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	r := e.do("POST", "/api/v1/users/"+userID+"/api-keys", e.admin, body).want(201)
	return r.str("id"), r.str("key")
}

// verify asks about a key and returns the answer.
func (e *env) verify(key string, hdr ...string) map[string]any {
	e.t.Helper()
	return e.do("POST", "/api/v1/api-keys/verify", "", map[string]any{"key": key}, hdr...).want(200).obj()
}

// audit returns the newest n audit records.
func (e *env) audit(n int) []map[string]any {
	e.t.Helper()
	return e.do("GET", fmt.Sprintf("/api/v1/audit?limit=%d", n), e.admin, nil).want(200).items()
}

// auditTotal is the number of audit records of the account.
func (e *env) auditTotal() int {
	e.t.Helper()
	return e.do("GET", "/api/v1/audit?limit=1", e.admin, nil).want(200).total()
}

// findAudit returns the newest record matching every given member.
func (e *env) findAudit(match map[string]string) map[string]any {
	e.t.Helper()
	for _, rec := range e.audit(1000) {
		ok := true
		for k, v := range match {
			if s, _ := rec[k].(string); s != v {
				ok = false
				break
			}
		}
		if ok {
			return rec
		}
	}
	return nil
}

func strs(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, x := range l {
			s, _ := x.(string)
			out = append(out, s)
		}
	}
	return out
}

// sqlCount runs a count query on the server's SQLite file.
func (e *env) sqlCount(q string, args ...any) int {
	e.t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(e.dir, server.DBFile)+"?mode=ro")
	if err != nil {
		e.t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// sqlExec changes the server's SQLite file (with the server closed).
func (e *env) sqlExec(q string, args ...any) {
	e.t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(e.dir, server.DBFile))
	if err != nil {
		e.t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(q, args...)
	if err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		e.t.Fatalf("%s changed no row", q)
	}
}

// on returns e reporting to t: subtests must not fail their parent's t.
func (e *env) on(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}
