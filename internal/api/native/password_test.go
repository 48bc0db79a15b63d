package native_test

import "testing"

// TestChangeOwnPassword: PUT /api/v1/users/{id}/password sets the caller's
// own password with no permission, refuses a weak one (400 naming password)
// and an unauthenticated caller (401), is audited; another's password needs
// users-manage (403 without, 204 with).
func TestChangeOwnPassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const oldPw, newPw = "BObs-old-passw0rd!", "BObs-new-passw0rd!"
	id, _ := e.createUser("bob", "user", map[string]any{"password": oldPw})
	tok := e.token(map[string]any{"login": "bob", "password": oldPw})
	if _, field, _ := e.do("PUT", "/api/v1/users/"+id+"/password", tok, map[string]any{"password": "short"}).errBody(400); field != "password" {
		t.Fatalf("weak password: field %q", field)
	}
	e.do("PUT", "/api/v1/users/"+id+"/password", "", map[string]any{"password": newPw}).want(401)
	e.do("PUT", "/api/v1/users/"+id+"/password", tok, map[string]any{"password": newPw}).want(204)
	e.do("POST", "/api/v1/token", "", map[string]any{"login": "bob", "password": oldPw}).want(401)
	e.token(map[string]any{"login": "bob", "password": newPw})
	if rec := e.findAudit(map[string]string{"event": "password", "outcome": "success", "actor": "acme:user:bob"}); rec == nil {
		t.Fatal("password change not audited")
	}
	// bob holds no permission: another's password is refused, the admin sets it.
	e.do("PUT", "/api/v1/users/"+e.adminID+"/password", tok, map[string]any{"password": oldPw}).want(403)
	e.do("PUT", "/api/v1/users/"+id+"/password", e.admin, map[string]any{"password": oldPw}).want(204)
	e.token(map[string]any{"login": "bob", "password": oldPw})
}
