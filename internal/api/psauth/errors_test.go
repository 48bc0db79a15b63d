package psauth

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/core"
)

func render(path string, e *core.Error) string {
	rp := errorTable(httptest.NewRequest("POST", path, nil), e)
	var hs []string
	for k, v := range rp.Header {
		hs = append(hs, k+": "+v)
	}
	sort.Strings(hs)
	return strconv.Itoa(rp.Status) + " " + rp.ContentType + "\n" + strings.Join(hs, "\n") + "\n\n" + string(rp.Body) + "\n"
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
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file for %s missing (run go test -update): %v", name, err)
	}
	if string(want) != got {
		t.Fatalf("%s:\n got  %q\n want %q", name, got, want)
	}
}

// TestErrorBodies pins every error body: each kind on a sign-in route, the
// MFA challenge, and the OAuth token route's three answers.
func TestErrorBodies(t *testing.T) {
	signIn := Base + "Auth/SignAppin"
	for _, k := range core.Kinds() {
		golden(t, k.String(), render(signIn, &core.Error{Kind: k, Msg: "some message"}))
	}
	golden(t, "unauthenticated-mfa_required", render(signIn, &core.Error{Kind: core.Unauthenticated, Reason: core.ReasonMFARequired}))
	golden(t, "unauthenticated-bad_challenge", render(signIn, &core.Error{Kind: core.Unauthenticated, Reason: core.ReasonBadChallenge}))
	token := Base + "Auth/connect/token"
	golden(t, "token-invalid_client", render(token, &core.Error{Kind: core.Unauthenticated, Reason: core.ReasonBadClient}))
	golden(t, "token-unsupported_grant_type", render(token, &core.Error{Kind: core.Invalid, Reason: core.ReasonUnsupportedGrant}))
	golden(t, "token-invalid_request", render(token, &core.Error{Kind: core.Invalid, Reason: core.ReasonBadRequest}))
	// Every other reason of a refused sign-in is the same 401.
	want := render(signIn, &core.Error{Kind: core.Unauthenticated})
	for _, r := range core.Reasons() {
		if r == core.ReasonMFARequired || r == core.ReasonBadChallenge {
			continue
		}
		if got := render(signIn, &core.Error{Kind: core.Unauthenticated, Reason: r, Msg: string(r)}); got != want {
			t.Errorf("reason %s: %q, want %q", r, got, want)
		}
		for _, k := range core.Kinds() {
			if got := render(signIn, &core.Error{Kind: k, Reason: r}); strings.HasPrefix(got, "5") && k != core.Internal && k != core.Unavailable && k != core.NotImplemented {
				t.Errorf("%s/%s renders 5xx: %q", k, r, got)
			}
		}
	}
}
