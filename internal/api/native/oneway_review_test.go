package native_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Tests for what the closing security review of issue 17 found; each
// failed on the change as it was reviewed.

// Review F3: a permission held for a while only is not handed on for good
// through a second principal: granting a role needs its permissions through
// a PERMANENT grant, and a narrowed key grants nothing and sets no password.
func TestReviewTimeLimitedPermissionIsNotHandedOn(t *testing.T) {
	e := newEnv(t)
	um := e.createRole("user-managers", "users-manage", "users-view")
	rv := e.createRole("role-viewers", "roles-view")
	selfID, selfKey := e.createUser("selfg", "user", nil)
	now := time.Now().UTC()
	e.do("PUT", "/api/v1/users/"+selfID+"/roles", e.admin, map[string]any{"roles": []map[string]any{
		{"id": um, "type": "PERMANENT"},
		{"id": rv, "type": "TIME_RESTRICTED", "periods": []map[string]any{{"start": now.Add(-time.Minute), "end": now.Add(time.Hour)}}},
	}}).want(200)
	sockID, _ := e.createUser("sock", "user", nil)
	tok := e.keyToken(selfKey)
	e.do("PUT", "/api/v1/users/"+sockID+"/roles", tok, map[string]any{"roles": []map[string]any{{"id": rv, "type": "PERMANENT"}}}).
		errBody(http.StatusForbidden)
	// What it holds for good it may grant.
	e.do("PUT", "/api/v1/users/"+sockID+"/roles", tok, map[string]any{"roles": []map[string]any{{"id": um, "type": "PERMANENT"}}}).want(200)

	// A source-bound key with users-manage makes no password user and no grant.
	_, bound := e.createKey(selfID, map[string]any{"valid_sources": []string{"127.0.0.0/8"}})
	btok := e.keyToken(bound)
	e.do("POST", "/api/v1/users", btok, map[string]any{"login": "escapee", "password": "Very-Good-Pass-123"}).errBody(http.StatusForbidden)
	e.do("PUT", "/api/v1/users/"+sockID+"/roles", btok, map[string]any{"roles": []map[string]any{}}).errBody(http.StatusForbidden)
	e.do("PATCH", "/api/v1/users/"+sockID, btok, map[string]any{"password": "Very-Good-Pass-123"}).errBody(http.StatusForbidden)
	// Nor a principal at all: it would come with an unnarrowed API key.
	e.do("POST", "/api/v1/users", btok, map[string]any{"login": "nopass"}).errBody(http.StatusForbidden)
}

// Review 2, finding 1: changing a role grants to every holder at once, so
// it needs the role's permissions through PERMANENT grants, and a narrowed
// key changes no role.
func TestReviewRoleChangeIsAGrant(t *testing.T) {
	e := newEnv(t)
	ops := e.createRole("ops", "users-manage", "users-view", "roles-manage", "roles-view")
	temp := e.createRole("temp", "audit-view")
	malID, malKey := e.createUser("mallory", "user", nil)
	now := time.Now().UTC()
	e.do("PUT", "/api/v1/users/"+malID+"/roles", e.admin, map[string]any{"roles": []map[string]any{
		{"id": ops, "type": "PERMANENT"},
		{"id": temp, "type": "TIME_RESTRICTED", "periods": []map[string]any{{"start": now.Add(-time.Hour), "end": now.Add(time.Hour)}}},
	}}).want(200)
	mal := e.keyToken(malKey)
	shell := e.do("POST", "/api/v1/roles", mal, map[string]any{"name": "shell", "permissions": []string{}}).want(201).str("id")
	pupID, _ := e.createUser("pup", "user", nil)
	e.do("PUT", "/api/v1/users/"+pupID+"/roles", mal, map[string]any{"roles": []map[string]any{{"id": shell, "type": "PERMANENT"}}}).want(200)
	// Filling the puppet's empty role with what mallory holds for an hour.
	e.do("PUT", "/api/v1/roles/"+shell, mal, map[string]any{"name": "shell", "permissions": []string{"audit-view"}}).errBody(http.StatusForbidden)
	// Widening her own permanent role with it.
	e.do("PUT", "/api/v1/roles/"+ops, mal, map[string]any{"name": "ops",
		"permissions": []string{"users-manage", "users-view", "roles-manage", "roles-view", "audit-view"}}).errBody(http.StatusForbidden)
	// What she holds for good she may put in a role.
	e.do("PUT", "/api/v1/roles/"+shell, mal, map[string]any{"name": "shell", "permissions": []string{"users-view"}}).want(200)
	// A narrowed admin key changes no role.
	_, nk := e.createKey(e.adminID, map[string]any{"valid_sources": []string{"127.0.0.0/8"}})
	e.do("PUT", "/api/v1/roles/"+shell, e.keyToken(nk), map[string]any{"name": "shell", "permissions": []string{"audit-view"}}).errBody(http.StatusForbidden)
	if perms := e.do("GET", "/api/v1/roles/"+shell, e.admin, nil).want(200).obj()["permissions"].([]any); len(perms) != 1 || perms[0] != "users-view" {
		t.Fatalf("role changed by a refused request: %v", perms)
	}
}

