package argus_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"strings"

	"testing"
	"time"
)

func pemOf(t *testing.T, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// TestSecurityLevels: creating and deleting API keys and enrolling and
// deleting signature keys need level 3, refused (403, audited with reason
// security_level) for an API key (1) and a password session (2) before the
// body is read; listing takes any credential; a TOTP session (3) may.
func TestSecurityLevels(t *testing.T) {
	e := newEnv(t)
	u := e.newUser("alice", "", true)
	strong := e.session(u)
	k := e.createKey(strong, "alice", map[string]any{"description": "automation"})
	// A password session of the same user: a second user without MFA shows level 2.
	weakUser := e.newUser("carol", "", false)
	weak := e.session(weakUser)
	_, seal, _ := ed25519.GenerateKey(rand.Reader)
	var sig struct {
		ID string `json:"id"`
	}
	e.call("POST", "/authentication/v1/user/alice/signature", map[string]any{"publicKey": pemOf(t, seal.Public())}, bearer(strong)).want(200).data(&sig)

	for _, c := range []struct {
		name, login string
		cred        cred
	}{{"API key", "alice", apiKey(k.APIKey)}, {"password session", "carol", bearer(weak)}} {
		for _, rt := range []struct{ method, path string }{
			{"POST", "/authentication/v1/user/" + c.login + "/apikey"},
			{"DELETE", "/authentication/v1/user/alice/apikey/" + k.Prefix},
			{"POST", "/authentication/v1/user/" + c.login + "/signature"},
			{"DELETE", "/authentication/v1/user/alice/signature/" + sig.ID},
		} {
			e.call(rt.method, rt.path, "{this body is never read", c.cred).fails(403, "authorization.securitylevel")
			if rec := e.lastAudit(1)[0]; rec.Event != "authorize" || rec.Outcome != "failure" || rec.Reason != "security_level" {
				t.Fatalf("%s %s %s: recorded %+v", c.name, rt.method, rt.path, rec)
			}
		}
	}
	// Listing needs any valid credential.
	e.call("GET", "/authentication/v1/user/alice/apikey", nil, apiKey(k.APIKey)).want(200)
	e.call("GET", "/authentication/v1/user/alice/signature", nil, apiKey(k.APIKey)).want(200)
	e.call("GET", "/authentication/v1/user/carol/apikey", nil, bearer(weak)).want(200)
	// The native key routes keep no minimum level: the key mints natively.
	e.call("POST", "/api/v1/users/"+u.id+"/api-keys", map[string]any{"description": "native"}, header("Authorization", "Bearer "+nativeToken(t, e, k.APIKey))).want(201)
}

// nativeToken exchanges an Argus key for a native token (same core key).
func nativeToken(t *testing.T, e *env, argusKey string) string {
	t.Helper()
	parts := strings.Split(argusKey, "/")
	var keys struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	e.native("GET", "/api/v1/users/"+parts[0]+"/api-keys", e.admin, nil).want(200).decode(&keys)
	found := false
	for _, k := range keys.Items {
		found = found || k.ID == parts[1]
	}
	if !found {
		t.Fatalf("the native key list does not show Argus key %s", parts[1])
	}
	// The Argus key authenticates the Argus surface; a native token is made from a session of it.
	var s struct {
		AccessToken string `json:"access_token"`
	}
	e.native("POST", "/api/v1/token", "", map[string]any{"api_key": nativeKeyOf(argusKey)}).want(200).decode(&s)
	return s.AccessToken
}

func TestAPIKeyLifecycle(t *testing.T) {
	e := newEnv(t)
	u := e.newUser("alice", "", true)
	tok := e.session(u)
	k := e.createKey(tok, "alice", map[string]any{"description": "My read-only key", "validSources": "127.0.0.1", "expirationDays": 30})
	now := e.clock.Now()
	switch {
	case k.ID == "" || k.Prefix != u.id+"/"+k.ID || k.User != (userRef{ID: u.id, UserName: "alice"}):
		t.Fatalf("ids %+v", k)
	case k.Description != "My read-only key" || strings.Join(k.ValidSources, ",") != "127.0.0.1/32":
		t.Fatalf("fields %+v", k)
	case k.ExpirationTimestamp == nil || *k.ExpirationTimestamp != now.Add(30*24*time.Hour).UnixMilli():
		t.Fatalf("expiry %v, want creation + 30 days", k.ExpirationTimestamp)
	case k.CreatedTimestamp != now.UnixMilli() || k.LastUsedTimestamp != nil:
		t.Fatalf("times %+v", k)
	case k.SessionConstraints.Function == nil || k.SessionConstraints.Customer == nil:
		t.Fatalf("unconstrained key must show empty arrays: %+v", k)
	}
	parts := strings.Split(k.APIKey, "/")
	if len(parts) != 3 || parts[0] != u.id || parts[1] != k.ID || strings.ContainsAny(parts[2], "/ \t\n") || len(parts[2]) < 32 {
		t.Fatalf("apiKey %q", k.APIKey)
	}
	if rec := e.findAudit("apikey.create"); rec.Outcome != "success" || rec.KeyID != k.ID || rec.Actor != account+":user:alice" || rec.Subject != account+":user:alice" {
		t.Fatalf("apikey.create recorded %+v", rec)
	}
	// The key works, by login or id in the path; the list never shows a secret.
	var list []keyObj
	env := e.call("GET", "/authentication/v1/user/alice/apikey", nil, apiKey(k.APIKey)).want(200)
	if env.envelope(); strings.Contains(string(env.body), parts[2]) {
		t.Fatal("the list shows a secret")
	}
	en := e.call("GET", "/authentication/v1/user/"+u.id+"/apikey", nil, apiKey(k.APIKey)).want(200).data(&list)
	if en.Count != 1 || en.Size != 1 || en.Limit != 25 || len(list) != 1 || list[0].ID != k.ID || list[0].APIKey != "" {
		t.Fatalf("list %+v %+v", en, list)
	}
	if list[0].LastUsedTimestamp == nil || *list[0].LastUsedTimestamp != now.UnixMilli() {
		t.Fatalf("last use %v, want the use just made", list[0].LastUsedTimestamp)
	}
	// Pages: limit and offset as applied.
	e.createKey(tok, "alice", nil)
	en = e.call("GET", "/authentication/v1/user/alice/apikey?limit=1&offset=1", nil, bearer(tok)).want(200).data(&list)
	if en.Count != 2 || en.Size != 1 || en.Limit != 1 || en.Offset != 1 {
		t.Fatalf("page %+v", en)
	}
	e.call("GET", "/authentication/v1/user/alice/apikey?limit=0&offset=-1", nil, bearer(tok)).fieldErrors("limit", "offset")
	e.call("GET", "/authentication/v1/user/alice/apikey?limit=1001", nil, bearer(tok)).fieldErrors("limit")
	// Another user's key is the wrong secret for this one.
	wrong := parts[0] + "/" + parts[1] + "/" + strings.Repeat("A", len(parts[2]))
	e.call("GET", "/authentication/v1/user/alice/apikey", nil, apiKey(wrong)).fails(401, "authentication.apikey.invalid")
	other := e.newUser("bob", "", false)
	e.call("GET", "/authentication/v1/user/alice/apikey", nil, apiKey(other.id+"/"+parts[1]+"/"+parts[2])).fails(401, "authentication.apikey.invalid")

	// Delete by prefix: 200 with the object, refused at once afterwards.
	e.call("DELETE", "/authentication/v1/user/alice/apikey/"+other.id+"/"+k.ID, nil, bearer(tok)).fails(404, "object.notfound")
	e.call("DELETE", "/authentication/v1/user/alice/apikey/"+u.id+"/nosuchkey0000000", nil, bearer(tok)).fails(404, "object.notfound")
	e.call("DELETE", "/authentication/v1/user/nobody/apikey/"+k.Prefix, nil, bearer(tok)).fails(404, "object.notfound")
	var del keyObj
	e.call("DELETE", "/authentication/v1/user/alice/apikey/"+k.Prefix, nil, bearer(tok)).want(200).data(&del)
	if del.ID != k.ID || del.Prefix != k.Prefix || del.APIKey != "" {
		t.Fatalf("deleted %+v", del)
	}
	if rec := e.findAudit("apikey.revoke"); rec.Outcome != "success" || rec.KeyID != k.ID || rec.Actor != account+":user:alice" || rec.Subject != account+":user:alice" {
		t.Fatalf("apikey.revoke recorded %+v", rec)
	}
	e.call("GET", "/authentication/v1/user/alice/apikey", nil, apiKey(k.APIKey)).fails(401, "authentication.apikey.invalid")
	e.call("DELETE", "/authentication/v1/user/alice/apikey/"+k.Prefix, nil, bearer(tok)).fails(404, "object.notfound")
	e.call("GET", "/authentication/v1/user/alice/apikey", nil, bearer(tok)).want(200).data(&list)
	if len(list) != 1 || list[0].ID == k.ID {
		t.Fatalf("a deleted key is listed: %+v", list)
	}
}

func TestKeyValidation(t *testing.T) {
	e := newEnv(t)
	e.role("viewer", "users-view")
	e.role("mapped-only", "users-view")
	alice := e.newUser("alice", "", true, "viewer")
	tok := e.session(alice)
	path := "/authentication/v1/user/alice/apikey"
	future := e.clock.Now().Add(time.Hour).UnixMilli()
	for _, c := range []struct {
		body   any
		fields []string
	}{
		{map[string]any{"validSources": "10.0.0.0/33"}, []string{"validSources"}},
		{map[string]any{"validSources": []string{"10.0.0.0/8", "nonsense"}}, []string{"validSources"}},
		{map[string]any{"validSources": 5}, []string{"validSources"}},
		{map[string]any{"expirationDays": 0}, []string{"expirationDays"}},
		{map[string]any{"expirationDays": 3651}, []string{"expirationDays"}},
		{map[string]any{"expirationDays": 1.5}, []string{"expirationDays"}},
		{map[string]any{"expirationDays": 30, "expirationTimestamp": future}, []string{"expirationTimestamp"}},
		{map[string]any{"expirationTimestamp": e.clock.Now().Add(-time.Second).UnixMilli()}, []string{"expirationTimestamp"}},
		{map[string]any{"expirationTimestamp": e.clock.Now().Add(3651 * 24 * time.Hour).UnixMilli()}, []string{"expirationTimestamp"}},
		{map[string]any{"description": strings.Repeat("d", 1025)}, []string{"description"}},
		{map[string]any{"sessionConstraints": map[string]any{"function": []string{"no-such-role"}}}, []string{"sessionConstraints.function"}},
		{map[string]any{"sessionConstraints": map[string]any{"function": []string{"mapped-only"}}}, []string{"sessionConstraints.function"}},
		{map[string]any{"sessionConstraints": map[string]any{"customer": []string{"Bad_Customer"}}}, []string{"sessionConstraints.customer"}},
		{map[string]any{"sessionConstraints": map[string]any{"colour": "red"}}, []string{"sessionConstraints.colour"}},
		{map[string]any{"sessionConstraints": "x"}, []string{"sessionConstraints"}},
		{map[string]any{"nonsense": 1}, []string{"nonsense"}},
		// Every bad field at once.
		{map[string]any{"validSources": "x", "description": strings.Repeat("d", 1025), "expirationDays": 0,
			"sessionConstraints": map[string]any{"customer": []string{"-x"}}}, []string{"validSources", "description", "expirationDays", "sessionConstraints.customer"}},
	} {
		ms := e.call("POST", path, c.body, bearer(tok)).fieldErrors(c.fields...)
		if ms[0].MessageTemplate != "validation.failed" {
			t.Fatalf("%v: %+v", c.body, ms[0])
		}
	}
	ms := e.call("POST", path, map[string]any{"validSources": []string{"10.0.0.0/8", "nonsense"}}, bearer(tok)).fieldErrors("validSources")
	if ms[0].Parameter != "nonsense" {
		t.Fatalf("parameter %v, want the offending value", ms[0].Parameter)
	}
	e.call("POST", path, "not json", bearer(tok)).fails(412, "validation.failed")
	// Normalised sources, an address as /32 or /128, a network by its base.
	k := e.createKey(tok, "alice", map[string]any{"validSources": []string{"10.40.3.4/16", "::1", "192.0.2.7"}})
	if got := strings.Join(k.ValidSources, ","); got != "10.40.0.0/16,::1/128,192.0.2.7/32" {
		t.Fatalf("sources %s", got)
	}
}
