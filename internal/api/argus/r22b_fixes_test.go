package argus_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// r22b R2: the refusal of DeleteRole to a customer-limited key is a 403
// audited with reason narrowed_credential, the role and its holder's grant
// stay; the owner's unconstrained key deletes it.
func TestR22bFixDeleteRoleNarrowed(t *testing.T) {
	e, limited, free := customerEnv(t)
	id := e.roleID("tenant-b")
	e.native("DELETE", "/api/v1/roles/"+id, limited, nil).want(403)
	if r := e.findAudit("authorize"); r.Outcome != "failure" || r.Reason != "narrowed_credential" {
		t.Fatalf("refusal audited as %+v", r)
	}
	e.native("GET", "/api/v1/roles/"+id, e.admin, nil).want(200)
	e.native("DELETE", "/api/v1/roles/"+id, free, nil).want(204)
}

// r22b R6: introspection of a token minted from a customer-limited key
// answers its customers and narrowed; an unconstrained key's token neither.
func TestR22bFixIntrospectShowsCustomerLimit(t *testing.T) {
	e, limited, free := customerEnv(t)
	introspect := func(tok string) map[string]any {
		req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/token/introspect", strings.NewReader(url.Values{"token": {tok}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		var out map[string]any
		if err := json.Unmarshal(e.send(req).want(200).body, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	in := introspect(limited)
	cs, _ := in["customers"].([]any)
	if in["active"] != true || len(cs) != 1 || cs[0] != "cust-a" || in["narrowed"] != true {
		t.Fatalf("introspection of a customer-limited token: %v", in)
	}
	in = introspect(free)
	if _, ok := in["customers"]; in["active"] != true || ok || in["narrowed"] != nil {
		t.Fatalf("introspection of an unconstrained token: %v", in)
	}
}

// r22b R4: the repeat is audited as apikey.read (success, the key, detail
// naming the repeat); once the key is deleted, or rotated, a repeat hands
// out no secret: 409 request.idempotency.conflict, audited as a failure.
func TestR22bFixIdempotentRepeatAfterRevoke(t *testing.T) {
	e := newEnv(t)
	u := e.newUser("idem2", "", true)
	tok := e.session(u)
	path := "/authentication/v1/user/idem2/apikey"
	var a keyObj
	e.call("POST", path, `{"description":"x"}`, bearer(tok), header("Idempotency-Key", "k1")).want(200).data(&a)
	e.call("POST", path, `{"description":"x"}`, bearer(tok), header("Idempotency-Key", "k1")).want(200)
	if r := e.findAudit("apikey.read"); r.Outcome != "success" || r.KeyID != a.ID || !strings.Contains(r.Detail, "idempotent repeat") {
		t.Fatalf("repeat audited as %+v", r)
	}
	e.call("DELETE", path+"/"+a.Prefix, nil, bearer(tok)).want(200)
	r := e.call("POST", path, `{"description":"x"}`, bearer(tok), header("Idempotency-Key", "k1"))
	r.fails(409, "request.idempotency.conflict")
	if strings.Contains(string(r.body), a.APIKey) {
		t.Fatalf("a revoked key's secret handed out again: %s", r.body)
	}
	if rec := e.findAudit("apikey.read"); rec.Outcome != "failure" || rec.Reason != "revoked" || rec.KeyID != a.ID {
		t.Fatalf("refused repeat audited as %+v", rec)
	}

	// Rotated natively since: the old secret is dead, not handed out.
	var b keyObj
	e.call("POST", path, `{"description":"y"}`, bearer(tok), header("Idempotency-Key", "k2")).want(200).data(&b)
	e.native("POST", "/api/v1/api-keys/"+b.ID+"/rotate", e.admin, map[string]any{}).want(200)
	e.call("POST", path, `{"description":"y"}`, bearer(tok), header("Idempotency-Key", "k2")).fails(409, "request.idempotency.conflict")
}

// r22b R3: a customer-limited key reads no authenticator nor API
// registration (403, audited customer_not_allowed), the unconstrained key
// of the same owner does; Conjur's api_key rotation time of a user of
// another customer is answered as missing, audited customer_not_allowed,
// while the owner's own and a cust-a user's stay readable.
func TestR22bFixCustomerReads(t *testing.T) {
	e, limited, free := customerEnv(t)
	e.newUser("peer", "cust-a", false)
	for _, p := range []string{"/api/v1/authenticators", "/api/v1/api-registrations"} {
		e.native("GET", p, limited, nil).want(403)
		if r := e.findAudit("authorize"); r.Outcome != "failure" || r.Reason != "customer_not_allowed" {
			t.Fatalf("GET %s refusal audited as %+v", p, r)
		}
		e.native("GET", p, free, nil).want(200)
	}
	e.native("GET", "/authn/"+account+"/api_key?role=user:other", limited, nil).want(404)
	if r := e.findAudit("apikey.rotation"); r.Outcome != "failure" || r.Reason != "customer_not_allowed" {
		t.Fatalf("hidden rotation time audited as %+v", r)
	}
	e.native("GET", "/authn/"+account+"/api_key?role=user:peer", limited, nil).want(200)
	e.native("GET", "/authn/"+account+"/api_key?role=user:other", free, nil).want(200)
}
