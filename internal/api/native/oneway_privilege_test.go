package native_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Tests for issue 17 ("One way in"): each reproduces one finding through the
// HTTP surface and fails on the code the issue was filed against. Run them
// with -run Finding.

// grantBody is a PUT /api/v1/users/{id}/roles body.
func grantBody(gs ...map[string]any) map[string]any {
	if gs == nil {
		gs = []map[string]any{}
	}
	return map[string]any{"roles": gs}
}

// periodAt is a TIME_RESTRICTED period from now+from to now+to.
func periodAt(now time.Time, from, to time.Duration) map[string]any {
	return map[string]any{"start": now.Add(from).Format(time.RFC3339), "end": now.Add(to).Format(time.RFC3339)}
}

// setGrants sets a principal's grants as the admin.
func (e *env) setGrants(id string, gs ...map[string]any) {
	e.t.Helper()
	e.do("PUT", "/api/v1/users/"+id+"/roles", e.admin, grantBody(gs...)).want(200)
}

// grantsJSON is a principal's grant list as the admin reads it.
func (e *env) grantsJSON(id string) string {
	e.t.Helper()
	return string(e.do("GET", "/api/v1/users/"+id+"/roles", e.admin, nil).want(200).body)
}

// member makes a user holding a new role with perms and returns its id and
// an access token from its key.
func (e *env) member(login string, perms ...string) (id, tok string) {
	e.t.Helper()
	rid := e.createRole(login+"-role", perms...)
	id, key := e.createUser(login, "user", nil)
	e.grant(id, rid)
	return id, e.keyToken(key)
}

// Finding 1: authenticators-manage alone must not admit, through a service's
// allowed list, a principal the caller does not outrank.
func TestFinding1AuthenticatorsManageCannotAdmitStrongerPrincipals(t *testing.T) {
	e := newEnv(t)
	pk := publicKeys(t)
	_, mgr := e.member("authmgr", "authenticators-manage")
	userMgrRole := e.createRole("usermgrs", "users-manage")
	emptyRole := e.createRole("hollow")
	strongID, _ := e.createUser("strong", "user", nil)
	e.grant(strongID, userMgrRole, emptyRole) // a stronger user holds the empty role
	e.createUser("plain", "user", nil)        // holds nothing: outranked by anyone

	put := func(svc string, allowed ...string) *resp {
		return e.do("PUT", "/api/v1/authenticators/authn-jwt/"+svc, mgr, map[string]any{"enabled": true,
			"config": map[string]any{"public-keys": pk, "issuer": "https://ci.example.com"}, "allowed": allowed})
	}
	for _, tc := range []struct{ svc, allowed string }{
		{"admin-user", "user:admin"},
		{"admin-role", "role:admin"},
		{"manager-role", "role:usermgrs"},
		{"held-by-stronger", "role:hollow"},
	} {
		t.Run(tc.allowed, func(t *testing.T) {
			e := e.on(t)
			if r := put(tc.svc, tc.allowed); r.status != http.StatusForbidden {
				t.Errorf("authenticators-manage PUT with allowed [%s]: status %d, want 403; body %s", tc.allowed, r.status, r.body)
			} else {
				r.errBody(http.StatusForbidden)
			}
			if r := e.do("GET", "/api/v1/authenticators/authn-jwt/"+tc.svc, e.admin, nil); r.status != http.StatusNotFound {
				t.Errorf("refused service was stored: GET as admin %d, want 404; body %s", r.status, r.body)
			}
		})
	}
	// A principal the caller outranks may be admitted.
	put("plain", "user:plain").want(http.StatusOK)
}