// Review 2, side note: a request the route refuses uses no floating grant.
func TestReviewRefusedRequestActivatesNothing(t *testing.T) {
	e := newEnv(t)
	fv := e.createRole("float-viewers", "users-view")
	id, key := e.createUser("flo", "user", nil)
	e.do("PUT", "/api/v1/users/"+id+"/roles", e.admin, map[string]any{"roles": []map[string]any{
		{"id": fv, "type": "FLOATING", "floating_length": 1}}}).want(200)
	e.do("GET", "/api/v1/audit", key, nil).errBody(http.StatusForbidden)
	gs, _ := e.do("GET", "/api/v1/users/"+id+"/roles", e.admin, nil).want(200).obj()["roles"].([]any)
	if len(gs) != 1 || gs[0].(map[string]any)["activated_at"] != nil {
		t.Fatalf("a refused request started the floating grant's clock: %v", gs)
	}
	e.do("GET", "/api/v1/users", key, nil).want(200)
	gs, _ = e.do("GET", "/api/v1/users/"+id+"/roles", e.admin, nil).want(200).obj()["roles"].([]any)
	if gs[0].(map[string]any)["activated_at"] == nil {
		t.Fatal("using the floating grant did not start its clock")
	}
}

// Review F4: a floating grant used only through verify starts its clock.
func TestReviewVerifyActivatesFloatingGrants(t *testing.T) {
	e := newEnv(t)
	um := e.createRole("float-managers", "users-manage")
	id, key := e.createUser("floatv", "user", nil)
	e.do("PUT", "/api/v1/users/"+id+"/roles", e.admin, map[string]any{"roles": []map[string]any{
		{"id": um, "type": "FLOATING", "floating_length": 1}}}).want(200)
	if v := e.verify(key); v["valid"] != true {
		t.Fatalf("verify: %v", v)
	}
	gs, _ := e.do("GET", "/api/v1/users/"+id+"/roles", e.admin, nil).want(200).obj()["roles"].([]any)
	if len(gs) != 1 || gs[0].(map[string]any)["activated_at"] == nil {
		t.Fatalf("after a verify the floating grant is not activated: %v", gs)
	}
	if e.findAudit(map[string]string{"event": "grant.activate"}) == nil {
		t.Fatal("the activation is not audited")
	}
}

// Review F5: deleting a role needs its permissions, as replacing does: it
// would strip its holders of what protects them from lesser managers.
func TestReviewDeletingARoleNeedsItsPermissions(t *testing.T) {
	e := newEnv(t)
	team := e.createRole("audit-team", "audit-view", "users-view")
	rm := e.createRole("role-managers", "roles-manage", "roles-view")
	mgrID, mgrKey := e.createUser("rolemgr", "user", nil)
	e.grant(mgrID, rm)
	e.do("DELETE", "/api/v1/roles/"+team, e.keyToken(mgrKey), nil).errBody(http.StatusForbidden)
	e.do("GET", "/api/v1/roles/"+team, e.admin, nil).want(200)
	weak := e.createRole("weak", "roles-view")
	e.do("DELETE", "/api/v1/roles/"+weak, e.keyToken(mgrKey), nil).want(http.StatusNoContent)
}

// Review F6: the password throttle counts per principal, whatever the
// spelling of its login.
func TestReviewThrottleCountsPerPrincipal(t *testing.T) {
	e := newEnv(t)
	pw := "Very-Good-Pass-123"
	e.createUser("tina", "user", map[string]any{"password": pw})
	limited := false
	for i := 0; i < 12 && !limited; i++ {
		login := "tina"
		if i%2 == 1 {
			login = "user/tina"
		}
		r := e.do("POST", "/api/v1/token", "", map[string]any{"account": account, "login": login, "password": "wrong-" + pw})
		limited = r.status == http.StatusTooManyRequests
	}
	if !limited {
		t.Fatal("12 failures split between tina and user/tina were never throttled")
	}
	r := e.do("POST", "/api/v1/token", "", map[string]any{"account": account, "login": "user/tina", "password": pw})
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("the other spelling of a throttled login: %d, want 429", r.status)
	}
}

// Review F8: client_ip is honoured only for keys of the verify caller's own
// account.
func TestReviewClientIPOnlyForOwnAccount(t *testing.T) {
	e := newEnv(t)
	otherAdmin, err := e.s.Init(context.Background(), "other")
	if err != nil {
		t.Fatal(err)
	}
	id, key := e.createUser("bound", "user", nil)
	_, k := e.createKey(id, map[string]any{"valid_sources": []string{"10.0.0.0/8"}})
	_ = key
	verifier := e.keyToken(otherAdmin) // admin of another account: holds api-keys-verify there
	r := e.do("POST", "/api/v1/api-keys/verify", verifier, map[string]any{"key": k, "client_ip": "10.1.1.1"}).want(200).obj()
	if r["valid"] == true {
		t.Fatalf("another account's resource server vouched for this account's client: %v", r)
	}
	vr := e.createRole("verifiers", "api-keys-verify")
	rsID, rsKey := e.createUser("rs", "host", nil)
	e.grant(rsID, vr)
	r = e.do("POST", "/api/v1/api-keys/verify", rsKey, map[string]any{"key": k, "client_ip": "10.1.1.1"}).want(200).obj()
	if r["valid"] != true {
		t.Fatalf("own account's resource server: %v", r)
	}
}

// Review F9: a role's update record says what it was, a rename included.
func TestReviewRoleUpdateRecordsTheOldName(t *testing.T) {
	e := newEnv(t)
	id := e.createRole("staff")
	e.do("PUT", "/api/v1/roles/"+id, e.admin, map[string]any{"name": "ghost", "permissions": []string{}}).want(200)
	rec := e.findAudit(map[string]string{"event": "role.update"})
	if rec == nil || !strings.Contains(rec["detail"].(string), "was staff") {
		t.Fatalf("role.update record does not name the old name: %v", rec)
	}
}
