package native_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// Finding 15: the records of privilege changes name the acting key and what
// changed, and hold no secret.
func TestFinding15PrivilegeChangesAuditedWithContent(t *testing.T) {
	e := newEnv(t)
	pk := publicKeys(t)
	viewer := e.createRole("viewer", "users-view")
	auditor := e.createRole("auditor", "audit-view")
	target, _ := e.createUser("target", "user", nil)
	keyID, key := e.createKey(e.adminID, nil) // the admin acting through a plain API key

	// A password session with every permission.
	const patPassword = "Pat-Password-55x"
	patID, _ := e.createUser("pat", "user", map[string]any{"password": patPassword})
	e.grant(patID, e.adminRoleID())
	pat := e.token(map[string]any{"account": account, "login": "pat", "password": patPassword})

	const bindPW, clientSecret = "ldap-Bind-Secret-77", "oidc-Client-Secret-88"
	newPasswords := []string{"Audit-Secret-Pass-91z", "Audit-Secret-Pass-92y"}
	now := time.Now().UTC()
	// round runs the four privilege changes with cred; each round changes
	// every value, so "what changed" is the same list both times.
	type round struct {
		perms                   []string
		viewerType, auditorType string
		email, cidr, status     string
		password                string
		allowed, issuer         string
		settings                []string // setting names that change
	}
	grant := func(id, typ string) map[string]any {
		g := map[string]any{"id": id, "type": typ}
		if typ == "TIME_RESTRICTED" {
			g["periods"] = []any{periodAt(now, -time.Hour, time.Hour)}
		}
		return g
	}
	run := func(who, cred, wantKeyID string, rd round) {
		t.Helper()
		e.do("PUT", "/api/v1/users/"+target+"/roles", cred, grantBody(grant(viewer, rd.viewerType), grant(auditor, rd.auditorType))).want(200)
		e.do("PUT", "/api/v1/roles/"+auditor, cred, map[string]any{"name": "auditor", "permissions": rd.perms}).want(200)
		e.do("PATCH", "/api/v1/users/"+target, cred, map[string]any{"email": rd.email, "password": rd.password,
			"restricted_to": []string{rd.cidr}, "status": rd.status}).want(200)
		e.do("PUT", "/api/v1/authenticators/authn-jwt/ci", cred, map[string]any{"enabled": true,
			"config": map[string]any{"public-keys": pk, "issuer": rd.issuer}, "allowed": []string{rd.allowed}}).want(200)
		want := map[string][]string{
			"grant.set":         {viewer + "|viewer", auditor + "|auditor", rd.viewerType, rd.auditorType},
			"role.update":       rd.perms,
			"user.update":       {"email", "password", "restricted_to", rd.cidr, "status", rd.status},
			"authenticator.put": append([]string{rd.allowed}, rd.settings...),
		}
		for event, parts := range want {
			rec := e.findAudit(map[string]string{"event": event})
			if rec == nil {
				t.Errorf("%s: no %s record", who, event)
				continue
			}
			if got, _ := rec["key_id"].(string); got != wantKeyID {
				t.Errorf("%s: %s record key_id %q, want %q", who, event, got, wantKeyID)
			}
			detail, _ := rec["detail"].(string)
			for _, p := range parts { // "a|b": either a or b
				if !slices.ContainsFunc(strings.Split(p, "|"), func(alt string) bool { return strings.Contains(detail, alt) }) {
					t.Errorf("%s: %s record detail %q does not name %q", who, event, detail, p)
				}
			}
		}
	}
	run("API key", key, keyID, round{perms: []string{"audit-view", "users-view"}, viewerType: "PERMANENT", auditorType: "TIME_RESTRICTED",
		email: "t@example.org", cidr: "10.0.0.0/8", status: "disabled", password: newPasswords[0],
		allowed: "host:apps/ci", issuer: "https://ci.example.com", settings: []string{"issuer", "public-keys"}})

	// Secret settings: their names may appear, their values never.
	e.do("PUT", "/api/v1/authenticators/authn-ldap/corp", key, map[string]any{"enabled": true, "allowed": []string{},
		"config": map[string]any{"host": "127.0.0.1", "port": "1", "base_dn": "dc=example,dc=com",
			"bind_dn": "cn=admin,dc=example,dc=com", "bind-password": bindPW}}).want(200)
	if rec := e.findAudit(map[string]string{"event": "authenticator.put"}); rec == nil || !strings.Contains(str(rec["detail"]), "bind_dn") {
		t.Errorf("authn-ldap record does not name its settings: %v", rec)
	}
	e.do("PUT", "/api/v1/authenticators/authn-oidc/sso", key, map[string]any{"enabled": true, "allowed": []string{},
		"config": map[string]any{"provider-uri": "http://127.0.0.1:1/", "client-id": "keyward", "client-secret": clientSecret,
			"claim-mapping": "email", "redirect-uri": "https://keyward.example.com/callback"}}).want(200)

	run("password session", pat, "", round{perms: []string{"audit-view"}, viewerType: "TIME_RESTRICTED", auditorType: "PERMANENT",
		email: "u@example.org", cidr: "192.168.0.0/16", status: "active", password: newPasswords[1],
		allowed: "host:apps/cd", issuer: "https://cd.example.com", settings: []string{"issuer"}})

	for _, rec := range e.audit(1000) {
		for k, v := range rec {
			s, _ := v.(string)
			for _, secret := range []string{newPasswords[0], newPasswords[1], patPassword, bindPW, clientSecret} {
				if strings.Contains(s, secret) {
					t.Errorf("audit record %v shows a secret in %s", rec["event"], k)
				}
			}
		}
	}
}

