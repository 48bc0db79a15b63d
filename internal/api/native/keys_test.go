package native_test

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	uid, conjurKey := e.createUser("erin", "user", nil)
	viewID := e.createRole("viewer", "users-view")
	auditID := e.createRole("auditor", "audit-view")
	otherID := e.createRole("unrelated", "roles-view")
	e.grant(uid, viewID, auditID)

	// Every field is optional.
	r := e.do("POST", "/api/v1/users/"+uid+"/api-keys", e.admin, map[string]any{}).want(201)
	k := r.obj()
	plainID, plainKey := k["id"].(string), k["key"].(string)
	if plainID == "" || !strings.HasPrefix(plainKey, "kw_") || !strings.Contains(plainKey, plainID) {
		t.Fatalf("created key: %s", r.body)
	}
	if k["expires_at"] != nil || len(strs(k["roles"])) != 0 || len(strs(k["valid_sources"])) != 0 {
		t.Errorf("defaults: %s", r.body)
	}
	v := e.verify(plainKey)
	if v["valid"] != true || v["account"] != account || v["principal"] != "erin" || v["key_id"] != plainID ||
		!slices.Equal(strs(v["permissions"]), []string{"audit-view", "users-view"}) {
		t.Errorf("verify of an unscoped key: %v", v)
	}

	// Scoped keys: a subset of the owner's roles, narrowing permissions.
	r = e.do("POST", "/api/v1/users/"+uid+"/api-keys", e.admin, map[string]any{"description": "ci", "roles": []string{viewID}}).want(201)
	scopedKey := r.str("key")
	v = e.verify(scopedKey)
	if v["valid"] != true || !slices.Equal(strs(v["permissions"]), []string{"users-view"}) || !slices.Equal(strs(v["roles"]), []string{viewID}) {
		t.Errorf("verify of a scoped key: %v", v)
	}
	stok := e.keyToken(scopedKey)
	e.do("GET", "/api/v1/users", stok, nil).want(200)
	e.do("GET", "/api/v1/audit", stok, nil).errBody(403)
	e.do("GET", "/api/v1/users", scopedKey, nil).want(200) // a key as bearer, same scope
	e.do("GET", "/api/v1/audit", scopedKey, nil).errBody(403)
	for _, roles := range [][]string{{otherID}, {viewID, otherID}, {"no-such-role"}} {
		if _, f, _ := e.do("POST", "/api/v1/users/"+uid+"/api-keys", e.admin, map[string]any{"roles": roles}).errBody(400); f != "roles" {
			t.Errorf("roles %v: field %q", roles, f)
		}
	}
	// Other bad constraints name their field.
	for body, field := range map[string]string{
		`{"valid_sources":["10.0.0.0/99"]}`: "valid_sources",
		`{"valid_sources":["nope"]}`:        "valid_sources",
		`{"expires_in_days":0}`:             "expires_in_days",
		`{"expires_in_days":-3}`:            "expires_in_days",
		`{"expires_in_days":"soon"}`:        "expires_in_days",
	} {
		if _, f, _ := e.do("POST", "/api/v1/users/"+uid+"/api-keys", e.admin, body).errBody(400); f != field {
			t.Errorf("%s: field %q, want %q", body, f, field)
		}
	}
	e.do("POST", "/api/v1/users/no-such/api-keys", e.admin, map[string]any{}).errBody(404)

	// Sources: the client address from X-Forwarded-For via the loopback proxy.
	r = e.do("POST", "/api/v1/users/"+uid+"/api-keys", e.admin, map[string]any{"valid_sources": []string{"10.1.2.0/24"}}).want(201)
	srcID, srcKey := r.str("id"), r.str("key")
	if v := e.verify(srcKey, "X-Forwarded-For", "10.1.2.3"); v["valid"] != true {
		t.Errorf("from an allowed source: %v", v)
	}
	for _, hdr := range [][]string{nil, {"X-Forwarded-For", "192.0.2.9"}, {"X-Forwarded-For", "10.1.2.3, 192.0.2.9"}} {
		if v := e.verify(srcKey, hdr...); v["valid"] != false || v["code"] != "source_not_allowed" {
			t.Errorf("from %v: %v", hdr, v)
		}
	}
	e.do("POST", "/api/v1/token", "", map[string]any{"api_key": srcKey}).errBody(401)
	e.do("POST", "/api/v1/token", "", map[string]any{"api_key": srcKey}, "X-Forwarded-For", "10.1.2.200").want(200)

	// The list never shows a secret, and shows last use with its address.
	list := e.do("GET", "/api/v1/users/"+uid+"/api-keys", e.admin, nil).want(200)
	for _, s := range []string{conjurKey, plainKey, scopedKey, srcKey} {
		if strings.Contains(string(list.body), s) || strings.Contains(string(list.body), s[len(s)-46:]) {
			t.Fatalf("key list holds a secret")
		}
	}
	found := false
	for _, it := range list.items() {
		if _, has := it["key"]; has {
			t.Errorf("list item has a key member: %v", it)
		}
		if it["id"] == srcID {
			found = true
			if it["last_used_addr"] != "10.1.2.200" && it["last_used_addr"] != "10.1.2.3" {
				t.Errorf("last_used_addr %v", it["last_used_addr"])
			}
			if ts, _ := it["last_used_at"].(string); ts == "" {
				t.Errorf("last_used_at missing: %v", it)
			} else if at, err := time.Parse(time.RFC3339, ts); err != nil || time.Since(at) > time.Minute {
				t.Errorf("last_used_at %q", ts)
			}
		}
	}
	if !found || len(list.items()) != 4 {
		t.Errorf("list has %d keys, want 4 (conjur, plain, scoped, sources) found=%v", len(list.items()), found)
	}

	// Revoke: verify says so, the key and tokens from it stop working.
	rtok := e.keyToken(plainKey)
	e.do("DELETE", "/api/v1/api-keys/"+plainID, e.admin, nil).want(204)
	if v := e.verify(plainKey); v["valid"] != false || v["code"] != "revoked" {
		t.Errorf("verify of a revoked key: %v", v)
	}
	e.do("POST", "/api/v1/token", "", map[string]any{"api_key": plainKey}).errBody(401)
	e.do("GET", "/api/v1/users", rtok, nil).errBody(401)
	e.do("DELETE", "/api/v1/api-keys/"+plainID, e.admin, nil).errBody(404)
	e.do("POST", "/api/v1/api-keys/"+plainID+"/rotate", e.admin, nil).errBody(404)
	e.do("DELETE", "/api/v1/api-keys/no-such-key", e.admin, nil).errBody(404)

	// Verify codes for keys that are not keys.
	flip := "x" // a last character the key does not end with (one key in 62 ends with x)
	if strings.HasSuffix(plainKey, flip) {
		flip = "y"
	}
	for _, bad := range []string{"kw_", "hello", plainKey[:len(plainKey)-1] + flip, strings.Replace(scopedKey, scopedKey[25:35], "AAAAAAAAAA", 1)} {
		if v := e.verify(bad); v["valid"] != false || v["code"] != "invalid" && v["code"] != "unknown_key" {
			t.Errorf("verify %q: %v", bad, v)
		}
	}
	if _, f, _ := e.do("POST", "/api/v1/api-keys/verify", "", map[string]any{}).errBody(400); f != "key" {
		t.Errorf("verify without key: field %q", f)
	}
}

