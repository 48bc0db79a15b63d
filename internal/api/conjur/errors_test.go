package conjur

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/<name>.golden, rewriting it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Fatalf("%s\n got: %s\nwant: %s", path, got, want)
	}
}

// answer renders err as the client sees it: status, the headers that
// matter, and the body.
func answer(err error) string {
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/", nil)
	api.NewErrorWriter(slog.New(slog.DiscardHandler), errorTable)(w, r, err)
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s\n", w.Code, http.StatusText(w.Code))
	for _, h := range []string{"Content-Type", "Retry-After"} {
		if v := w.Header().Get(h); v != "" {
			fmt.Fprintf(&b, "%s: %s\n", h, v)
		}
	}
	b.WriteString("\n")
	b.WriteString(w.Body.String())
	return b.String()
}

// sample is an error of kind with a message, as the core returns them.
func sample(k core.Kind) *core.Error {
	e := &core.Error{Kind: k, Msg: "sample " + k.String() + " message", Err: errors.New("secret cause")}
	if k == core.RateLimited {
		e.RetryAfter = 2 * time.Second
	}
	return e
}

// TestErrorTable walks every kind of the core through the table; a kind
// without a golden file fails, so a new kind cannot go unmapped.
func TestErrorTable(t *testing.T) {
	seen := map[int]core.Kind{}
	for _, k := range core.Kinds() {
		t.Run(k.String(), func(t *testing.T) {
			got := answer(sample(k))
			golden(t, "errors/"+k.String(), got)
			if strings.Contains(got, "secret cause") {
				t.Fatal("the cause reached the client")
			}
			st := statusOf(k)
			if prev, dup := seen[st]; dup && st != http.StatusInternalServerError {
				t.Fatalf("kinds %v and %v share status %d", prev, k, st)
			}
			seen[st] = k
		})
	}
}

// TestErrorReasons pins Conjur's answers that depend on the reason.
func TestErrorReasons(t *testing.T) {
	cases := []struct {
		name string
		err  error
	}{
		{"unauthenticated-credential_strength", &core.Error{Kind: core.Unauthenticated, Reason: core.ReasonCredentialStrength, Msg: "a token cannot change its own credentials"}},
		{"unauthenticated-jwt_expired", &core.Error{Kind: core.Unauthenticated, Reason: core.ReasonTokenExpired, Msg: "token expired"}},
		{"unauthenticated-bad_secret", &core.Error{Kind: core.Unauthenticated, Reason: "bad_secret", Msg: "authentication failed"}},
		{"invalid-weak_password", core.CheckPasswordStrength("weak")},
		{"invalid-bad_request", &core.Error{Kind: core.Invalid, Reason: core.ReasonBadRequest, Field: "jwt", Msg: "jwt is required"}},
		{"invalid-not_applicable", &core.Error{Kind: core.Invalid, Reason: core.ReasonNotApplicable, Msg: "CONJ00126E Role 'myorg:group:ops' is not applicable for key rotation"}},
		{"not_found-role_not_found", &core.Error{Kind: core.NotFound, Reason: core.ReasonRoleNotFound, Msg: "CONJ00123E Resource 'myorg:user:bob' requested by role 'myorg:user:alice' not found"}},
		{"not_implemented-k8s", &core.Error{Kind: core.NotImplemented, Reason: core.ReasonNotImplemented, Msg: "authn-k8s is not available in keyward"}},
		{"plain-error", errors.New("database on fire")},
		{"too_large-max_bytes", &http.MaxBytesError{Limit: 1 << 20}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := answer(tc.err)
			golden(t, "errors/"+tc.name, got)
			if strings.Contains(got, "on fire") {
				t.Fatal("an internal cause reached the client")
			}
		})
	}
}

// TestStatusErrors pins the authenticator status answers: the core's
// reasons in Conjur's words.
func TestStatusErrors(t *testing.T) {
	cases := []struct {
		code, typ, svc string
		err            *core.Error
	}{
		{"CONJ00001E", "authn-cert", "", &core.Error{Kind: core.NotFound, Reason: core.ReasonUnsupportedType}},
		{"CONJ00056E", "authn-ldap", "corp", &core.Error{Kind: core.NotImplemented, Reason: core.ReasonStatusNotSupported}},
		{"CONJ00006E", "authn-jwt", "ci", &core.Error{Kind: core.Forbidden, Reason: core.ReasonMissingPermission}},
		{"CONJ00118E", "authn-jwt", "ci", &core.Error{Kind: core.Internal, Reason: core.ReasonServiceMisconfigure, Msg: "jwks unreachable"}},
	}
	for _, tc := range cases {
		t.Run(tc.code, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.SetPathValue("account", "myorg")
			r.SetPathValue("service_id", tc.svc)
			w := httptest.NewRecorder()
			send(w, renderStatus(r, core.Session{Account: "myorg", Kind: "user", Login: "alice"}, tc.typ, tc.err))
			golden(t, "status/"+tc.code, fmt.Sprintf("%d\n%s", w.Code, w.Body.String()))
		})
	}
}