// Finding 2: roles-manage must not put into a role, or free from its
// context, a permission the caller lacks.
func TestFinding2RolesManageCannotWidenRoles(t *testing.T) {
	e := newEnv(t)
	mineID := e.createRole("mine", "roles-manage")
	callerID, key := e.createUser("rolemgr", "user", nil)
	e.grant(callerID, mineID)
	tok := e.keyToken(key)
	emptyID := e.createRole("empty")
	allDays := []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
	blockedID := e.do("POST", "/api/v1/roles", e.admin, map[string]any{"name": "blocked", "permissions": []string{"audit-view"},
		"context": map[string]any{"weekdays": allDays, "block": true}}).want(201).str("id")
	spareID := e.createRole("spare")

	for _, tc := range []struct {
		name, id string
		body     map[string]any
	}{
		{"widen a role one holds", mineID, map[string]any{"name": "mine", "permissions": []string{"roles-manage", "users-manage"}}},
		{"fill an empty role", emptyID, map[string]any{"name": "empty", "permissions": []string{"users-manage"}}},
		{"drop the block context", blockedID, map[string]any{"name": "blocked", "permissions": []string{"audit-view"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.on(t)
			before := string(e.do("GET", "/api/v1/roles/"+tc.id, e.admin, nil).want(200).body)
			if r := e.do("PUT", "/api/v1/roles/"+tc.id, tok, tc.body); r.status != http.StatusForbidden {
				t.Errorf("status %d, want 403; body %s", r.status, r.body)
			} else {
				r.errBody(http.StatusForbidden)
			}
			if after := string(e.do("GET", "/api/v1/roles/"+tc.id, e.admin, nil).want(200).body); after != before {
				t.Errorf("role changed:\n before %s\n  after %s", before, after)
			}
		})
	}
	t.Run("within its own permissions", func(t *testing.T) {
		e := e.on(t)
		e.do("PUT", "/api/v1/roles/"+spareID, tok, map[string]any{"name": "spare", "permissions": []string{"roles-manage"}}).want(200)
	})
}

// Finding 4: a key narrowed by roles or sources, or a token minted from one,
// must not change its owner's password or restricted_to.
func TestFinding4NarrowedKeyCannotRewriteOwner(t *testing.T) {
	e := newEnv(t)
	um := e.createRole("user-managers", "users-manage", "users-view")
	bobID, _ := e.createUser("bob", "user", map[string]any{"password": goodPassword})
	e.grant(bobID, um)
	_, scoped := e.createKey(bobID, map[string]any{"roles": []string{um}})
	_, sourced := e.createKey(bobID, map[string]any{"valid_sources": []string{"127.0.0.0/8"}})
	creds := map[string]string{
		"scoped key": scoped, "scoped token": e.keyToken(scoped),
		"source-bound key": sourced, "source-bound token": e.keyToken(sourced),
	}
	const newPassword = "Battery-Staple-77q"
	for name, cred := range creds {
		for _, patch := range []map[string]any{
			{"password": newPassword},
			{"restricted_to": []string{"127.0.0.1/32", "10.0.0.0/8"}},
		} {
			r := e.do("PATCH", "/api/v1/users/"+bobID, cred, patch)
			if r.status != http.StatusForbidden {
				t.Errorf("%s PATCH %v on its owner: status %d, want 403; body %s", name, patch, r.status, r.body)
			}
		}
	}
	r := e.do("POST", "/api/v1/token", "", map[string]any{"account": account, "login": "bob", "password": goodPassword})
	if r.status != 200 {
		t.Errorf("the old password no longer logs in: %d %s", r.status, r.body)
	}
	if got := e.do("GET", "/api/v1/users/"+bobID, e.admin, nil).want(200).obj()["restricted_to"]; len(strs(got)) != 0 {
		t.Errorf("restricted_to changed to %v", got)
	}
}

// Finding 5: outranking counts grants that may still hold: a future or
// next TIME_RESTRICTED period, and a FLOATING grant not yet activated.
func TestFinding5OutrankingCountsGrantsNotValidNow(t *testing.T) {
	e := newEnv(t)
	adminRole := e.adminRoleID()
	_, mgr := e.member("manager", "users-manage", "users-view", "api-keys-manage")
	now := time.Now().UTC()
	for _, tc := range []struct {
		name  string
		grant map[string]any
	}{
		{"admin from in an hour", map[string]any{"id": adminRole, "type": "TIME_RESTRICTED", "periods": []any{periodAt(now, time.Hour, 2*time.Hour)}}},
		{"admin between two periods", map[string]any{"id": adminRole, "type": "TIME_RESTRICTED",
			"periods": []any{periodAt(now, -2*time.Hour, -time.Hour), periodAt(now, time.Hour, 2*time.Hour)}}},
		{"floating admin not yet activated", map[string]any{"id": adminRole, "type": "FLOATING", "floating_length": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.on(t)
			login := "victim-" + strings.ReplaceAll(tc.name, " ", "-")
			vid, _ := e.createUser(login, "user", map[string]any{"password": goodPassword})
			e.setGrants(vid, tc.grant)
			if r := e.do("POST", "/api/v1/users/"+vid+"/api-keys", mgr, map[string]any{}); r.status != http.StatusForbidden {
				t.Errorf("minting a key: status %d, want 403; body %s", r.status, r.body)
			}
			if r := e.do("PATCH", "/api/v1/users/"+vid, mgr, map[string]any{"password": "Battery-Staple-77q"}); r.status != http.StatusForbidden {
				t.Errorf("changing the password: status %d, want 403; body %s", r.status, r.body)
			}
			if r := e.do("DELETE", "/api/v1/users/"+vid, mgr, nil); r.status != http.StatusForbidden {
				t.Errorf("deleting: status %d, want 403; body %s", r.status, r.body)
			}
		})
	}
}

// Finding 6: an id of another account answers like an id that exists
// nowhere, cold or warm cache, and its principal keeps its permissions.
func TestFinding6ForeignIDIsNotFound(t *testing.T) {
	e := newEnv(t)
	otherKey, err := e.s.Init(context.Background(), "other")
	if err != nil {
		t.Fatalf("init second account: %v", err)
	}
	other := e.keyToken(otherKey)
	rid := e.do("POST", "/api/v1/roles", other, map[string]any{"name": "mgr",
		"permissions": []string{"users-manage", "users-view", "api-keys-manage"}}).want(201).str("id")
	bid := e.do("POST", "/api/v1/users", other, map[string]any{"login": "bmgr", "kind": "user"}).want(201).str("id")
	e.do("PUT", "/api/v1/users/"+bid+"/roles", other, grantBody(map[string]any{"id": rid})).want(200)
	bKey := e.do("POST", "/api/v1/users/"+bid+"/api-keys", other, map[string]any{}).want(201).str("key")
	b := e.keyToken(bKey)

	foreign := e.adminID
	missing := strings.Repeat("a", len(foreign)) // same length and alphabet as a real id
	if missing == foreign {
		missing = strings.Repeat("b", len(foreign))
	}
	ops := []struct {
		name, method, suffix string
		body                 any
	}{
		{"set grants", "PUT", "/roles", grantBody()},
		{"get", "GET", "", nil},
		{"patch", "PATCH", "", map[string]any{"password": "Battery-Staple-77q"}},
		{"delete", "DELETE", "", nil},
		{"mint key", "POST", "/api-keys", map[string]any{}},
	}
	// Not subtests: the cold phase restarts the server under e.
	for _, op := range ops {
		call := func(id string) *resp {
			return e.do(op.method, "/api/v1/users/"+id+op.suffix, b, op.body)
		}
		for _, phase := range []string{"cold", "warm"} {
			e.close()
			e.open()
			if phase == "warm" { // A's admin's grants are in the cache
				e.do("GET", "/api/v1/users?limit=1", e.admin, nil).want(200)
			}
			want := call(missing)
			want.errBody(http.StatusNotFound)
			got := call(foreign)
			wantBody := strings.ReplaceAll(string(want.body), missing, "ID")
			gotBody := strings.ReplaceAll(string(got.body), foreign, "ID")
			if got.status != want.status || gotBody != wantBody {
				t.Errorf("%s, %s cache: foreign id answered %d %s; an id that exists nowhere %d %s",
					op.name, phase, got.status, got.body, want.status, want.body)
			}
			// The foreign principal keeps its permissions.
			if r := e.do("GET", "/api/v1/users?limit=1", e.admin, nil); r.status != 200 {
				t.Errorf("%s, %s cache: account A's admin lost its permissions: %d %s", op.name, phase, r.status, r.body)
			}
		}
	}
	// Still the admin, and still there, after everything.
	e.do("GET", "/api/v1/users/"+e.adminID, e.admin, nil).want(200)
	e.do("GET", "/api/v1/audit?limit=1", e.admin, nil).want(200)
}

// Finding 11: a holder of a time-limited grant must not extend it.
func TestFinding11TimeLimitedGrantCannotExtendItself(t *testing.T) {
	e := newEnv(t)
	um := e.createRole("user-managers", "users-manage", "users-view")
	extra := e.createRole("auditors", "audit-view")
	uid, key := e.createUser("temp", "user", nil)
	tok := e.keyToken(key)
	now := time.Now().UTC()
	keep := map[string]any{"id": um, "type": "PERMANENT"}

	t.Run("TIME_RESTRICTED", func(t *testing.T) {
		e := e.on(t)
		e.setGrants(uid, keep, map[string]any{"id": extra, "type": "TIME_RESTRICTED", "periods": []any{periodAt(now, -time.Hour, time.Hour)}})
		e.do("GET", "/api/v1/audit?limit=1", tok, nil).want(200) // the grant holds now
		before := e.grantsJSON(uid)
		for _, g := range []map[string]any{
			{"id": extra, "type": "PERMANENT"},
			{"id": extra, "type": "TIME_RESTRICTED", "periods": []any{periodAt(now, -time.Hour, 24*365*time.Hour)}},
		} {
			if r := e.do("PUT", "/api/v1/users/"+uid+"/roles", tok, grantBody(keep, g)); r.status != http.StatusForbidden {
				t.Errorf("own grant made %v: status %d, want 403; body %s", g, r.status, r.body)
			}
			if after := e.grantsJSON(uid); after != before {
				t.Errorf("grants changed:\n before %s\n  after %s", before, after)
				e.setGrants(uid, keep, map[string]any{"id": extra, "type": "TIME_RESTRICTED", "periods": []any{periodAt(now, -time.Hour, time.Hour)}})
				before = e.grantsJSON(uid)
			}
		}
	})
	t.Run("FLOATING", func(t *testing.T) {
		e := e.on(t)
		e.setGrants(uid, keep, map[string]any{"id": extra, "type": "FLOATING", "floating_length": 1})
		e.do("GET", "/api/v1/audit?limit=1", tok, nil).want(200) // first use activates it
		before := e.grantsJSON(uid)
		if !strings.Contains(before, "activated_at") {
			t.Fatalf("floating grant not activated by use: %s", before)
		}
		g := map[string]any{"id": extra, "type": "FLOATING", "floating_length": 8000}
		if r := e.do("PUT", "/api/v1/users/"+uid+"/roles", tok, grantBody(keep, g)); r.status != http.StatusForbidden {
			t.Errorf("own floating grant raised to 8000 h: status %d, want 403; body %s", r.status, r.body)
		}
		if after := e.grantsJSON(uid); after != before {
			t.Errorf("grants changed:\n before %s\n  after %s", before, after)
		}
	})
}

// Finding 13: a user login may not take a Conjur kind prefix.
func TestFinding13UserLoginCannotLookLikeAKind(t *testing.T) {
	e := newEnv(t)
	for _, login := range []string{"host/x", "user/x"} {
		r := e.do("POST", "/api/v1/users", e.admin, map[string]any{"login": login, "kind": "user"})
		if r.status != http.StatusBadRequest {
			t.Errorf("user %q: status %d, want 400; body %s", login, r.status, r.body)
			continue
		}
		if _, field, _ := r.errBody(http.StatusBadRequest); field != "login" {
			t.Errorf("user %q: field %q, want login", login, field)
		}
	}
}
