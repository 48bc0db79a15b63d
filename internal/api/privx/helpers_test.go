package privx_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/keyward/keyward/internal/server"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// clock is the injected clock every test moves by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// start is a Monday, 10:00 UTC.
var start = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

// env is a real keyward over SQLite behind httptest with an injected clock.
type env struct {
	t        *testing.T
	srv      *httptest.Server
	s        *server.Server
	clock    *clock
	adminKey string
	admin    string
	adminID  string
	names    map[string]string // id → placeholder, for golden files
}

const account = "acme"

func newEnv(t *testing.T) *env { t.Helper(); return newEnvAt(t, start) }

// newEnvAt starts an env whose clock reads at.
func newEnvAt(t *testing.T, at time.Time) *env {
	t.Helper()
	e := &env{t: t, clock: &clock{t: at}, names: map[string]string{}}
	s, err := server.Open(context.Background(), server.Config{DataDir: t.TempDir(), Account: account, Now: e.clock.Now}, true)
	if err != nil {
		t.Fatal(err)
	}
	e.s = s
	e.srv = httptest.NewServer(s.Handler())
	t.Cleanup(func() { e.srv.Close(); _ = s.Close() })
	key, err := s.Init(context.Background(), account)
	if err != nil {
		t.Fatal(err)
	}
	e.adminKey = key
	e.admin = e.nativeToken(key)
	e.adminID = e.do("GET", "/role-store/api/v1/users/current", e.admin, nil).want(200).str("id")
	e.name(e.adminID, "admin-id")
	return e
}

func (e *env) name(id, placeholder string) string {
	e.names[id] = "<" + placeholder + ">"
	return id
}

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
		r.t.Fatalf("%s %s: body %s: %v", r.method, r.path, r.body, err)
	}
	return m
}

func (r *resp) str(name string) string {
	r.t.Helper()
	s, _ := r.obj()[name].(string)
	return s
}

