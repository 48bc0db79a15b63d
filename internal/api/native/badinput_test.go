package native_test

import (
	"strings"
	"testing"
)

// TestBadInput sends malformed bodies to every route that takes one: each
// is a 4xx in the native error format (never a 5xx), naming the field where
// there is one, and nothing is written.
func TestBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	uid, _ := e.createUser("ivy", "user", nil)
	keyID, _ := e.createKey(uid, nil)
	roleID := e.createRole("r1", "users-view")

	big := `{"login":"` + strings.Repeat("a", 2<<20) + `"}`
	type tc struct {
		name   string
		body   string
		status int
		field  string
	}
	common := []tc{
		{"malformed", `{"login":`, 400, ""},
		{"not an object", `[1,2,3]`, 400, ""},
		{"trailing data", `{} {}`, 400, ""},
		{"empty", ``, 400, ""},
		{"garbage", `}{`, 400, ""},
		{"unknown field", `{"no_such_field":1}`, 400, "no_such_field"},
		{"2 MiB", big, 413, ""},
	}
	routes := []struct {
		method, path string
		extra        []tc
	}{
		{"POST", "/api/v1/users", []tc{
			{"login type", `{"login":5}`, 400, "login"},
			{"tags type", `{"login":"x","tags":"a"}`, 400, "tags"},
			{"attributes type", `{"login":"x","attributes":{"a":1}}`, 400, "attributes"},
			{"restricted_to CIDR", `{"login":"x","restricted_to":["10.0.0.1/33"]}`, 400, "restricted_to"},
		}},
		{"PATCH", "/api/v1/users/" + uid, []tc{
			{"status type", `{"status":true}`, 400, "status"},
			{"restricted_to CIDR", `{"restricted_to":["fe80::/200"]}`, 400, "restricted_to"},
			{"annotations type", `{"annotations":["a"]}`, 400, "annotations"},
		}},
		{"PUT", "/api/v1/users/" + uid + "/roles", []tc{
			{"roles type", `{"roles":"admin"}`, 400, "roles"},
			{"period type", `{"roles":[{"id":"` + roleID + `","type":"TIME_RESTRICTED","periods":[{"start":"yesterday","end":"today"}]}]}`, 400, ""},
		}},
		{"POST", "/api/v1/users/" + uid + "/api-keys", []tc{
			{"valid_sources CIDR", `{"valid_sources":["1.2.3.4/40"]}`, 400, "valid_sources"},
			{"expires type", `{"expires_in_days":"7"}`, 400, "expires_in_days"},
			{"roles type", `{"roles":"r1"}`, 400, "roles"},
		}},
		{"POST", "/api/v1/api-keys/" + keyID + "/rotate", []tc{
			{"grace type", `{"grace_period_seconds":"60"}`, 400, "grace_period_seconds"},
		}},
		{"POST", "/api/v1/roles", []tc{
			{"permissions type", `{"name":"x","permissions":"users-view"}`, 400, "permissions"},
			{"context type", `{"name":"x","context":[]}`, 400, "context"},
			{"block type", `{"name":"x","context":{"block":"yes"}}`, 400, "context.block"},
			{"ip mask", `{"name":"x","context":{"ip_masks":["10.0.0.0/99"]}}`, 400, "context.ip_masks"},
		}},
		{"PUT", "/api/v1/roles/" + roleID, []tc{
			{"name type", `{"name":1}`, 400, "name"},
		}},
		{"POST", "/api/v1/token", []tc{
			{"api_key type", `{"api_key":123}`, 400, "api_key"},
		}},
		{"POST", "/api/v1/api-keys/verify", []tc{
			{"key type", `{"key":["a"]}`, 400, "key"},
		}},
		{"PUT", "/api/v1/authenticators/authn-jwt/ci", []tc{
			{"enabled type", `{"enabled":"yes"}`, 400, "enabled"},
			{"config type", `{"config":"jwks-uri=x"}`, 400, "config"},
		}},
	}

	usersBefore := e.do("GET", "/api/v1/users", e.admin, nil).want(200).total()
	rolesBefore := e.do("GET", "/api/v1/roles", e.admin, nil).want(200).total()
	auditBefore := e.auditTotal()
	keysBefore := string(e.do("GET", "/api/v1/users/"+uid+"/api-keys", e.admin, nil).want(200).body)
	userBefore := string(e.do("GET", "/api/v1/users/"+uid, e.admin, nil).want(200).body)
	roleBefore := string(e.do("GET", "/api/v1/roles/"+roleID, e.admin, nil).want(200).body)

	for _, rt := range routes {
		for _, c := range append(append([]tc{}, common...), rt.extra...) {
			if c.name == "empty" && (strings.HasSuffix(rt.path, "/rotate") || strings.HasSuffix(rt.path, "/api-keys")) {
				continue // every field of rotate and key creation is optional: no body means defaults
			}
			t.Run(rt.method+" "+rt.path+"/"+c.name, func(t *testing.T) {
				e := e.on(t)
				auth := e.admin
				if strings.HasSuffix(rt.path, "/token") || strings.HasSuffix(rt.path, "/verify") {
					auth = ""
				}
				r := e.do(rt.method, rt.path, auth, c.body)
				if r.status >= 500 {
					t.Fatalf("status %d: %s", r.status, r.body)
				}
				code, field, msg := r.errBody(c.status)
				if c.status == 413 && code != "too_large" {
					t.Errorf("413 code %q", code)
				}
				if c.field != "" && field != c.field {
					t.Errorf("field %q (%s), want %q", field, msg, c.field)
				}
				if c.field == "" && c.name == "unknown field" && !strings.Contains(msg, "no_such_field") {
					t.Errorf("message %q does not name the field", msg)
				}
			})
		}
	}
	// Introspect's form body over the limit is refused too.
	if r := e.do("POST", "/api/v1/token/introspect", "", "token="+strings.Repeat("a", 2<<20), "Content-Type", "application/x-www-form-urlencoded"); r.status != 413 {
		t.Errorf("2 MiB introspect form: %d", r.status)
	}

	// Nothing was written, nothing was audited.
	if n := e.do("GET", "/api/v1/users", e.admin, nil).want(200).total(); n != usersBefore {
		t.Errorf("users %d → %d", usersBefore, n)
	}
	if n := e.do("GET", "/api/v1/roles", e.admin, nil).want(200).total(); n != rolesBefore {
		t.Errorf("roles %d → %d", rolesBefore, n)
	}
	if s := string(e.do("GET", "/api/v1/users/"+uid+"/api-keys", e.admin, nil).want(200).body); s != keysBefore {
		t.Errorf("keys changed:\n%s\n%s", keysBefore, s)
	}
	if s := string(e.do("GET", "/api/v1/users/"+uid, e.admin, nil).want(200).body); s != userBefore {
		t.Errorf("user changed:\n%s\n%s", userBefore, s)
	}
	if s := string(e.do("GET", "/api/v1/roles/"+roleID, e.admin, nil).want(200).body); s != roleBefore {
		t.Errorf("role changed:\n%s\n%s", roleBefore, s)
	}
	e.do("GET", "/api/v1/authenticators/authn-jwt/ci", e.admin, nil).errBody(404)
	// Bad token and verify requests are refused before authentication, so
	// they leave no record either.
	if n := e.auditTotal(); n != auditBefore {
		t.Errorf("audit records %d → %d after refused bad input", auditBefore, n)
	}

	// Unknown routes and methods are 404/405, not 5xx.
	if r := e.do("GET", "/api/v1/nothing-here", e.admin, nil); r.status != 404 {
		t.Errorf("unknown route: %d", r.status)
	}
	if r := e.do("PATCH", "/api/v1/roles", e.admin, "{}"); r.status != 405 {
		t.Errorf("wrong method: %d", r.status)
	}
}
