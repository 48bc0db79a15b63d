package native_test

import (
	"bytes"
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
	"github.com/keyward/keyward/internal/api/native"
	"github.com/keyward/keyward/internal/core"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// renderError renders err through the surface's WriteError as a client sees it.
func renderError(t *testing.T, log *slog.Logger, err error) string {
	t.Helper()
	s := native.New(nil, log, account)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/api/v1/users", nil)
	api.NewErrorWriter(log, s.Errors())(rec, req, err)
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s\n", rec.Code, http.StatusText(rec.Code))
	for _, h := range []string{"Content-Type", "Cache-Control", "Retry-After", "WWW-Authenticate"} {
		if v := rec.Header().Get(h); v != "" {
			fmt.Fprintf(&b, "%s: %s\n", h, v)
		}
	}
	b.WriteString("\n")
	b.WriteString(rec.Body.String())
	return b.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "errors", name+".golden")
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
		t.Fatalf("golden file for %s missing (run go test -update): %v", name, err)
	}
	if string(want) != got {
		t.Errorf("%s differs from %s:\n--- got\n%s\n--- want\n%s", name, path, got, want)
	}
}

// TestErrorGolden pins what a client sees for every core kind. A kind
// without its own row in the table falls to 500, which fails here.
func TestErrorGolden(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	seen := map[int]core.Kind{}
	for _, k := range core.Kinds() {
		e := &core.Error{Kind: k, Reason: "some_reason", Field: "some_field", Msg: "a safe message about " + k.String(),
			Err: errors.New("cause-with-secret-kw_should_not_leak")}
		if k == core.RateLimited {
			e.RetryAfter = 1500 * time.Millisecond
		}
		got := renderError(t, log, e)
		golden(t, k.String(), got)
		status := 0
		fmt.Sscanf(got, "%d", &status)
		if k != core.Internal && status == http.StatusInternalServerError {
			t.Errorf("kind %s is missing from the native error table (renders 500)", k)
		}
		if prev, dup := seen[status]; dup {
			t.Errorf("kinds %s and %s share status %d", prev, k, status)
		}
		seen[status] = k
		if !strings.Contains(got, `"code":"`+k.String()+`"`) {
			t.Errorf("kind %s: code not %q: %s", k, k.String(), got)
		}
		if strings.Contains(got, "should_not_leak") {
			t.Errorf("kind %s: the cause is sent to the client", k)
		}
	}
	// Anything not a core error is a generic 500, its cause logged, not sent.
	got := renderError(t, log, errors.New("database exploded: kw_should_not_leak"))
	golden(t, "non-core", got)
	if strings.Contains(got, "exploded") || !strings.HasPrefix(got, "500 ") {
		t.Errorf("non-core error: %s", got)
	}
	if !strings.Contains(logs.String(), "database exploded") {
		t.Errorf("the cause of a 500 is not logged: %s", logs.String())
	}
	// Failed authentication: one generic body whatever the reason.
	a := renderError(t, log, &core.Error{Kind: core.Unauthenticated, Reason: "unknown_login", Msg: "login ghost does not exist"})
	b := renderError(t, log, &core.Error{Kind: core.Unauthenticated, Reason: "bad_secret", Field: "api_key", Msg: "wrong secret"})
	if a != b || strings.Contains(a, "ghost") {
		t.Errorf("authentication failures differ or leak:\n%s\n%s", a, b)
	}
	golden(t, "unauthenticated-any-reason", a)
	// Except after a right password: the second factor is missing or wrong.
	// And a session below the level needed is told so.
	for _, tc := range []struct {
		name string
		e    *core.Error
		code string
	}{
		{"unauthenticated-mfa_required", &core.Error{Kind: core.Unauthenticated, Reason: core.ReasonMFARequired, Msg: "a second factor is required: totp or recovery_code"}, "mfa_required"},
		{"unauthenticated-mfa_invalid", &core.Error{Kind: core.Unauthenticated, Reason: core.ReasonMFAInvalid, Msg: "the second factor is wrong"}, "mfa_invalid"},
		{"forbidden-insufficient_level", &core.Error{Kind: core.Forbidden, Reason: core.ReasonInsufficientLevel, Msg: "this route needs a session of security level 2 or more"}, "insufficient_level"},
	} {
		got := renderError(t, log, tc.e)
		golden(t, tc.name, got)
		if !strings.Contains(got, `"code":"`+tc.code+`"`) {
			t.Errorf("%s: %s", tc.name, got)
		}
	}
}
