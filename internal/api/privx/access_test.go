package privx_test

import (
	"context"

	"github.com/keyward/keyward/internal/model"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/api/privx"
)

var param = regexp.MustCompile(`\{[^}]+\}`)

func routePath(pattern, id string) string {
	return param.ReplaceAllString(pattern, id)
}

// TestEveryRouteNeedsAToken: every non-public route answers 401
// UNAUTHORIZED in PrivX's format without a token, with a malformed one and
// with an expired one.
func TestEveryRouteNeedsAToken(t *testing.T) {
	e := newEnv(t)
	_, key := e.user("carol", nil)
	tok := e.nativeToken(key)
	routes := privx.New(nil, slog.New(slog.DiscardHandler), account).Routes()
	check := func(token, what string) {
		for _, rt := range routes {
			if rt.Public {
				continue
			}
			r := e.do(rt.Method, routePath(rt.Pattern, "x"), token, `{}`)
			r.wantError(401, "UNAUTHORIZED", "")
			if r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s %s: no WWW-Authenticate", what, rt.Method, rt.Pattern)
			}
		}
	}
	check("", "no token")
	check("not-a-token", "malformed token")
	e.clock.add(9 * time.Minute)
	check(tok, "expired token")
}

// TestEveryPermissionRouteIsForbidden: a principal without permissions is
// refused 403 FORBIDDEN (never 401) on every route naming a permission,
// for made-up and real ids alike and before any body is read; a holder of
// users-view still may not write.
func TestEveryPermissionRouteIsForbidden(t *testing.T) {
	e := newEnv(t)
	_, key := e.user("nobody", nil)
	viewer, vkey := e.user("viewer", nil)
	vrole := e.role(map[string]any{"name": "view", "permissions": []string{"users-view", "roles-view"}})
	e.grant(viewer, map[string]any{"id": vrole})
	nobody, view := e.nativeToken(key), e.nativeToken(vkey)
	n := 0
	for _, rt := range privx.New(nil, nil, account).Routes() {
		if rt.Public || rt.SelfService || rt.Permission == "" {
			continue
		}
		for _, id := range []string{"made-up-id", e.adminID} {
			e.do(rt.Method, routePath(rt.Pattern, id), nobody, `not json at all`).wantError(403, "FORBIDDEN", "")
			n++
		}
		if rt.Permission == "users-manage" || rt.Permission == "roles-manage" || rt.Permission == "authenticators-manage" {
			e.do(rt.Method, routePath(rt.Pattern, e.adminID), view, `not json`).wantError(403, "FORBIDDEN", "")
		}
	}
	if n < 40 {
		t.Fatalf("only %d refusals checked", n)
	}
	// The user itself may read itself without users-view, not write.
	me, _ := e.user("self", nil)
	_ = me
}

// TestCurrentTouchesOnlyTheCaller: users/current routes act on the caller;
// another user's key id there is 404, and nothing of the other changes.
func TestCurrentTouchesOnlyTheCaller(t *testing.T) {
	e := newEnv(t)
	const p = "/role-store/api/v1/"
	alice, akey := e.user("alice", nil)
	bob, bkey := e.user("bob", nil)
	at, bt := e.nativeToken(akey), e.nativeToken(bkey)
	bobKey := e.do("POST", p+"users/current/authorizedkeys", bt, map[string]any{"name": "b", "public_key": sshKey(9)}).want(201).str("id")
	e.do("PUT", p+"users/current/settings", bt, `{"mine":"bob"}`).want(200)
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		e.do(m, p+"users/current/authorizedkeys/"+bobKey, at, map[string]any{"name": "stolen", "public_key": sshKey(8)}).wantError(404, "NOT_FOUND", "")
	}
	if got := e.do("GET", p+"users/current", at, nil).want(200).str("id"); got != alice {
		t.Fatalf("current is %s, want alice %s", got, alice)
	}
	e.do("PUT", p+"users/current/settings", at, `{"mine":"alice"}`).want(200)
	if s := string(e.do("GET", p+"users/"+bob+"/settings", e.admin, nil).want(200).body); !strings.Contains(s, `"bob"`) {
		t.Fatalf("bob's settings changed: %s", s)
	}
	if got := e.do("GET", p+"users/"+bob+"/authorizedkeys/"+bobKey, e.admin, nil).want(200).str("name"); got != "b" {
		t.Fatalf("bob's key changed: %s", got)
	}
	// Another user's objects by id are refused without users-view.
	e.do("GET", p+"users/"+bob, at, nil).wantError(403, "FORBIDDEN", "")
	e.do("GET", p+"users/"+alice, at, nil).want(200)
	e.do("GET", p+"users/"+alice+"/authorizedkeys", at, nil).want(200)
	e.do("PUT", p+"users/"+alice+"/settings", at, `{}`).wantError(403, "FORBIDDEN", "")
}

