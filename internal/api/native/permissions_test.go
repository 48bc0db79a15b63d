package native_test

import (
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/api/native"
)

// nativeRoutes is the surface's route table, read without a core: the
// table is data, and these tests drive a real server with it.
func nativeRoutes() []api.Route { return native.New(nil, nil, account).Routes() }

// bodies are valid-looking request bodies per route; a route missing here
// gets {} (its permission is decided before the body is read anyway).
var bodies = map[string]any{
	"POST /api/v1/users":                             map[string]any{"login": "mallory-made", "kind": "user"},
	"PATCH /api/v1/users/{id}":                       map[string]any{"status": "disabled"},
	"PUT /api/v1/users/{id}/roles":                   map[string]any{"roles": []any{}},
	"PUT /api/v1/users/{id}/password":                map[string]any{"password": "NObody-new-passw0rd!"},
	"POST /api/v1/users/{id}/api-keys":               map[string]any{"description": "d"},
	"POST /api/v1/api-keys/{id}/rotate":              map[string]any{"grace_period_seconds": 0},
	"POST /api/v1/roles":                             map[string]any{"name": "r-made", "permissions": []string{"users-view"}},
	"PUT /api/v1/roles/{id}":                         map[string]any{"name": "r-renamed", "permissions": []string{}},
	"PUT /api/v1/authenticators/{type}":              map[string]any{"enabled": true, "config": map[string]string{}, "allowed": []string{}},
	"PUT /api/v1/authenticators/{type}/{service_id}": map[string]any{"enabled": true, "config": map[string]string{"jwks-uri": "https://example.com/jwks"}, "allowed": []string{}},
}

// mfaEvents are the audit events of the MFA routes.
var mfaEvents = map[string]string{
	"POST /api/v1/users/{id}/mfa":                "mfa.enroll",
	"POST /api/v1/users/{id}/mfa/verify":         "mfa.verify",
	"DELETE /api/v1/users/{id}/mfa":              "mfa.disable",
	"POST /api/v1/users/{id}/mfa/recovery-codes": "mfa.recovery_codes",
}

// fill puts values into a route pattern's path parameters.
func fill(pattern string, vals map[string]string) string {
	p := pattern
	for k, v := range vals {
		p = strings.ReplaceAll(p, "{"+k+"}", v)
	}
	if strings.Contains(p, "{") {
		panic("unfilled path parameter in " + p)
	}
	return p
}

func routeName(rt api.Route) string { return rt.Method + " " + rt.Pattern }

