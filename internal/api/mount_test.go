package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
)

// marked is a surface whose error table marks its answers, so a test can
// tell which surface rendered one.
type marked struct{ name string }

func (m marked) Name() string       { return m.name }
func (m marked) Prefixes() []string { return []string{"/" + m.name + "/"} }
func (m marked) Routes() []api.Route {
	return []api.Route{
		{Method: "GET", Pattern: "/" + m.name + "/panic", Public: true, Handler: func(http.ResponseWriter, *http.Request, *api.Ctx) error {
			panic("boom")
		}},
		{Method: "GET", Pattern: "/" + m.name + "/fine", Public: true, Handler: func(w http.ResponseWriter, _ *http.Request, _ *api.Ctx) error {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}},
	}
}
func (m marked) Extract(*http.Request) (core.Credential, bool, error) {
	return core.Credential{}, false, nil
}
func (m marked) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Surface", m.name)
		next.ServeHTTP(w, r)
	})
}
func (m marked) Errors() api.ErrorTable {
	return func(_ *http.Request, e *core.Error) api.Reply {
		return api.Reply{Status: api.Status(e.Kind), ContentType: "text/plain", Body: []byte(m.name + ":" + e.Kind.String())}
	}
}

// nocore is never reached: every route here is public.
type nocore struct{}

func (nocore) Authenticate(context.Context, core.Caller, core.Credential) (core.Session, error) {
	panic("not reached")
}
func (nocore) Access(context.Context, core.Caller, core.Session) (*core.Access, error) {
	panic("not reached")
}
func (nocore) Require(context.Context, *core.Access, string) error { panic("not reached") }
func (nocore) Begin(context.Context, *core.Access) error           { panic("not reached") }
func (nocore) Refuse(context.Context, *core.Access, string, string, *core.Error) error {
	panic("not reached")
}

// TestPanicsAndUnknownRoutesRenderInTheirSurface: two surfaces on one mux;
// a panic, an unknown path and a wrong method under each render in that
// surface's own format, through its own middleware.
func TestPanicsAndUnknownRoutesRenderInTheirSurface(t *testing.T) {
	mux := http.NewServeMux()
	for _, name := range []string{"one", "two"} {
		api.Mount(mux, marked{name}, nocore{}, nil)
	}
	for _, name := range []string{"one", "two"} {
		for path, want := range map[string]struct {
			method string
			status int
			body   string
		}{
			"/" + name + "/panic":   {"GET", 500, name + ":internal"},
			"/" + name + "/missing": {"GET", 404, name + ":not_found"},
			"/" + name + "/fine":    {"POST", 405, name + ":method_not_allowed"},
		} {
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, httptest.NewRequest(want.method, path, nil))
			if w.Code != want.status || strings.TrimSpace(w.Body.String()) != want.body || w.Header().Get("X-Surface") != name {
				t.Errorf("%s %s: %d %q (surface %q), want %d %q from %s", want.method, path, w.Code, w.Body.String(),
					w.Header().Get("X-Surface"), want.status, want.body, name)
			}
		}
	}
}