// TestLenientBodies: unknown and server-set members are ignored, null and
// "" mean absent, a known member of the wrong type is 400 naming it.
func TestLenientBodies(t *testing.T) {
	e := newEnv(t)
	const p = "/role-store/api/v1/"
	id := e.do("POST", p+"roles", e.admin, `{"name":"r1","comment":null,"permissions":null,"arn":"","id":"x","created":"y",
		"author":"z","member_count":3,"unknown":{"deep":[1,2]},"context":{"enabled":false,"validity":null,"timezone":"","start_time":"bad"},
		"source_rules":{"rules":null}}`).want(201).str("id")
	r := e.do("GET", p+"roles/"+id, e.admin, nil).want(200).obj()
	if r["id"] != id || r["member_count"].(float64) != 0 || r["comment"] != "" {
		t.Fatalf("server-set members taken from the body: %v", r)
	}
	for member, body := range map[string]string{
		"name":           `{"name":1}`,
		"comment":        `{"name":"a","comment":[]}`,
		"permissions":    `{"name":"a","permissions":"users-view"}`,
		"arn":            `{"name":"a","arn":{}}`,
		"context":        `{"name":"a","context":{"enabled":"yes"}}`,
		"source_rules":   `{"name":"a","source_rules":[]}`,
		"limit-free-bad": "",
	} {
		if member == "limit-free-bad" {
			continue
		}
		e.do("POST", p+"roles", e.admin, body).wantError(400, "BAD_REQUEST", member)
	}
	e.do("POST", p+"roles", e.admin, `[]`).wantError(400, "BAD_REQUEST", "")
	e.do("POST", p+"roles", e.admin, `{"name":"a","context":{"enabled":true,"validity":["FUNDAY"]}}`).wantError(400, "BAD_REQUEST", "context")
	e.do("POST", p+"roles", e.admin, `{"name":"a","context":{"enabled":true,"ip_masks":["10.0.0.0/33"]}}`).wantError(400, "BAD_REQUEST", "context")
	e.do("POST", p+"roles", e.admin, `{"name":"","permissions":[]}`).wantError(400, "BAD_REQUEST", "name")
	e.do("POST", p+"roles", e.admin, `{"name":"`+strings.Repeat("n", 129)+`"}`).wantError(400, "BAD_REQUEST", "name")
	alice, _ := e.user("alice", nil)
	for member, body := range map[string]string{
		"public_key":     `{"name":"k","public_key":5}`,
		"not_before":     `{"name":"k","public_key":"` + sshKey(1) + `","not_before":"yesterday"}`,
		"expires_in":     `{"name":"k","public_key":"` + sshKey(1) + `","expires_in":"1h"}`,
		"source_address": `{"name":"k","public_key":"` + sshKey(1) + `","source_address":["nowhere"]}`,
		"not_after":      `{"name":"k","public_key":"` + sshKey(1) + `","not_before":"2027-01-01T00:00:00Z","not_after":"2026-01-01T00:00:00Z"}`,
		"name":           `{"public_key":"` + sshKey(1) + `"}`,
	} {
		e.do("POST", p+"users/"+alice+"/authorizedkeys", e.admin, body).wantError(400, "BAD_REQUEST", member)
	}
	e.do("POST", p+"users/search", e.admin, `{"keywords":5}`).wantError(400, "BAD_REQUEST", "keywords")
	e.do("POST", p+"users/search", e.admin, `{"user_id":"one"}`).wantError(400, "BAD_REQUEST", "user_id")
	e.do("PUT", p+"users/"+alice+"/roles", e.admin, `[{"id":5}]`).wantError(400, "BAD_REQUEST", "id")
	e.do("PUT", p+"users/"+alice+"/roles", e.admin, `{"id":"x"}`).wantError(400, "BAD_REQUEST", "roles")
	e.do("PUT", p+"users/"+alice+"/settings", e.admin, `null`).wantError(400, "BAD_REQUEST", "settings")
	e.do("PUT", p+"users/"+alice+"/settings", e.admin, `"x"`).wantError(400, "BAD_REQUEST", "settings")
	// An SDK-shaped key: null source_address answers [].
	k := e.do("POST", p+"users/"+alice+"/authorizedkeys", e.admin, map[string]any{"id": "", "name": "sdk", "public_key": sshKey(3),
		"source_address": nil, "fingerprints": nil, "expires_in": 0}).want(201).str("id")
	got := e.do("GET", p+"users/"+alice+"/authorizedkeys/"+k, e.admin, nil).want(200).obj()
	if sa, ok := got["source_address"].([]any); !ok || len(sa) != 0 {
		t.Fatalf("source_address %v, want []", got["source_address"])
	}
}

