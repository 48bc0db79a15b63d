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
