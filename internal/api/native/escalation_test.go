package native_test

import (
	"encoding/base64"
	"github.com/keyward/keyward/internal/crypto"
	"net/http"
	"strings"
	"testing"
)

// These tests pin the refusals a security review asked for: no credential or
// permission may be turned into more than it was given.

func TestNarrowedKeyCannotMintCredentials(t *testing.T) {
	e := newEnv(t)
	viewer := e.createRole("viewer", "users-view")
	bobID, bobConjurKey := e.createUser("bob", "user", map[string]any{"password": goodPassword})
	e.grant(bobID, e.adminRoleID(), viewer)
	_, scoped := e.createKey(bobID, map[string]any{"roles": []string{viewer}})
	_, sourced := e.createKey(bobID, map[string]any{"valid_sources": []string{"127.0.0.0/8"}})
	otherID, _ := e.createKey(bobID, nil)
	if v := e.verify(scoped); len(v["permissions"].([]any)) != 1 {
		t.Fatalf("scoped key permissions: %v", v)
	}
	for name, key := range map[string]string{"scoped": scoped, "source-bound": sourced} {
		tok := e.keyToken(key)
		e.do("POST", "/api/v1/users/"+bobID+"/api-keys", tok, map[string]any{}).errBody(http.StatusForbidden)
		e.do("POST", "/api/v1/api-keys/"+otherID+"/rotate", tok, nil).errBody(http.StatusForbidden)
		e.do("DELETE", "/api/v1/api-keys/"+otherID, tok, nil).errBody(http.StatusForbidden)
		// The key as a bearer value directly is the same session.
		e.do("POST", "/api/v1/users/"+bobID+"/api-keys", key, map[string]any{}).errBody(http.StatusForbidden)
		// Conjur's Basic login takes only the Conjur key (or the password), so a
		// narrowed key cannot read the unnarrowed one.
		req, _ := http.NewRequest("GET", e.srv.URL+"/authn/"+account+"/login", nil)
		req.SetBasicAuth("bob", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s key as Basic password on login: %d, want 401", name, resp.StatusCode)
		}
	}
	// The unnarrowed Conjur key still works as a Basic password.
	req, _ := http.NewRequest("GET", e.srv.URL+"/authn/"+account+"/login", nil)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("bob:"+bobConjurKey)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("Conjur key as Basic password: %d, want 200", resp.StatusCode)
	}
}

func TestManagersCannotExceedTheirOwnPermissions(t *testing.T) {
	e := newEnv(t)
	um := e.createRole("user-managers", "users-manage", "users-view")
	km := e.createRole("key-managers", "api-keys-manage")
	carolID, carolKey := e.createUser("carol", "user", nil)
	e.grant(carolID, um)
	daveID, daveKey := e.createUser("dave", "user", nil)
	e.grant(daveID, km)
	peerID, _ := e.createUser("peer", "user", nil)
	carol, dave := e.keyToken(carolKey), e.keyToken(daveKey)

	// users-manage cannot grant admin, to itself or anyone.
	for _, target := range []string{carolID, peerID} {
		e.do("PUT", "/api/v1/users/"+target+"/roles", carol, map[string]any{"roles": []map[string]any{{"id": e.adminRoleID()}}}).errBody(http.StatusForbidden)
	}
	// ...nor reset the admin's password, disable or delete the admin.
	e.do("PATCH", "/api/v1/users/"+e.adminID, carol, map[string]any{"password": goodPassword}).errBody(http.StatusForbidden)
	e.do("PATCH", "/api/v1/users/"+e.adminID, carol, map[string]any{"status": "disabled"}).errBody(http.StatusForbidden)
	e.do("DELETE", "/api/v1/users/"+e.adminID, carol, nil).errBody(http.StatusForbidden)
	// It still manages principals that hold no more than it does.
	e.do("PATCH", "/api/v1/users/"+peerID, carol, map[string]any{"email": "p@example.org"}).want(http.StatusOK)
	e.do("PUT", "/api/v1/users/"+peerID+"/roles", carol, map[string]any{"roles": []map[string]any{{"id": um}}}).want(http.StatusOK)

	// api-keys-manage cannot mint a key for the admin, nor rotate the admin's.
	e.do("POST", "/api/v1/users/"+e.adminID+"/api-keys", dave, map[string]any{}).errBody(http.StatusForbidden)
	adminKeyID := e.do("GET", "/api/v1/users/"+e.adminID+"/api-keys", e.admin, nil).want(200).items()[0]["id"].(string)
	e.do("POST", "/api/v1/api-keys/"+adminKeyID+"/rotate", dave, nil).errBody(http.StatusForbidden)
	plainID, _ := e.createUser("plain", "user", nil) // holds nothing, so dave outranks it
	e.do("POST", "/api/v1/users/"+plainID+"/api-keys", dave, map[string]any{}).want(http.StatusCreated)
	e.do("POST", "/api/v1/users/"+peerID+"/api-keys", dave, map[string]any{}).errBody(http.StatusForbidden) // peer now has users-manage

	// Each refusal is audited as an escalation attempt.
	found := false
	for _, r := range e.audit(200) {
		if r["reason"] == "privilege_escalation" {
			found = true
		}
	}
	if !found {
		t.Error("no privilege_escalation refusal in the audit log")
	}
}

