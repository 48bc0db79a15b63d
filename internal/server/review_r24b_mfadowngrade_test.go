package server_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/keyward/keyward/internal/console"
)

// TestReviewR24bOwnReEnrolmentDowngradesAndKeepsSession (r24b, medium): the
// console's re-stamp exception covers any 201 of POST …/users/{own}/mfa,
// including a RESET of enabled MFA. A stolen level-3 console session (password
// + TOTP) re-enrols: the account's MFA drops to "enrolling" (password logins
// no longer ask a code) and the session goes on; it then sets the password
// (no current password asked) and the new password alone signs in: the
// stolen cookie became the whole account, the owner's factor and password
// gone. Without the exception the session would end at the reset, as main's
// credential stamp (MFA state in it) intends for any change of the factor.
// Expected: a session that resets its own ENABLED factor ends (the exception
// only for a first enrolment, from none).
func TestReviewR24bOwnReEnrolmentDowngradesAndKeepsSession(t *testing.T) {
	e := newConsoleEnv(t, false)
	id := e.user("dora", false)
	seed := e.admin("POST", "/api/v1/users/"+id+"/mfa", nil, 201)["seed"].(string)
	opts := totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	now := time.Now()
	c0, _ := totp.GenerateCodeCustom(seed, now, opts)
	e.admin("POST", "/api/v1/users/"+id+"/mfa/verify", map[string]string{"code": c0}, 200)

	// dora signs in with password + TOTP: a level-3 console session (the
	// attacker holds its cookie).
	pc, a := e.signIn("dora", consolePassword)
	if pc == nil || a.status != 200 || a.json(t)["step"] != "code" {
		t.Fatalf("first step: %d %s", a.status, a.body)
	}
	c1, _ := totp.GenerateCodeCustom(seed, now.Add(30*time.Second), opts)
	a = e.do("POST", "/console/api/sign-in/code", pc.Value, map[string]string{"code": c1}, sameOrigin...)
	var cookie string
	for _, c := range (&http.Response{Header: a.header}).Cookies() {
		if c.Name == console.CookieName && c.Value != "" {
			cookie = c.Value
		}
	}
	if a.status != 200 || cookie == "" {
		t.Fatalf("code step: %d %s", a.status, a.body)
	}
	s := e.do("GET", "/console/api/session", cookie, nil).json(t)
	if s["level"].(float64) != 3 {
		t.Fatalf("level %v", s["level"])
	}
	csrf := s["csrf_token"].(string)
	hdr := []string{"Sec-Fetch-Site", "same-origin", "X-CSRF-Token", csrf}

	// The session resets dora's enabled TOTP (re-enrolment).
	if a := e.do("POST", "/console/api/v1/users/"+id+"/mfa", cookie, nil, hdr...); a.status != 201 {
		t.Fatalf("re-enrol: %d %s", a.status, a.body)
	}
	if m := e.admin("GET", "/api/v1/users/"+id, nil, 200); m["mfa"] != "enrolling" {
		t.Fatalf("mfa after re-enrol: %v", m["mfa"])
	}
	// Show the consequence before asserting: the same session sets the
	// password, and the password alone now signs in.
	const attackerPw = "ATtacker-passw0rd!"
	survived := e.do("GET", "/console/api/v1/users/"+id, cookie, nil).status == 200
	if survived {
		if a := e.do("PUT", "/console/api/v1/users/"+id+"/password", cookie, map[string]string{"password": attackerPw}, hdr...); a.status != 204 {
			t.Fatalf("password: %d %s", a.status, a.body)
		}
		if a := e.do("POST", "/api/v1/token", "", map[string]string{"login": "dora", "password": attackerPw}); a.status != 200 {
			t.Fatalf("new password alone: %d %s", a.status, a.body)
		}
		t.Fatal("a level-3 console session reset its own ENABLED TOTP (mfa now enrolling, password logins ask no code) and went on; " +
			"it then set the password without the current one and the new password alone signs in (account taken over from a stolen cookie)")
	}
}
