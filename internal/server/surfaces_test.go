package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/server"
)

// inProcess is a real keyward on SQLite behind httptest, with every surface
// mounted on one mux.
type inProcess struct {
	t     *testing.T
	s     *server.Server
	srv   *httptest.Server
	admin string // admin access token
}

func newInProcess(t *testing.T) *inProcess {
	t.Helper()
	s, err := server.Open(context.Background(), server.Config{DataDir: t.TempDir(), Account: "acme"}, true)
	if err != nil {
		t.Fatal(err)
	}
	key, err := s.Init(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	p := &inProcess{t: t, s: s, srv: httptest.NewServer(s.Handler())}
	t.Cleanup(func() { p.srv.Close(); _ = s.Close() })
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	p.json(p.do("POST", "/api/v1/token", "", `{"api_key":"`+key+`"}`), 200, &tok)
	p.admin = tok.AccessToken
	return p
}

func (p *inProcess) do(method, path, token, body string) *http.Response {
	p.t.Helper()
	req, err := http.NewRequest(method, p.srv.URL+path, strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	return resp
}

func (p *inProcess) json(resp *http.Response, status int, v any) {
	p.t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		p.t.Fatalf("%s %s: status %d, want %d; body %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, status, b)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			p.t.Fatalf("decode %s: %v", b, err)
		}
	}
}

func (p *inProcess) auditTotal() int {
	var page struct {
		Total int `json:"total"`
	}
	p.json(p.do("GET", "/api/v1/audit?limit=1", p.admin, ""), 200, &page)
	return page.Total
}

var pathParam = regexp.MustCompile(`\{([^}.$]+)\}`)

// TestEveryPermissionRouteOfEverySurfaceRefuses drives every route of every
// mounted surface that names a permission (and is neither public nor
// decided by ownership) with a principal holding no permission: each is
// refused with 403 before its body is read, and each refusal is audited.
// So a new surface's gated routes are covered as soon as it is mounted.
func TestEveryPermissionRouteOfEverySurfaceRefuses(t *testing.T) {
	p := newInProcess(t)
	var created struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		APIKey string `json:"api_key"`
	}
	p.json(p.do("POST", "/api/v1/users", p.admin, `{"login":"nobody"}`), 201, &created)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	p.json(p.do("POST", "/api/v1/token", "", `{"api_key":"`+created.APIKey+`"}`), 200, &tok)
	nobody := tok.AccessToken

	checked := map[string]int{}
	for _, sf := range p.s.Surfaces() {
		for _, rt := range sf.Routes() {
			if rt.Public || rt.SelfService || rt.Permission == "" {
				continue
			}
			path := pathParam.ReplaceAllStringFunc(rt.Pattern, func(m string) string {
				switch m {
				case "{account}":
					return "acme"
				case "{type}":
					return "authn-jwt"
				}
				return "someone-else-0000"
			})
			path = strings.TrimSuffix(path, "{$}")
			before := p.auditTotal()
			resp := p.do(rt.Method, path, nobody, `{"this body":"is never read"}`)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s %s %s by a principal without %s: status %d, want 403; body %s", sf.Name(), rt.Method, path, rt.Permission, resp.StatusCode, b)
				continue
			}
			if after := p.auditTotal(); after != before+1 {
				t.Errorf("%s %s %s: %d audit records for one refusal", sf.Name(), rt.Method, path, after-before)
			}
			checked[sf.Name()]++
		}
	}
	t.Logf("permission routes checked per surface: %v", checked)
	for _, name := range []string{"native", "conjur"} {
		if checked[name] < 2 {
			t.Errorf("surface %s: only %d permission routes checked", name, checked[name])
		}
	}
}

// TestEveryReasonRendersInEverySurface walks every kind and every reason
// through every surface's error table: always an error status, a server
// status only for server failures, never the cause, and JSON that parses
// whenever there is a body.
func TestEveryReasonRendersInEverySurface(t *testing.T) {
	p := newInProcess(t)
	for _, sf := range p.s.Surfaces() {
		write := api.NewErrorWriter(slog.New(slog.DiscardHandler), sf.Errors())
		for _, k := range core.Kinds() {
			for _, reason := range core.Reasons() {
				w := httptest.NewRecorder()
				write(w, httptest.NewRequest("GET", "/", nil), &core.Error{Kind: k, Reason: reason, Field: "f",
					Msg: "safe message", Err: errors.New("secret cause")})
				name := sf.Name() + "/" + k.String() + "/" + string(reason)
				serverSide := k == core.Internal || k == core.Unavailable || k == core.NotImplemented
				switch {
				case w.Code < 400 || w.Code > 599:
					t.Errorf("%s: status %d", name, w.Code)
				case !serverSide && w.Code >= 500:
					t.Errorf("%s: status %d for a client-side kind", name, w.Code)
				case strings.Contains(w.Body.String(), "secret cause"):
					t.Errorf("%s: the cause reached the client", name)
				case w.Body.Len() > 0 && !json.Valid(w.Body.Bytes()):
					t.Errorf("%s: body is not JSON: %s", name, w.Body.String())
				case w.Header().Get("Cache-Control") != "no-store":
					t.Errorf("%s: answer may be cached", name)
				}
			}
		}
	}
}

// TestUnknownRoutesAnswerInTheirSurfacesFormat: a path under a surface's
// prefix that no route matches answers in that surface's format (Conjur's
// Rails-style body without a newline, native's with one), and a known path
// with the wrong method is 405 with Allow.
func TestUnknownRoutesAnswerInTheirSurfacesFormat(t *testing.T) {
	p := newInProcess(t)
	cases := []struct {
		method, path string
		status       int
		ctype        string
		allow        string
	}{
		{"GET", "/api/v1/nothing-here", 404, "application/json", ""},
		{"PATCH", "/api/v1/roles", 405, "application/json", "GET, POST"},
		{"GET", "/authn-jwt/a/b/c/d/e", 404, "application/json; charset=utf-8", ""},
		{"DELETE", "/authn/acme/login", 405, "application/json; charset=utf-8", "GET"},
		// Paths no other surface owns are Conjur's (its API starts at /).
		{"GET", "/secrets/acme/variable/x", 501, "application/json; charset=utf-8", ""},
		{"GET", "/nothing-here", 404, "application/json; charset=utf-8", ""},
		{"POST", "/whoami", 405, "application/json; charset=utf-8", "GET"},
	}
	for _, tc := range cases {
		resp := p.do(tc.method, tc.path, "", "")
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != tc.ctype || resp.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d %q Allow %q, want %d %q Allow %q; body %s", tc.method, tc.path, resp.StatusCode,
				resp.Header.Get("Content-Type"), resp.Header.Get("Allow"), tc.status, tc.ctype, tc.allow, b)
		}
		if tc.ctype == "application/json" && !bytes.HasSuffix(b, []byte("\n")) || tc.ctype != "application/json" && bytes.HasSuffix(b, []byte("\n")) {
			t.Errorf("%s %s: body %q is not in its surface's encoding", tc.method, tc.path, b)
		}
	}
}
