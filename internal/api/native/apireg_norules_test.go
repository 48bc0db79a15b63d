package native_test

import (
	"net/url"
	"testing"
)

// TestAPIRegistrationWithoutRules: a registration may be created with a name
// alone (the console's first step); it admits nobody until rules are given,
// and an explicit rules list still needs an ip or psrun rule.
func TestAPIRegistrationWithoutRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reg := e.do("POST", "/api/v1/api-registrations", e.admin, map[string]any{"name": "bare", "allowed": []string{"user:admin"}}).want(201).obj()
	if rules, _ := reg["rules"].([]any); rules == nil || len(rules) != 0 {
		t.Fatalf("rules = %v", reg["rules"])
	}
	key := reg["key"].(string)
	e.do("POST", "/BeyondTrust/api/public/v3/Auth/SignAppin", "", nil, "Authorization", "PS-Auth key="+key+"; runas=admin;").want(401)
	recs := e.do("GET", "/api/v1/audit?"+url.Values{"event": {"psauth.signappin"}, "limit": {"1"}}.Encode(), e.admin, nil).want(200).items()
	if len(recs) != 1 || recs[0]["outcome"] != "failure" || recs[0]["reason"] != "source_not_allowed" {
		t.Fatalf("sign-in record: %v", recs)
	}
	if _, field, _ := e.do("PATCH", "/api/v1/api-registrations/"+reg["id"].(string), e.admin, map[string]any{"rules": []map[string]string{{"type": "xff", "value": "10.0.0.0/8"}}}).errBody(400); field != "rules" {
		t.Fatalf("xff-only rules: field %q", field)
	}
}