func (r *resp) items() []map[string]any {
	r.t.Helper()
	var l struct {
		Count int              `json:"count"`
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(r.body, &l); err != nil {
		r.t.Fatalf("%s: %v", r.body, err)
	}
	return l.Items
}

func (r *resp) count() int {
	r.t.Helper()
	return int(r.obj()["count"].(float64))
}

// wantError checks a PrivX error answer.
func (r *resp) wantError(status int, code, property string) {
	r.t.Helper()
	r.want(status)
	var b struct {
		ErrorCode    string  `json:"error_code"`
		ErrorMessage string  `json:"error_message"`
		Property     *string `json:"property"`
	}
	if err := json.Unmarshal(r.body, &b); err != nil || b.ErrorCode != code || b.ErrorMessage == "" {
		r.t.Fatalf("%s %s: body %s, want error_code %s", r.method, r.path, r.body, code)
	}
	got := ""
	if b.Property != nil {
		got = *b.Property
	}
	if got != property {
		r.t.Fatalf("%s %s: property %q, want %q (body %s)", r.method, r.path, got, property, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		r.t.Fatalf("%s %s: content type %q", r.method, r.path, ct)
	}
}

// do sends body (a string is sent as is, anything else as JSON).
func (e *env) do(method, path, token string, body any, hdr ...string) *resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
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
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return &resp{t: e.t, method: method, path: path, status: res.StatusCode, header: res.Header, body: b}
}

func (e *env) form(path string, vals url.Values, hdr ...string) *resp {
	e.t.Helper()
	return e.do("POST", path, "", vals.Encode(), append([]string{"Content-Type", "application/x-www-form-urlencoded"}, hdr...)...)
}

func (e *env) nativeToken(key string) string {
	e.t.Helper()
	return e.do("POST", "/api/v1/token", "", map[string]any{"api_key": key}).want(200).str("access_token")
}

// user creates a user (native API) and returns its id and API key.
func (e *env) user(login string, extra map[string]any) (id, key string) {
	e.t.Helper()
	body := map[string]any{"login": login}
	for k, v := range extra {
		body[k] = v
	}
	r := e.do("POST", "/api/v1/users", e.admin, body).want(201).obj()
	id = r["id"].(string)
	e.name(id, login+"-id")
	return id, r["api_key"].(string)
}

// role creates a role through the PrivX surface.
func (e *env) role(body map[string]any) string {
	e.t.Helper()
	id := e.do("POST", "/role-store/api/v1/roles", e.admin, body).want(201).str("id")
	e.name(id, body["name"].(string)+"-role")
	return id
}

// grant sets a user's explicit grants through the PrivX surface.
func (e *env) grant(userID string, roles ...map[string]any) {
	e.t.Helper()
	if roles == nil {
		roles = []map[string]any{}
	}
	e.do("PUT", "/role-store/api/v1/users/"+userID+"/roles", e.admin, roles).want(200)
}

// sshKey is a deterministic Ed25519 public key in authorized_keys form.
func sshKey(seed byte) string {
	s := make([]byte, ed25519.SeedSize)
	s[0] = seed
	pub, err := ssh.NewPublicKey(ed25519.NewKeyFromSeed(s).Public())
	if err != nil {
		panic(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
}

var (
	tokenRE = regexp.MustCompile(`"access_token":"[^"]+"`)
	seedRE  = regexp.MustCompile(`"seed_string":"[A-Z2-7]+"`)
	qrRE    = regexp.MustCompile(`"seed_qr_code":"data:image/png;base64,[A-Za-z0-9+/=]+"`)
)

// golden compares (or with -update writes) an answer's status, content type
// and body, ids replaced by their placeholders.
func (e *env) golden(name string, r *resp) {
	e.t.Helper()
	body, path := string(r.body), r.path
	ids := make([]string, 0, len(e.names))
	for id := range e.names {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return len(ids[i]) > len(ids[j]) })
	for _, id := range ids {
		body = strings.ReplaceAll(body, id, e.names[id])
		path = strings.ReplaceAll(path, id, e.names[id])
	}
	body = tokenRE.ReplaceAllString(body, `"access_token":"<token>"`)
	body = seedRE.ReplaceAllString(body, `"seed_string":"<seed>"`)
	body = qrRE.ReplaceAllString(body, `"seed_qr_code":"data:image/png;base64,<png>"`)
	var pretty bytes.Buffer
	if json.Indent(&pretty, []byte(body), "", "  ") == nil {
		body = pretty.String()
	}
	got := r.method + " " + path + "\n" + http.StatusText(r.status) + " " + strconv.Itoa(r.status) + "\nContent-Type: " +
		r.header.Get("Content-Type") + "\n\n" + body + "\n"
	file := filepath.Join("testdata", "golden", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			e.t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			e.t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		e.t.Fatalf("%s: %v (run with -update)", name, err)
	}
	if string(want) != got {
		e.t.Errorf("%s differs from %s:\n--- got\n%s\n--- want\n%s", r.method+" "+r.path, file, got, want)
	}
}

// newBenchEnv is a real keyward for benchmarks (real clock).
func newBenchEnv(b *testing.B) *env {
	b.Helper()
	e := &env{clock: &clock{t: time.Now()}, names: map[string]string{}}
	s, err := server.Open(context.Background(), server.Config{DataDir: b.TempDir(), Account: account}, true)
	if err != nil {
		b.Fatal(err)
	}
	e.s = s
	e.srv = httptest.NewServer(s.Handler())
	b.Cleanup(func() { e.srv.Close(); _ = s.Close() })
	key, err := s.Init(context.Background(), account)
	if err != nil {
		b.Fatal(err)
	}
	res, err := http.Post(e.srv.URL+"/api/v1/token", "application/json", strings.NewReader(`{"api_key":"`+key+`"}`))
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&tok); err != nil {
		b.Fatal(err)
	}
	e.admin = tok.AccessToken
	return e
}