// TestEveryRouteRefusesCallersWithoutPermission drives every non-public
// route of the native table with a principal holding no role: a 403 in the
// native error format for another's object (real or made up, with the same
// body, so a refusal says nothing about what exists), success for the
// routes where a principal acts on itself, 401 without credentials, and an
// audited denial each time.
func TestEveryRouteRefusesCallersWithoutPermission(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	nobodyID, nobodyKey := e.createUser("nobody", "user", map[string]any{"password": goodPassword})
	nobody := e.keyToken(nobodyKey)
	// Changing one's own second factor needs a password session (level 2).
	nobodyPw := e.token(map[string]any{"login": "nobody", "password": goodPassword})
	adminKeyID := e.do("GET", "/api/v1/users/"+e.adminID+"/api-keys", e.admin, nil).want(200).items()[0]["id"].(string)
	roleID := e.createRole("existing", "users-view")
	ownKeyID, _ := e.createKey(nobodyID, map[string]any{"description": "nobody's spare"})
	auditBefore := e.auditTotal()

	real := map[string]string{"type": "authn-jwt", "service_id": "ci"}
	dummy := map[string]string{"id": "does-not-exist-0000", "type": "authn-jwt", "service_id": "nope"}
	denials := 0
	routes := nativeRoutes()
	if len(routes) < 20 {
		t.Fatalf("route table has %d routes; expected the whole native API", len(routes))
	}
	for _, rt := range routes {
		name := routeName(rt)
		if rt.Public {
			continue
		}
		body := bodies[name]
		if body == nil && rt.Request != nil {
			body = map[string]any{}
		}
		// The object that is not the caller's: admin's user, admin's key, a real role.
		other := map[string]string{"id": e.adminID, "type": real["type"], "service_id": real["service_id"]}
		switch {
		case strings.HasPrefix(rt.Pattern, "/api/v1/api-keys/"):
			other["id"] = adminKeyID
		case strings.HasPrefix(rt.Pattern, "/api/v1/roles/"):
			other["id"] = roleID
		}
		t.Run(name, func(t *testing.T) {
			e := e.on(t)
			// No credentials: 401, whatever the route.
			code, _, _ := e.do(rt.Method, fill(rt.Pattern, other), "", body).errBody(401)
			if code != "unauthenticated" {
				t.Errorf("no credentials: code %q", code)
			}
			// A malformed credential is a 401 too.
			if code, _, _ := e.do(rt.Method, fill(rt.Pattern, other), "not a token", body).errBody(401); code != "unauthenticated" {
				t.Errorf("bad credentials: code %q", code)
			}
			// Someone else's object, and a made-up one: the same 403.
			r1 := e.do(rt.Method, fill(rt.Pattern, other), nobody, body)
			code, _, msg := r1.errBody(403)
			if code != "forbidden" {
				t.Errorf("code %q, want forbidden", code)
			}
			if rt.Permission != "" && !strings.Contains(msg, rt.Permission) {
				t.Errorf("message %q does not name permission %s", msg, rt.Permission)
			}
			r2 := e.do(rt.Method, fill(rt.Pattern, dummy), nobody, body)
			r2.errBody(403)
			if string(r1.body) != string(r2.body) {
				t.Errorf("refusals differ for a real and a made-up object:\n%s\n%s", r1.body, r2.body)
			}
			denials += 2
			// Decided before the body is read: a malformed or oversized
			// body gets the same 403, not a 400 or 413.
			if rt.Request != nil {
				for _, bad := range []string{"{not json", `{"x":"` + strings.Repeat("a", 2<<20) + `"}`} {
					if r := e.do(rt.Method, fill(rt.Pattern, other), nobody, bad); string(r.body) != string(r1.body) {
						t.Errorf("bad body (%d bytes): %d %.200s, want the same 403", len(bad), r.status, r.body)
					}
					denials++
				}
			}
		})
	}

	// Admin's objects are untouched by all those refusals.
	e.do("GET", "/api/v1/users/"+e.adminID, e.admin, nil).want(200)
	e.do("GET", "/api/v1/roles/"+roleID, e.admin, nil).want(200)
	if v := e.verify(e.adminKey); v["valid"] != true {
		t.Fatalf("admin key after refusals: %v", v)
	}
	r := e.do("GET", "/api/v1/users?search=made", e.admin, nil).want(200)
	if n := r.total(); n != 0 {
		t.Errorf("a refused create wrote %d users", n)
	}

	// Every denial is audited: event authorize, failure, missing_permission.
	recs := e.audit(1000)
	got := 0
	perms := map[string]bool{}
	for _, rec := range recs[:len(recs)-auditBefore] {
		if rec["actor"] == account+":user:nobody" && rec["outcome"] == "failure" && rec["reason"] == "missing_permission" {
			got++
			perms[rec["detail"].(string)] = true
		}
	}
	if got < denials {
		t.Errorf("%d denials audited, want at least %d", got, denials)
	}
	for _, rt := range routes {
		if !rt.Public && rt.Permission != "" && !perms[rt.Permission] {
			t.Errorf("no audited denial names permission %s", rt.Permission)
		}
	}
	// Refusals before any account is known are recorded under no account,
	// so they are not in the account's list: read the table itself.
	if n := e.sqlCount("SELECT count(*) FROM audit_log WHERE reason IN ('missing_credentials','malformed_credentials') AND outcome = 'failure'"); n < 2*len(routes)-6 {
		t.Errorf("%d refusals for missing or malformed credentials audited", n)
	}

	// Self and SelfService routes succeed when the caller acts on itself.
	self := map[string]string{"type": "authn-jwt", "service_id": "ci"}
	n := 0
	for _, rt := range routes {
		if rt.Public || (rt.Self == "" && !rt.SelfService) {
			continue
		}
		n++
	}
	if n == 0 {
		t.Fatal("no self-service routes in the table")
	}
	// Order matters: rotate the spare key before revoking it.
	order := []string{}
	for _, rt := range routes {
		if !rt.Public && (rt.Self != "" || rt.SelfService) && rt.Method != "DELETE" {
			order = append(order, routeName(rt))
		}
	}
	for _, rt := range routes {
		if !rt.Public && (rt.Self != "" || rt.SelfService) && rt.Method == "DELETE" {
			order = append(order, routeName(rt))
		}
	}
	byName := map[string]api.Route{}
	for _, rt := range routes {
		byName[routeName(rt)] = rt
	}
	mfaSeed := ""
	for _, name := range order {
		rt := byName[name]
		self["id"] = nobodyID
		if strings.HasPrefix(rt.Pattern, "/api/v1/api-keys/") {
			self["id"] = ownKeyID
		}
		body := bodies[name]
		if body == nil && rt.Request != nil {
			body = map[string]any{}
		}
		auth := nobody
		if strings.Contains(rt.Pattern, "/mfa") {
			// A key session (level 1) is refused, audited; a password one is not.
			if code, _, _ := e.do(rt.Method, fill(rt.Pattern, self), nobody, body).errBody(403); code != "insufficient_level" {
				t.Errorf("%s on itself with a key: code %q, want insufficient_level", name, code)
			}
			if rec := e.findAudit(map[string]string{"actor": account + ":user:nobody", "reason": "insufficient_level",
				"event": mfaEvents[name]}); rec == nil || rec["outcome"] != "failure" {
				t.Errorf("%s on itself with a key: refusal not audited", name)
			}
			auth = nobodyPw
			if name == "POST /api/v1/users/{id}/mfa/verify" {
				body = map[string]any{"code": totpNow(t, mfaSeed)}
			}
		}
		r := e.do(rt.Method, fill(rt.Pattern, self), auth, body)
		if name == "POST /api/v1/users/{id}/mfa" && r.status == 201 {
			mfaSeed = r.str("seed")
		}
		if r.status < 200 || r.status > 299 {
			t.Errorf("%s on itself: status %d, want 2xx: %s", name, r.status, r.body)
		}
		if rt.Status != 0 && r.status != rt.Status {
			t.Errorf("%s on itself: status %d, want the table's %d", name, r.status, rt.Status)
		}
	}
	if v := e.verify(nobodyKey); v["valid"] != true {
		t.Errorf("nobody's own Conjur key stopped working: %v", v)
	}
}
