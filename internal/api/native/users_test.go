package native_test

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

const goodPassword = "Correct-Horse-42x"

func TestTokenExchange(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, aliceKey := e.createUser("alice", "user", map[string]any{"password": goodPassword})
	_, hostKey := e.createUser("apps/myapp", "host", nil)
	e.createUser("apps/withpw", "host", map[string]any{"password": goodPassword}) // hosts may have passwords too

	ok := []struct {
		name string
		body map[string]any
		sub  string
	}{
		{"api key with account and login", map[string]any{"account": account, "login": "alice", "api_key": aliceKey}, "alice"},
		{"api key with login, default account", map[string]any{"login": "alice", "api_key": aliceKey}, "alice"},
		{"password", map[string]any{"account": account, "login": "alice", "password": goodPassword}, "alice"},
		{"key alone", map[string]any{"api_key": aliceKey}, "alice"},
		{"host with bare login", map[string]any{"account": account, "login": "apps/myapp", "api_key": hostKey}, "host/apps/myapp"},
		{"host key alone", map[string]any{"api_key": hostKey}, "host/apps/myapp"},
		{"host with a password", map[string]any{"account": account, "login": "apps/withpw", "password": goodPassword}, "host/apps/withpw"},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			e := e.on(t)
			tok := e.token(tc.body)
			in := e.form("/api/v1/token/introspect", map[string][]string{"token": {tok}}).want(200).obj()
			if in["active"] != true || in["sub"] != tc.sub || in["account"] != account {
				t.Fatalf("introspect: %v", in)
			}
			if exp := int64(in["exp"].(float64)); exp <= time.Now().Unix() || exp > time.Now().Add(9*time.Minute).Unix() {
				t.Errorf("exp %d is not within the default 8 minutes", exp)
			}
			// The token works as a bearer on the native API.
			e.do("GET", "/api/v1/users/"+e.adminID, tok, nil).errBody(403)
		})
	}

	// Failures: one generic 401 body, whatever the reason.
	bad := []struct {
		name string
		body map[string]any
	}{
		{"wrong secret", map[string]any{"account": account, "login": "alice", "api_key": aliceKey[:len(aliceKey)-8] + "AAAAAAAA"}},
		{"key of another login", map[string]any{"account": account, "login": "apps/myapp", "api_key": aliceKey}},
		{"unknown login with key", map[string]any{"account": account, "login": "ghost", "api_key": aliceKey}},
		{"unknown login with password", map[string]any{"account": account, "login": "ghost", "password": goodPassword}},
		{"wrong password", map[string]any{"account": account, "login": "alice", "password": goodPassword + "!"}},
		{"password of a host without one", map[string]any{"account": account, "login": "apps/myapp", "password": goodPassword}},
		{"wrong account", map[string]any{"account": "other", "login": "alice", "api_key": aliceKey}},
		{"garbage key alone", map[string]any{"api_key": "kw_nonsense"}},
	}
	var first []byte
	for _, tc := range bad {
		r := e.do("POST", "/api/v1/token", "", tc.body)
		code, field, _ := r.errBody(401)
		if code != "unauthenticated" || field != "" {
			t.Errorf("%s: code %q field %q", tc.name, code, field)
		}
		if r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: no WWW-Authenticate", tc.name)
		}
		if first == nil {
			first = r.body
		} else if string(r.body) != string(first) {
			t.Errorf("%s: body %s differs from %s", tc.name, r.body, first)
		}
	}
	// The reasons are in the audit, not the answer.
	rec := e.findAudit(map[string]string{"event": "token", "actor": account + ":user:ghost"})
	if rec == nil || rec["outcome"] != "failure" || rec["reason"] != "unknown_login" {
		t.Errorf("unknown login audit record: %v", rec)
	}
	if rec := e.findAudit(map[string]string{"event": "token", "reason": "bad_password"}); rec == nil || rec["actor"] != account+":user:alice" {
		t.Errorf("wrong password audit record: %v", rec)
	}

	// Bad requests are 400 naming the field.
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"login": "alice"}, "api_key"},
		{map[string]any{"password": goodPassword}, "login"},
		{map[string]any{"login": "alice", "password": goodPassword, "api_key": aliceKey}, "password"},
	} {
		if _, field, _ := e.do("POST", "/api/v1/token", "", tc.body).errBody(400); field != tc.field {
			t.Errorf("%v: field %q, want %q", tc.body, field, tc.field)
		}
	}
}

