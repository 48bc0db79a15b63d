package native_test

import "testing"

// TestReviewR24bPasswordBadUTF8 (r24b, low): PUT /api/v1/users/{id}/password
// with a password holding bytes that are not UTF-8 answers 204: encoding/json
// silently turns each bad byte into U+FFFD, so the password stored is not the
// one the client sent (its bytes then fail on Conjur's Basic routes, which
// compare raw bytes). Bad encodings should be a clear 400 naming password.
func TestReviewR24bPasswordBadUTF8(t *testing.T) {
	e := newEnv(t)
	const pw = "BAdutf-passw0rd!1"
	id, _ := e.createUser("bob", "user", map[string]any{"password": pw})
	tok := e.token(map[string]any{"login": "bob", "password": pw})
	r := e.do("PUT", "/api/v1/users/"+id+"/password", tok, "{\"password\":\"AAbb\xff\xfe12!!xxxxxx\"}")
	if r.status != 400 {
		t.Fatalf("password with invalid UTF-8: %d %s, want 400", r.status, r.body)
	}
}
