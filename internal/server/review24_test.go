package server_test

import "testing"

// A console session must not outlive a password change (made by an admin,
// e.g. after a compromise): the console reissues core tokens from the
// session it stored at sign-in for up to 12 h, so the old session keeps
// working although every native token expires within the token TTL.
func TestReview24ConsoleSessionEndsOnPasswordChange(t *testing.T) {
	e := newConsoleEnv(t, false)
	id := e.user("bob", false)
	cookie, _ := e.session("bob")
	if a := e.do("GET", "/console/api/v1/users/"+id, cookie, nil); a.status != 200 {
		t.Fatalf("before: %d %s", a.status, a.body)
	}
	e.admin("PATCH", "/api/v1/users/"+id, map[string]any{"password": "An0ther-l0ng-Passw0rd!"}, 200)
	if a := e.do("GET", "/console/api/v1/users/"+id, cookie, nil); a.status != 401 {
		t.Errorf("console API after password change: %d, want 401: %s", a.status, a.body)
	}
	if s := e.do("GET", "/console/api/session", cookie, nil).json(t); s["signed_in"] != false {
		t.Errorf("session after password change still signed in: %v", s)
	}
}