func TestUsersCRUD(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	r := e.do("POST", "/api/v1/users", e.admin, map[string]any{
		"login": "bob", "kind": "user", "email": "bob@example.com", "display_name": "Bob",
		"attributes": map[string]string{"team": "ops"}, "tags": []string{"a", "b"}, "restricted_to": []string{"10.0.0.0/8"},
		"annotations": map[string]string{"authn-jwt/ci/ref": "main"},
	}).want(201)
	bob := r.obj()
	for k, want := range map[string]any{"login": "bob", "kind": "user", "email": "bob@example.com", "display_name": "Bob", "status": "active"} {
		if bob[k] != want {
			t.Errorf("created %s = %v, want %v", k, bob[k], want)
		}
	}
	if id, _ := bob["id"].(string); id == "" {
		t.Fatalf("no id: %s", r.body)
	}
	if k, _ := bob["api_key"].(string); len(k) < 20 || k[:3] != "kw_" {
		t.Fatalf("api_key %q is not a keyward key", bob["api_key"])
	}
	if _, nested := bob["user"]; nested {
		t.Error("user fields are nested, not top level")
	}
	bobID := bob["id"].(string)

	// Logins with every allowed character; hosts too.
	for _, l := range []string{"a/b@c.d-e_f", "x", "Deploy.Bot_1", "host-like/with/segments"} {
		for _, kind := range []string{"user", "host"} {
			id, _ := e.createUser(l, kind, nil)
			got := e.do("GET", "/api/v1/users/"+id, e.admin, nil).want(200).obj()
			if got["login"] != l || got["kind"] != kind {
				t.Errorf("%s %s read back as %v %v", kind, l, got["login"], got["kind"])
			}
		}
	}
	// Duplicate → 409; user and host share no namespace problem within a kind.
	if code, _, _ := e.do("POST", "/api/v1/users", e.admin, map[string]any{"login": "bob", "kind": "user"}).errBody(409); code != "conflict" {
		t.Errorf("duplicate: code %q", code)
	}
	// Invalid logins and kinds → 400 naming the field.
	for _, body := range []map[string]any{
		{"login": "", "kind": "user"}, {"login": "has space"}, {"login": "semi;colon"}, {"login": "/lead"}, {"login": "trail/"},
		{"login": "a//b"}, {"login": "ünïcode"}, {"login": string(make([]byte, 129))},
	} {
		if _, field, _ := e.do("POST", "/api/v1/users", e.admin, body).errBody(400); field != "login" {
			t.Errorf("login %q: field %q", body["login"], field)
		}
	}
	for body, field := range map[string]string{
		`{"login":"k1","kind":"robot"}`:                  "kind",
		`{"login":"k2","restricted_to":["10.0.0.0/33"]}`: "restricted_to",
		`{"login":"k3","password":"short"}`:              "password",
		`{"login":"k5","attributes":{"":"empty name"}}`:  "attributes",
	} {
		if _, f, _ := e.do("POST", "/api/v1/users", e.admin, body).errBody(400); f != field {
			t.Errorf("%s: field %q, want %q", body, f, field)
		}
	}
	// GET unknown → 404.
	if code, _, _ := e.do("GET", "/api/v1/users/no-such-id", e.admin, nil).errBody(404); code != "not_found" {
		t.Errorf("unknown id: code %q", code)
	}
	e.do("PATCH", "/api/v1/users/no-such-id", e.admin, map[string]any{"email": "x@y"}).errBody(404)
	e.do("DELETE", "/api/v1/users/no-such-id", e.admin, nil).errBody(404)

	// PATCH is partial: annotations merge, null removes, other fields stay.
	got := e.do("PATCH", "/api/v1/users/"+bobID, e.admin, map[string]any{
		"annotations": map[string]any{"authn-jwt/ci/ref": nil, "authn-jwt/ci/project": "p1", "free": "x"},
	}).want(200).obj()
	ann := got["annotations"].(map[string]any)
	if _, still := ann["authn-jwt/ci/ref"]; still || ann["authn-jwt/ci/project"] != "p1" || ann["free"] != "x" {
		t.Errorf("annotations after merge: %v", ann)
	}
	if got["email"] != "bob@example.com" || !slices.Equal(strs(got["restricted_to"]), []string{"10.0.0.0/8"}) || !slices.Equal(strs(got["tags"]), []string{"a", "b"}) {
		t.Errorf("patch touched other fields: %v", got)
	}
	got = e.do("PATCH", "/api/v1/users/"+bobID, e.admin, map[string]any{"restricted_to": []string{}, "email": "new@example.com"}).want(200).obj()
	if len(strs(got["restricted_to"])) != 0 || got["email"] != "new@example.com" || got["annotations"].(map[string]any)["free"] != "x" {
		t.Errorf("second patch: %v", got)
	}
	got = e.do("GET", "/api/v1/users/"+bobID, e.admin, nil).want(200).obj()
	if got["email"] != "new@example.com" {
		t.Errorf("patch not stored: %v", got)
	}
	// login and kind are immutable; bad status and CIDR refused.
	for body, field := range map[string]string{
		`{"login":"robert"}`:              "login",
		`{"kind":"host"}`:                 "kind",
		`{"status":"frozen"}`:             "status",
		`{"restricted_to":["300.1.1.1"]}`: "restricted_to",
		`{"password":"weakpassword"}`:     "password",
	} {
		if _, f, _ := e.do("PATCH", "/api/v1/users/"+bobID, e.admin, body).errBody(400); f != field {
			t.Errorf("patch %s: field %q, want %q", body, f, field)
		}
	}
	if got := e.do("GET", "/api/v1/users/"+bobID, e.admin, nil).want(200).obj(); got["login"] != "bob" || got["kind"] != "user" || got["has_password"] != false {
		t.Errorf("refused patches changed bob: %v", got)
	}

	// Password set by PATCH works for the token endpoint.
	e.do("PATCH", "/api/v1/users/"+bobID, e.admin, map[string]any{"password": goodPassword}).want(200)
	e.token(map[string]any{"login": "bob", "password": goodPassword})

	// Disabling stops the key, the password and already-issued tokens.
	bobKey := bob["api_key"].(string)
	bobTok := e.keyToken(bobKey)
	e.do("GET", "/api/v1/users/"+bobID, bobTok, nil).want(200)
	e.do("PATCH", "/api/v1/users/"+bobID, e.admin, map[string]any{"status": "disabled"}).want(200)
	e.do("POST", "/api/v1/token", "", map[string]any{"api_key": bobKey}).errBody(401)
	e.do("POST", "/api/v1/token", "", map[string]any{"login": "bob", "password": goodPassword}).errBody(401)
	e.do("GET", "/api/v1/users/"+bobID, bobTok, nil).errBody(401)
	if v := e.verify(bobKey); v["valid"] != false || v["code"] != "disabled" {
		t.Errorf("verify of a disabled user's key: %v", v)
	}
	e.do("PATCH", "/api/v1/users/"+bobID, e.admin, map[string]any{"status": "active"}).want(200)
	e.keyToken(bobKey)

	// Delete, then the login can be created again, with a new key.
	e.do("DELETE", "/api/v1/users/"+bobID, e.admin, nil).want(204)
	e.do("GET", "/api/v1/users/"+bobID, e.admin, nil).errBody(404)
	e.do("POST", "/api/v1/token", "", map[string]any{"api_key": bobKey}).errBody(401)
	e.do("GET", "/api/v1/users/"+bobID, bobTok, nil).errBody(401)
	newID, newKey := e.createUser("bob", "user", nil)
	if newID == bobID || newKey == bobKey {
		t.Error("re-created user reuses the old id or key")
	}
	e.keyToken(newKey)

	// List: search matches part of the login; limit, offset, total.
	for i := 0; i < 5; i++ {
		e.createUser(fmt.Sprintf("page-%d", i), "user", nil)
	}
	all := e.do("GET", "/api/v1/users?search=page-", e.admin, nil).want(200)
	if all.total() != 5 || len(all.items()) != 5 {
		t.Fatalf("search page-: %s", all.body)
	}
	p := e.do("GET", "/api/v1/users?search=age-&limit=2&offset=1", e.admin, nil).want(200)
	if p.total() != 5 || len(p.items()) != 2 {
		t.Errorf("limit 2 offset 1: total %d items %d", p.total(), len(p.items()))
	}
	seen := map[string]bool{}
	for off := 0; off < 5; off += 2 {
		for _, it := range e.do("GET", fmt.Sprintf("/api/v1/users?search=page&limit=2&offset=%d", off), e.admin, nil).want(200).items() {
			if seen[it["id"].(string)] {
				t.Errorf("paging repeats %v", it["login"])
			}
			seen[it["id"].(string)] = true
		}
	}
	if len(seen) != 5 {
		t.Errorf("paging saw %d of 5", len(seen))
	}
	if n := e.do("GET", "/api/v1/users?search=zzz-none", e.admin, nil).want(200); n.total() != 0 || len(n.items()) != 0 {
		t.Errorf("search with no match: %s", n.body)
	}
	for _, q := range []string{"limit=-1", "offset=-3", "limit=abc"} {
		e.do("GET", "/api/v1/users?"+q, e.admin, nil).errBody(400)
	}
}