func TestConjurKeyCannotBeRevoked(t *testing.T) {
	e := newEnv(t)
	id, key := e.createUser("gina", "user", nil)
	items := e.do("GET", "/api/v1/users/"+id+"/api-keys", e.admin, nil).want(200).items()
	if len(items) != 1 || items[0]["conjur"] != true {
		t.Fatalf("keys: %v", items)
	}
	_, _, msg := e.do("DELETE", "/api/v1/api-keys/"+items[0]["id"].(string), e.admin, nil).errBody(http.StatusBadRequest)
	if !strings.Contains(msg, "Conjur") {
		t.Errorf("message %q", msg)
	}
	if v := e.verify(key); v["valid"] != true {
		t.Fatalf("the Conjur key stopped working: %v", v)
	}
}

func TestVerifyHidesWhetherAKeyIDExists(t *testing.T) {
	e := newEnv(t)
	id, _ := e.createUser("hal", "user", nil)
	_, key := e.createKey(id, nil)
	kid, _, ok := crypto.ParseAPIKey(key)
	if !ok {
		t.Fatalf("created key %q does not parse", key)
	}
	// Both well formed (valid checksum): a known id with a wrong secret, and
	// an id that does not exist. They must read the same.
	wrongSecret := e.verify(crypto.FormatAPIKey(kid, strings.Repeat("B", 40)))
	unknown := e.verify(crypto.FormatAPIKey("aaaaaaaaaaaaaaaa", strings.Repeat("B", 40)))
	// The audit keeps the real reasons: the lookup was reached both times.
	// (Reading the audit brings the journal into the table first; an
	// unknown key's record belongs to no account, so it is counted there.)
	if e.findAudit(map[string]string{"event": "apikey.verify", "reason": "bad_secret", "key_id": kid}) == nil ||
		e.sqlCount("SELECT count(*) FROM audit_log WHERE event = 'apikey.verify' AND reason = 'unknown_key'") != 1 {
		t.Fatal("the audit lacks a bad_secret or unknown_key record: the lookup was not reached")
	}
	if wrongSecret["valid"] != false || wrongSecret["code"] != unknown["code"] {
		t.Fatalf("codes differ: wrong secret %v, unknown %v", wrongSecret, unknown)
	}
}

func TestTokenFollowsItsKeySources(t *testing.T) {
	e := newEnv(t)
	id, _ := e.createUser("ivy", "user", nil)
	_, key := e.createKey(id, map[string]any{"valid_sources": []string{"198.51.100.0/24"}})
	r := e.do("POST", "/api/v1/token", "", map[string]any{"api_key": key}, "X-Forwarded-For", "198.51.100.7").want(200)
	tok := r.str("access_token")
	e.do("GET", "/api/v1/users/"+id, tok, nil, "X-Forwarded-For", "198.51.100.7").want(200)
	e.do("GET", "/api/v1/users/"+id, tok, nil, "X-Forwarded-For", "203.0.113.9").errBody(http.StatusUnauthorized)
}

func TestLongPasswordsWork(t *testing.T) {
	e := newEnv(t)
	long := strings.Repeat("Ab1!", 18) // 72 bytes: all that bcrypt reads, and every one counts
	e.createUser("jo", "user", map[string]any{"password": long})
	e.token(map[string]any{"account": account, "login": "jo", "password": long})
	e.do("POST", "/api/v1/token", "", map[string]any{"account": account, "login": "jo", "password": long[:71] + "x"}).errBody(http.StatusUnauthorized)
	// Over 72 bytes is refused rather than silently cut (finding 17).
	e.do("POST", "/api/v1/users", e.admin, map[string]any{"login": "jo2", "password": long + "Ab1!"}).errBody(http.StatusBadRequest)
}

// adminRoleID finds the built-in admin role.
func (e *env) adminRoleID() string {
	e.t.Helper()
	for _, r := range e.do("GET", "/api/v1/roles", e.admin, nil).want(200).items() {
		if r["name"] == "admin" {
			return r["id"].(string)
		}
	}
	e.t.Fatal("no admin role")
	return ""
}