// TestPaging: defaults, clamps, bad values, sort keys and directions.
func TestPaging(t *testing.T) {
	e := newEnv(t)
	const p = "/role-store/api/v1/"
	for i := 0; i < 120; i++ {
		e.clock.add(time.Second)
		e.user("user"+strings.Repeat("0", 3-len(itoa3(i)))+itoa3(i), nil)
	}
	search := func(q string) *resp { return e.do("POST", p+"users/search"+q, e.admin, `{}`) }
	for q, want := range map[string]int{"": 50, "?limit=0": 50, "?limit=500": 100, "?limit=7": 7, "?offset=118": 3, "?offset=500": 0} {
		r := search(q).want(200)
		if n := len(r.items()); n != want || r.count() != 121 {
			t.Errorf("%q: %d items of %d, want %d of 121", q, n, r.count(), want)
		}
	}
	for q, prop := range map[string]string{"?limit=-1": "limit", "?limit=x": "limit", "?offset=-3": "offset", "?offset=1.5": "offset",
		"?sortkey=email": "sortkey", "?sortdir=up": "sortdir"} {
		search(q).wantError(400, "BAD_REQUEST", prop)
	}
	first := search("?limit=1&sortdir=desc").items()[0]["principal"]
	if first != "user119" {
		t.Errorf("desc starts with %v", first)
	}
	first = search("?limit=1&sortkey=created&sortdir=ASC").items()[0]["principal"]
	if first != "admin" {
		t.Errorf("created asc starts with %v", first)
	}
	// Names sort case-insensitively.
	e.role(map[string]any{"name": "Beta"})
	e.role(map[string]any{"name": "alpha"})
	var names []string
	for _, it := range e.do("GET", p+"roles", e.admin, nil).want(200).items() {
		names = append(names, it["name"].(string))
	}
	if strings.Join(names, ",") != "admin,alpha,Beta" {
		t.Errorf("roles in order %v", names)
	}
}

func itoa3(i int) string {
	s := ""
	for {
		s = string(rune('0'+i%10)) + s
		i /= 10
		if i == 0 {
			return s
		}
	}
}

// TestOAuthRoute: the password grant with a native key, its refusals, and
// that its token is a level-1 session with the key's scope, audited as a
// key login.
func TestOAuthRoute(t *testing.T) {
	e := newEnv(t)
	const tokenPath = "/auth/api/v1/oauth/token"
	alice, akey := e.user("alice", nil)
	viewRole := e.role(map[string]any{"name": "view", "permissions": []string{"users-view"}})
	rolesRole := e.role(map[string]any{"name": "roles", "permissions": []string{"roles-view"}})
	e.grant(alice, map[string]any{"id": viewRole}, map[string]any{"id": rolesRole})
	// A key narrowed to one role.
	scoped := e.do("POST", "/api/v1/users/"+alice+"/api-keys", e.admin, map[string]any{"description": "ci", "roles": []string{rolesRole}}).want(201).str("key")
	for _, tc := range []struct {
		key         string
		header      []string
		rolesOK     bool
		usersViewOK bool
	}{
		{akey, []string{"Authorization", "Basic cHJpdng6c2VjcmV0"}, true, true},
		{akey, []string{"Authorization", "Basic "}, true, true},
		{scoped, nil, true, false},
	} {
		r := e.form(tokenPath, url.Values{"grant_type": {"password"}, "username": {keyID(tc.key)}, "password": {tc.key}}, tc.header...).want(200)
		obj := r.obj()
		if obj["token_type"] != "Bearer" || obj["expires_in"].(float64) != 480 || obj["refresh_token"] != nil || r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("token answer %s", r.body)
		}
		tok := obj["access_token"].(string)
		in := e.do("POST", "/api/v1/token/introspect", "", url.Values{"token": {tok}}.Encode(), "Content-Type", "application/x-www-form-urlencoded").want(200).obj()
		if in["security_level"].(float64) != 1 {
			t.Fatalf("level %v", in["security_level"])
		}
		if got := e.do("GET", "/role-store/api/v1/roles", tok, nil).status == 200; got != tc.rolesOK {
			t.Errorf("roles-view: %v", got)
		}
		if got := e.do("POST", "/role-store/api/v1/users/search", tok, `{}`).status == 200; got != tc.usersViewOK {
			t.Errorf("users-view through a key narrowed to roles-view: %v", got)
		}
	}
	rec := e.do("GET", "/api/v1/audit?limit=50", e.admin, nil).want(200).body
	if !strings.Contains(string(rec), keyID(scoped)) {
		t.Fatalf("the OAuth login is not audited with its key")
	}
	grant := func(vals url.Values, code, upper string) {
		t.Helper()
		r := e.form(tokenPath, vals).want(400).obj()
		if r["error"] != code || r["error_code"] != upper || r["error_description"] == "" || r["error_message"] == "" {
			t.Fatalf("%v: %v", vals, r)
		}
	}
	grant(url.Values{"grant_type": {"password"}, "username": {"someone"}, "password": {akey}}, "invalid_grant", "INVALID_GRANT")
	grant(url.Values{"grant_type": {"password"}, "username": {keyID(akey)}, "password": {akey[:len(akey)-1] + "x"}}, "invalid_grant", "INVALID_GRANT")
	grant(url.Values{"grant_type": {"password"}, "username": {keyID(akey)}, "password": {"not a key"}}, "invalid_grant", "INVALID_GRANT")
	grant(url.Values{"grant_type": {"client_credentials"}, "username": {keyID(akey)}, "password": {akey}}, "unsupported_grant_type", "UNSUPPORTED_GRANT_TYPE")
	grant(url.Values{"grant_type": {"password"}, "username": {keyID(akey)}}, "invalid_request", "INVALID_REQUEST")
	grant(url.Values{}, "invalid_request", "INVALID_REQUEST")
	// A revoked key is refused.
	kid := keyID(scoped)
	e.do("DELETE", "/api/v1/api-keys/"+kid, e.admin, nil).want(204)
	grant(url.Values{"grant_type": {"password"}, "username": {kid}, "password": {scoped}}, "invalid_grant", "INVALID_GRANT")
}

