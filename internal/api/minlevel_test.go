package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/api/native"
	"github.com/keyward/keyward/internal/core"
)

// leveled is a surface whose bearer value is the session's level, with a
// route needing level 2 and the native error table.
type leveled struct{}

func (leveled) Name() string       { return "leveled" }
func (leveled) Prefixes() []string { return []string{"/lv/"} }
func (leveled) Routes() []api.Route {
	return []api.Route{{Method: "POST", Pattern: "/lv/strong", Permission: core.PermUsersManage, MinLevel: core.LevelPassword,
		Handler: func(w http.ResponseWriter, _ *http.Request, _ *api.Ctx) error {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}}}
}
func (leveled) Extract(r *http.Request) (core.Credential, bool, error) {
	tok, ok, err := api.AccessToken(r)
	return core.Credential{Kind: core.CredToken, Secret: tok}, ok, err
}
func (leveled) Wrap(next http.Handler) http.Handler { return next }
func (leveled) Errors() api.ErrorTable              { return native.New(nil, nil, "acme").Errors() }

// levelCore proves a session of the level its token names, holds every
// permission, and remembers the refusals it was asked to audit.
type levelCore struct{ refused []core.Reason }

func (c *levelCore) Authenticate(_ context.Context, _ core.Caller, cred core.Credential) (core.Session, error) {
	n, _ := strconv.Atoi(cred.Secret)
	return core.Session{Account: "acme", PrincipalID: "p1", Login: "alice", Kind: "user", Level: n}, nil
}
func (c *levelCore) Access(_ context.Context, caller core.Caller, s core.Session) (*core.Access, error) {
	return &core.Access{Session: s, Caller: caller}, nil
}
func (c *levelCore) Require(context.Context, *core.Access, string) error { return nil }
func (c *levelCore) Begin(context.Context, *core.Access) error           { return nil }
func (c *levelCore) Refuse(_ context.Context, _ *core.Access, event, _ string, err *core.Error) error {
	if event == "authorize" {
		c.refused = append(c.refused, err.Reason)
	}
	return err
}

// TestMinLevelRefusedByThePipeline: a level-1 session on a level-2 route is
// refused before the handler, 403 {"error":{"code":"insufficient_level"}}
// in the native table, and the refusal goes to the audit; level 2 passes.
func TestMinLevelRefusedByThePipeline(t *testing.T) {
	c := &levelCore{}
	mux := http.NewServeMux()
	api.Mount(mux, leveled{}, c, nil)
	do := func(level string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/lv/strong", nil)
		r.Header.Set("Authorization", "Bearer "+level)
		mux.ServeHTTP(w, r)
		return w
	}
	w := do("1")
	var body native.ErrorBody
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != http.StatusForbidden || body.Error.Code != "insufficient_level" {
		t.Fatalf("level 1: %d %s (%v)", w.Code, w.Body, err)
	}
	if len(c.refused) != 1 || c.refused[0] != core.ReasonInsufficientLevel {
		t.Fatalf("refusals audited: %v", c.refused)
	}
	for _, lv := range []string{"2", "3"} {
		if w := do(lv); w.Code != http.StatusNoContent {
			t.Errorf("level %s: %d %s", lv, w.Code, w.Body)
		}
	}
}
