package native_test

import (
	"net/http"
	"slices"
	"testing"
)

// Finding 16: an IPv4-mapped mask is an IPv4 mask. A blocking context with
// ::ffff:127.0.0.0/104 blocks IPv4 clients in 127.0.0.0/8 (it never matched
// them, so the role's permission held from everywhere); a mapped prefix
// shorter than /96 is refused.
func TestFinding16MappedMasksMatchIPv4Clients(t *testing.T) {
	e := newEnv(t)
	id, key := e.createUser("mona", "user", nil)
	r := e.do("POST", "/api/v1/roles", e.admin, map[string]any{"name": "blocked-on-loopback", "permissions": []string{"audit-view"},
		"context": map[string]any{"block": true, "ip_masks": []string{"::ffff:127.0.0.0/104"}}}).want(http.StatusCreated)
	e.grant(id, r.str("id"))
	if perms, _ := e.verify(key)["permissions"].([]any); slices.Contains(perms, any("audit-view")) {
		t.Fatalf("a role blocked on ::ffff:127.0.0.0/104 still gives audit-view to 127.0.0.1: %v", perms)
	}
	e.do("GET", "/api/v1/audit", e.keyToken(key), nil).errBody(http.StatusForbidden)
	e.do("POST", "/api/v1/users/"+id+"/api-keys", e.admin, map[string]any{"valid_sources": []string{"::ffff:10.0.0.0/8"}}).errBody(http.StatusBadRequest)
	k := e.do("POST", "/api/v1/users/"+id+"/api-keys", e.admin, map[string]any{"valid_sources": []string{"::ffff:127.0.0.1/128"}}).want(http.StatusCreated)
	if v := e.verify(k.str("key")); v["valid"] != true {
		t.Fatalf("a key bound to ::ffff:127.0.0.1/128 is refused from 127.0.0.1: %v", v)
	}
}