func TestRotate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	uid, _ := e.createUser("frank", "user", nil)

	// Grace: the old secret works during it, the new at once.
	id, old := e.createKey(uid, nil)
	r := e.do("POST", "/api/v1/api-keys/"+id+"/rotate", e.admin, map[string]any{"grace_period_seconds": 3600}).want(200)
	fresh := r.str("key")
	if r.str("id") != id || fresh == old {
		t.Fatalf("rotate answer: %s", r.body)
	}
	if gu, _ := r.obj()["grace_until"].(string); gu == "" {
		t.Errorf("no grace_until: %s", r.body)
	}
	if e.verify(old)["valid"] != true || e.verify(fresh)["valid"] != true {
		t.Error("during grace both secrets must work")
	}
	// Default grace 0: the old secret fails at once (no body at all).
	r = e.do("POST", "/api/v1/api-keys/"+id+"/rotate", e.admin, nil).want(200)
	newest := r.str("key")
	for _, s := range []string{old, fresh} {
		if v := e.verify(s); v["valid"] != false {
			t.Errorf("a replaced secret still verifies: %v", v)
		}
		e.do("POST", "/api/v1/token", "", map[string]any{"api_key": s}).errBody(401)
	}
	if e.verify(newest)["valid"] != true {
		t.Error("the newest secret does not verify")
	}
	// {} means grace 0 too.
	r = e.do("POST", "/api/v1/api-keys/"+id+"/rotate", e.admin, map[string]any{}).want(200)
	if e.verify(newest)["valid"] != false || e.verify(r.str("key"))["valid"] != true {
		t.Error("rotate with {} kept the old secret")
	}
	for _, g := range []any{-1, 1e9, "soon", 18446744074, 9223372037} { // the last two overflow nanoseconds

		if _, f, _ := e.do("POST", "/api/v1/api-keys/"+id+"/rotate", e.admin, map[string]any{"grace_period_seconds": g}).errBody(400); f != "grace_period_seconds" {
			t.Errorf("grace %v: field %q", g, f)
		}
	}

	// The grace period never outlasts the key's expiry.
	id2, _ := e.createKey(uid, map[string]any{"expires_in_days": 1})
	r = e.do("POST", "/api/v1/api-keys/"+id2+"/rotate", e.admin, map[string]any{"grace_period_seconds": 10 * 24 * 3600}).want(200)
	m := r.obj()
	if m["grace_until"] != m["expires_at"] {
		t.Errorf("grace_until %v past expires_at %v", m["grace_until"], m["expires_at"])
	}

	// Concurrent rotations of one key: exactly one returned secret stays valid.
	id3, _ := e.createKey(uid, nil)
	const n = 8
	secrets := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := e.do("POST", "/api/v1/api-keys/"+id3+"/rotate", e.admin, map[string]any{})
			var k struct{ Key string }
			if res.status == 200 && json.Unmarshal(res.body, &k) == nil {
				secrets[i] = k.Key
			} else {
				t.Errorf("concurrent rotate: %d %s", res.status, res.body)
			}
		}()
	}
	wg.Wait()
	valid := 0
	for _, s := range secrets {
		if s != "" && e.verify(s)["valid"] == true {
			valid++
		}
	}
	if valid != 1 {
		t.Errorf("%d of %d concurrently rotated secrets are valid, want exactly 1", valid, n)
	}
	// The same holds after a restart, when the keys are read from the store.
	e.close()
	e.open()
	valid = 0
	for _, s := range secrets {
		if s != "" && e.verify(s)["valid"] == true {
			valid++
		}
	}
	if valid != 1 {
		t.Errorf("after restart %d secrets are valid, want exactly 1", valid)
	}
}

