package conjur_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

// TestBasicLoginOfMFAUserRefused: Conjur's Basic login carries no second
// factor, so a password login of a user whose MFA is enabled is refused
// (401, Conjur's empty body); the user's Conjur API key, its own factor,
// still logs in, and a Conjur token stays below a password's level.
func TestBasicLoginOfMFAUserRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const pw = "Correct-Horse-42x"
	alice := e.user("alice", map[string]any{"password": pw})
	login := func() resp {
		return e.do("GET", "/authn/"+account+"/login", nil, "Authorization", basic("alice", pw))
	}
	login().expect(t, http.StatusOK, nil)
	seed := e.native("POST", "/api/v1/users/"+alice.id+"/mfa", nil, http.StatusCreated)["seed"].(string)
	login().expect(t, http.StatusOK, nil) // enrolling is not enabled
	code, err := totp.GenerateCode(seed, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e.native("POST", "/api/v1/users/"+alice.id+"/mfa/verify", map[string]any{"code": code}, http.StatusOK)
	login().expect(t, http.StatusUnauthorized, empty)
	e.do("GET", "/authn/"+account+"/login", nil, "Authorization", basic("alice", alice.key)).expect(t, http.StatusOK, nil)
	tok := e.token("alice", alice.key)
	if lvl := payload(t, tok)["lvl"]; lvl != float64(1) {
		t.Errorf("Conjur token of a key: lvl %v", lvl)
	}
}