// TestHostsNeverAppear: PrivX knows users only; a host's id is a missing
// user, and hosts are left out of searches and role members.
func TestHostsNeverAppear(t *testing.T) {
	e := newEnv(t)
	const p = "/role-store/api/v1/"
	r := e.role(map[string]any{"name": "shared", "permissions": []string{"users-view"}})
	host := e.do("POST", "/api/v1/users", e.admin, map[string]any{"login": "ci-runner", "kind": "host"}).want(201).str("id")
	user, _ := e.user("ci-runner-owner", nil)
	// A host is granted natively: PrivX's PUT users/{host}/roles is 404 (review r21 F13).
	e.do("PUT", "/api/v1/users/"+host+"/roles", e.admin, map[string]any{"roles": []map[string]any{{"id": r}}}).want(200)
	e.do("PUT", p+"users/"+host+"/roles", e.admin, []map[string]any{{"id": r}}).wantError(404, "NOT_FOUND", "")
	e.grant(user, map[string]any{"id": r})
	for _, path := range []string{"users/" + host, "users/" + host + "/roles", "users/" + host + "/settings", "users/" + host + "/authorizedkeys", "users/" + host + "/resolve"} {
		e.do("GET", p+path, e.admin, nil).wantError(404, "NOT_FOUND", "")
	}
	if n := e.do("POST", p+"users/search", e.admin, map[string]any{"keywords": "ci-runner"}).want(200).count(); n != 1 {
		t.Fatalf("search found %d (a host among them?)", n)
	}
	if n := e.do("GET", p+"roles/"+r+"/members", e.admin, nil).want(200).count(); n != 1 {
		t.Fatalf("%d members (a host among them?)", n)
	}
}

// TestSearchFollowsWrites: the search's in-memory index follows this
// instance's writes at once, and another writer's (the store written
// directly, as another instance would) after a minute.
func TestSearchFollowsWrites(t *testing.T) {
	e := newEnv(t)
	const p = "/role-store/api/v1/users/search"
	count := func(kw string) int {
		t.Helper()
		e.admin = e.nativeToken(e.adminKey)
		return e.do("POST", p, e.admin, map[string]any{"keywords": kw}).want(200).count()
	}
	if n := count("zed"); n != 0 {
		t.Fatalf("%d before", n)
	}
	id, _ := e.user("zed", map[string]any{"attributes": map[string]string{"last_name": "Zedson"}})
	if n := count("ZEDSON"); n != 1 {
		t.Fatalf("%d after create", n)
	}
	e.do("PATCH", "/api/v1/users/"+id, e.admin, map[string]any{"email": "zz@corp.example", "attributes": map[string]string{}}).want(200)
	if count("zedson") != 0 || count("corp.example") != 1 {
		t.Fatal("the index did not follow the update")
	}
	if _, err := e.s.Store().UpdatePrincipal(context.Background(), account, id, func(p model.Principal) (model.Principal, error) {
		p.FullName = "Written Elsewhere"
		return p, nil
	}); err != nil {
		t.Fatal(err)
	}
	if n := count("elsewhere"); n != 0 {
		t.Fatalf("another writer's change showed at once (%d): the index is not what is searched", n)
	}
	e.clock.add(61 * time.Second)
	if n := count("elsewhere"); n != 1 {
		t.Fatalf("another writer's change not seen after a minute: %d", n)
	}
	e.do("DELETE", "/api/v1/users/"+id, e.admin, nil).want(204)
	if n := count("elsewhere"); n != 0 {
		t.Fatalf("%d after delete", n)
	}
}