// Also (issue 17): verify honours client_ip only for a caller holding
// api-keys-verify.
func TestFindingAlsoVerifyClientIP(t *testing.T) {
	e := newEnv(t)
	uid, _ := e.createUser("holder", "user", nil)
	_, wide := e.createKey(uid, map[string]any{"valid_sources": []string{"10.0.0.0/8"}})
	_, local := e.createKey(uid, map[string]any{"valid_sources": []string{"127.0.0.1/32"}})
	verify := func(auth, key string) map[string]any {
		t.Helper()
		r := e.do("POST", "/api/v1/api-keys/verify", auth, map[string]any{"key": key, "client_ip": "10.1.2.3"})
		if r.status != http.StatusOK {
			t.Errorf("verify with client_ip (auth %t): status %d, want 200; body %s", auth != "", r.status, r.body)
			return nil
		}
		return r.obj()
	}
	sourceRefused := func(who string, v map[string]any) {
		t.Helper()
		if v != nil && (v["valid"] != false || v["code"] != "source_not_allowed") {
			t.Errorf("%s: %v, want valid:false code source_not_allowed", who, v)
		}
	}
	// Anonymous, from 127.0.0.1: client_ip is ignored.
	sourceRefused("anonymous, 10/8 key", verify("", wide))

	r := e.do("POST", "/api/v1/roles", e.admin, map[string]any{"name": "resource-servers", "permissions": []string{"api-keys-verify"}})
	if r.status != http.StatusCreated {
		t.Fatalf("role with permission api-keys-verify: status %d, want 201; body %s", r.status, r.body)
	}
	rsID, rsKey := e.createUser("resource-server", "host", nil)
	e.grant(rsID, r.str("id"))
	rs := e.keyToken(rsKey)
	_, other := e.member("viewer", "users-view")

	// A caller without the permission: still ignored.
	sourceRefused("users-view caller, 10/8 key", verify(other, wide))
	// The resource server's client is 10.1.2.3.
	if v := verify(rs, wide); v != nil && v["valid"] != true {
		t.Errorf("api-keys-verify caller, 10/8 key, client 10.1.2.3: %v, want valid:true", v)
	}
	sourceRefused("api-keys-verify caller, 127.0.0.1/32 key, client 10.1.2.3", verify(rs, local))
}

// str is v as a string, or "" when it is not one (an absent member).
func str(v any) string {
	s, _ := v.(string)
	return s
}
