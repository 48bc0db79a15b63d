package argus_test

import (
	"encoding/json"
	"testing"
)

// TestCustomerKeyAccountWide: a key limited to customers (here its native
// token) is refused, 403 in the surface's own error shape and audited as a
// customer_not_allowed denial, every action about the whole account its
// owner's permissions would otherwise allow: rotating the account's token
// signing keys (native), defining a role (native and PrivX) and reading the
// PrivX sources (the authenticators the native routes already refuse it).
// Nothing is changed; the owner's unconstrained key does each.
func TestCustomerKeyAccountWide(t *testing.T) {
	e := newEnv(t)
	e.role("ops", "users-view", "roles-view", "roles-manage", "authenticators-manage", "signing-keys-manage")
	owner := e.newUser("owner", "cust-a", true, "ops")
	e.newUser("other", "cust-b", false)
	strong := e.session(owner)
	limited := nativeToken(t, e, e.createKey(strong, "owner", map[string]any{"sessionConstraints": map[string]any{"customer": []string{"cust-a"}}}).APIKey)
	free := nativeToken(t, e, e.createKey(strong, "owner", map[string]any{}).APIKey)

	const rs = "/role-store/api/v1/"
	src := map[string]any{"name": "corp", "enabled": false, "connection": map[string]any{"type": "LDAP",
		"address": "127.0.0.1", "port": 1, "ldap_protocol": "LDAP", "ldap_base_dn": "dc=example,dc=com",
		"ldap_bind_dn": "cn=reader,dc=example,dc=com", "ldap_bind_password": "s3cret"}}
	var created struct {
		ID string `json:"id"`
	}
	e.native("POST", rs+"sources", free, src).want(201).decode(&created)

	// native: {"error":{"code":"forbidden","message":…}}; PrivX:
	// {"error_code":"FORBIDDEN","error_message":…}.
	nativeMsg := func(r *resp) (string, string) {
		var b struct {
			Error struct{ Code, Message string }
		}
		r.decode(&b)
		return b.Error.Code, b.Error.Message
	}
	privxMsg := func(r *resp) (string, string) {
		var b struct {
			Code    string `json:"error_code"`
			Message string `json:"error_message"`
		}
		r.decode(&b)
		return b.Code, b.Message
	}
	for _, c := range []struct {
		method, path string
		body         any
		shape        func(*resp) (string, string)
		code, msg    string
		detail       string // of the audited denial
	}{
		{"POST", "/api/v1/signing-keys/rotate", nil, nativeMsg, "forbidden",
			"a key limited to customers cannot rotate the signing keys", "the signing keys"},
		{"POST", "/api/v1/roles", map[string]any{"name": "cust-role", "permissions": []string{"users-view"}}, nativeMsg, "forbidden",
			"a key limited to customers cannot change the roles", "the roles"},
		{"POST", rs + "roles", map[string]any{"name": "cust-role-px", "permissions": []string{"users-view"}}, privxMsg, "FORBIDDEN",
			"a key limited to customers cannot change the roles", "the roles"},
		{"GET", rs + "sources", nil, privxMsg, "FORBIDDEN",
			"a key limited to customers cannot read the sources", "the sources"},
		{"GET", rs + "sources/" + created.ID, nil, privxMsg, "FORBIDDEN",
			"a key limited to customers cannot read the sources", "the sources"},
	} {
		r := e.native(c.method, c.path, limited, c.body)
		if r.status != 403 {
			t.Errorf("%s %s with the customer-limited key: %d %s, want 403", c.method, c.path, r.status, r.body)
			continue
		}
		if code, msg := c.shape(r); code != c.code || msg != c.msg {
			t.Errorf("%s %s with the customer-limited key: %s, want code %q message %q", c.method, c.path, r.body, c.code, c.msg)
		}
		rec := e.findAudit("authorize")
		if rec.Outcome != "failure" || rec.Reason != "customer_not_allowed" || rec.Detail != c.detail || rec.Actor != account+":user:owner" || rec.KeyID == "" {
			t.Errorf("%s %s: the refusal was audited %+v, want a customer_not_allowed failure of owner's key, detail %q", c.method, c.path, rec, c.detail)
		}
	}

	// Nothing happened: no rotation, no role.
	for _, rec := range e.lastAudit(100) {
		if rec.Event == "signing_key.rotate" || rec.Event == "role.create" && rec.Actor == account+":user:owner" {
			t.Errorf("the customer-limited key's refused calls still wrote %+v", rec)
		}
	}
	var roles struct {
		Items []struct {
			Name string `json:"name"`
		} `json:"items"`
	}
	e.native("GET", "/api/v1/roles?limit=100", free, nil).want(200).decode(&roles)
	for _, ro := range roles.Items {
		if ro.Name == "cust-role" || ro.Name == "cust-role-px" {
			t.Errorf("the customer-limited key created role %s", ro.Name)
		}
	}

	// The unconstrained key of the same owner does each.
	e.native("POST", "/api/v1/signing-keys/rotate", free, nil).want(204)
	if rec := e.findAudit("signing_key.rotate"); rec.Outcome != "success" || rec.Actor != account+":user:owner" {
		t.Errorf("the rotation was audited %+v", rec)
	}
	e.native("POST", "/api/v1/roles", free, map[string]any{"name": "cust-role", "permissions": []string{"users-view"}}).want(201)
	e.native("POST", rs+"roles", free, map[string]any{"name": "cust-role-px", "permissions": []string{"users-view"}}).want(201)
	var list struct {
		Count int               `json:"count"`
		Items []json.RawMessage `json:"items"`
	}
	e.native("GET", rs+"sources", free, nil).want(200).decode(&list)
	if len(list.Items) < 2 { // local and corp
		t.Errorf("sources listed for the unconstrained key: %d, want local and corp", len(list.Items))
	}
	e.native("GET", rs+"sources/"+created.ID, free, nil).want(200)
}