// TestExpiredKey ages a key in the database (the server is closed), then
// checks that verify says expired and the token endpoint refuses it.
func TestExpiredKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	uid, _ := e.createUser("gina", "user", nil)
	r := e.do("POST", "/api/v1/users/"+uid+"/api-keys", e.admin, map[string]any{"expires_in_days": 2}).want(201)
	id, key := r.str("id"), r.str("key")
	exp, err := time.Parse(time.RFC3339, r.str("expires_at"))
	if err != nil || time.Until(exp) < 47*time.Hour || time.Until(exp) > 49*time.Hour {
		t.Fatalf("expires_at %v for 2 days", r.obj()["expires_at"])
	}
	e.keyToken(key)
	e.close()
	e.sqlExec("UPDATE api_keys SET expires_at = ? WHERE id = ?", time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano), id)
	e.open()
	if v := e.verify(key); v["valid"] != false || v["code"] != "expired" {
		t.Errorf("verify of an expired key: %v", v)
	}
	e.do("POST", "/api/v1/token", "", map[string]any{"api_key": key}).errBody(401)
	if rec := e.findAudit(map[string]string{"event": "token", "key_id": id}); rec == nil || rec["reason"] != "expired" {
		t.Errorf("audit of the expired key's use: %v", rec)
	}
}

func TestCreateKeyWithoutBodyUsesDefaults(t *testing.T) {
	e := newEnv(t)
	uid, _ := e.createUser("nobody-body", "user", nil)
	r := e.do("POST", "/api/v1/users/"+uid+"/api-keys", e.admin, nil).want(201)
	key := r.str("key")
	if r.obj()["expires_at"] != nil || len(r.obj()["roles"].([]any)) != 0 {
		t.Fatalf("defaults not applied: %s", r.body)
	}
	if v := e.verify(key); v["valid"] != true {
		t.Fatalf("key made without a body does not verify: %v", v)
	}
}
