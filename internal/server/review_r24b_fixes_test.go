package server_test

import "testing"

// TestReviewR24bPasswordAuditConsole (r24b R24b-4, with the console session
// the reviewer named): the own password change through the console is
// audited with the session's authenticator, "console", not "authn".
func TestReviewR24bPasswordAuditConsole(t *testing.T) {
	e := newConsoleEnv(t, false)
	id := e.user("erin", false)
	cookie, csrf := e.session("erin")
	hdr := []string{"Sec-Fetch-Site", "same-origin", "X-CSRF-Token", csrf}
	if a := e.do("PUT", "/console/api/v1/users/"+id+"/password", cookie, map[string]string{"password": "NEw-console-passw0rd!"}, hdr...); a.status != 204 {
		t.Fatalf("own password from the console: %d %s", a.status, a.body)
	}
	items := e.admin("GET", "/api/v1/audit?event=password&outcome=success", nil, 200)["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("password records: %d", len(items))
	}
	if got := items[0].(map[string]any)["authenticator"]; got != "console" {
		t.Fatalf("own password change from the console audited with authenticator %v", got)
	}
}

// TestReviewR24bFirstEnrolmentOnly: a first enrolment (MFA none) from the
// console keeps its session; a second one (a reset of the enrolling
// factor) ends it.
func TestReviewR24bFirstEnrolmentOnly(t *testing.T) {
	e := newConsoleEnv(t, false)
	id := e.user("fay", false)
	cookie, csrf := e.session("fay")
	hdr := []string{"Sec-Fetch-Site", "same-origin", "X-CSRF-Token", csrf}
	if a := e.do("POST", "/console/api/v1/users/"+id+"/mfa", cookie, nil, hdr...); a.status != 201 {
		t.Fatalf("first enrolment: %d %s", a.status, a.body)
	}
	if a := e.do("GET", "/console/api/v1/users/"+id, cookie, nil); a.status != 200 {
		t.Fatalf("session after a first enrolment: %d %s", a.status, a.body)
	}
	if a := e.do("POST", "/console/api/v1/users/"+id+"/mfa", cookie, nil, hdr...); a.status != 201 {
		t.Fatalf("re-enrolment: %d %s", a.status, a.body)
	}
	if a := e.do("GET", "/console/api/v1/users/"+id, cookie, nil); a.status != 401 {
		t.Fatalf("session after a re-enrolment (reset of an enrolling factor): %d %s, want 401", a.status, a.body)
	}
}
