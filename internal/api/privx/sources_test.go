package privx_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/keyward/keyward/internal/authn/ldap/ldaptest"
	"github.com/keyward/keyward/internal/authn/oidc/oidctest"
)

// grantFlags returns, per role name, "explicit,implicit" of a user's roles.
func grantFlags(e *env, userID string) map[string]string {
	out := map[string]string{}
	for _, it := range e.do("GET", "/role-store/api/v1/users/"+userID+"/roles", e.admin, nil).want(200).items() {
		f := []string{}
		if it["explicit"] == true {
			f = append(f, "explicit")
		}
		if it["implicit"] == true {
			f = append(f, "implicit")
		}
		out[it["name"].(string)] = strings.Join(f, ",")
	}
	return out
}

func group(t *testing.T, srv *ldaptest.Server, cn string, members ...string) string {
	t.Helper()
	dn := "cn=" + cn + ",ou=groups," + srv.BaseDN
	conn := srv.Conn(t)
	_ = conn.Del(ldap.NewDelRequest(dn, nil))
	if len(members) == 0 {
		return dn
	}
	r := ldap.NewAddRequest(dn, nil)
	r.Attribute("objectClass", []string{"groupOfNames"})
	r.Attribute("cn", []string{cn})
	r.Attribute("member", members)
	if err := conn.Add(r); err != nil {
		t.Fatal(err)
	}
	return dn
}

// TestSourcesAndLDAPRoleMappings: an LDAP source stored through the PrivX
// API is authenticator authn-ldap/<id> against a real slapd; its users'
// mapped grants follow their groups at each authentication.
func TestSourcesAndLDAPRoleMappings(t *testing.T) {
	srv := ldaptest.Start(t)
	conn := srv.Conn(t)
	ou := ldap.NewAddRequest("ou=groups,"+srv.BaseDN, nil)
	ou.Attribute("objectClass", []string{"organizationalUnit"})
	ou.Attribute("ou", []string{"groups"})
	if err := conn.Add(ou); err != nil {
		t.Fatal(err)
	}
	aliceDN := srv.AddUser(t, "alice", "alice-ldap-pw")
	e := newEnvAt(t, time.Now().UTC().Truncate(time.Second))
	const p = "/role-store/api/v1/"
	body := map[string]any{"name": "corp", "enabled": true, "comment": "the directory", "tags": []string{"x"},
		"connection": map[string]any{"type": "LDAP", "address": srv.Host, "port": srv.Port, "ldap_protocol": "LDAP",
			"ldap_base_dn": srv.BaseDN, "ldap_bind_dn": srv.BindDN, "ldap_bind_password": srv.BindPassword, "attribute_mapping": nil}}
	src := e.do("POST", p+"sources", e.admin, body).want(201).str("id")
	got := e.do("GET", p+"sources/"+src, e.admin, nil).want(200).obj()
	c := got["connection"].(map[string]any)
	if got["status_code"] != "OK" || got["name"] != "corp" || got["comment"] != "the directory" || c["ldap_bind_password"] != "*****" ||
		c["ldap_base_dn"] != srv.BaseDN || c["port"].(float64) != float64(srv.Port) {
		t.Fatalf("source reads back %v", got)
	}
	// A PUT with the masked secret keeps it.
	body["connection"].(map[string]any)["ldap_bind_password"] = "*****"
	e.do("PUT", p+"sources/"+src, e.admin, body).want(200)
	// Aimed elsewhere, the masked secret must be given again.
	moved := map[string]any{"name": "corp", "enabled": true, "connection": map[string]any{"type": "LDAP", "address": "192.0.2.1",
		"port": srv.Port, "ldap_base_dn": srv.BaseDN, "ldap_bind_dn": srv.BindDN, "ldap_bind_password": "*****"}}
	e.do("PUT", p+"sources/"+src, e.admin, moved).wantError(400, "BAD_REQUEST", "ldap_bind_password")
	native := e.do("GET", "/api/v1/authenticators/authn-ldap/"+src, e.admin, nil).want(200).obj()
	if native["enabled"] != true {
		t.Fatalf("authenticator %v", native)
	}

	// External search: the directory live.
	srv.AddUser(t, "albert", "x-pw")
	ext := e.do("POST", p+"users/search/external", e.admin, map[string]any{"keywords": "ALI"}).want(200)
	if items := ext.items(); ext.count() != 1 || items[0]["principal"] != "alice" || items[0]["source"] != src ||
		items[0]["source_type"] != "LDAP" || items[0]["distinguished_name"] != aliceDN || items[0]["source_user_id"] != "alice" {
		t.Fatalf("external search: %s", ext.body)
	}
	if n := e.do("POST", p+"users/search/external", e.admin, map[string]any{}).want(200).count(); n != 2 {
		t.Fatalf("external search of all: %d", n)
	}

	alice, _ := e.user("alice", map[string]any{"source": src})
	ops := group(t, srv, "ops", aliceDN)
	dev := group(t, srv, "dev")
	opsRole := e.role(map[string]any{"name": "ops", "permissions": []string{"users-view"}, "source_rules": map[string]any{
		"type": "GROUP", "match": "ANY", "rules": []map[string]any{{"type": "RULE", "source": src, "search_string": strings.ToUpper(ops)}}}})
	e.role(map[string]any{"name": "ops-and-dev", "source_rules": map[string]any{"type": "GROUP", "match": "ALL", "rules": []map[string]any{
		{"type": "RULE", "source": src, "search_string": ops}, {"type": "RULE", "source": src, "search_string": dev}}}})
	e.role(map[string]any{"name": "elsewhere", "source_rules": map[string]any{"type": "GROUP", "match": "ANY", "rules": []map[string]any{
		{"type": "RULE", "source": "another", "search_string": ops}}}})
	e.grant(alice, map[string]any{"id": opsRole})
	login := func() {
		t.Helper()
		r := e.do("POST", "/authn-ldap/"+src+"/"+account+"/alice/authenticate", "", "alice-ldap-pw")
		r.want(200)
	}
	if got := grantFlags(e, alice); len(got) != 1 || got["ops"] != "explicit" {
		t.Fatalf("before login: %v", got)
	}
	login()
	if got := grantFlags(e, alice); len(got) != 1 || got["ops"] != "explicit,implicit" {
		t.Fatalf("after login in ops: %v", got)
	}
	group(t, srv, "dev", aliceDN)
	login()
	if got := grantFlags(e, alice); len(got) != 2 || got["ops-and-dev"] != "implicit" {
		t.Fatalf("after login in ops and dev: %v", got)
	}
	user := e.do("GET", p+"users/"+alice, e.admin, nil).want(200).obj()
	if user["source_type"] != "LDAP" || user["source"] != src || user["source_user_id"] != "alice" {
		t.Fatalf("user's source: %v %v %v", user["source_type"], user["source"], user["source_user_id"])
	}
	group(t, srv, "ops")
	e.grant(alice)
	login()
	if got := grantFlags(e, alice); len(got) != 0 {
		t.Fatalf("after leaving ops: %v", got)
	}
	if !strings.Contains(string(e.do("GET", "/api/v1/audit?limit=100", e.admin, nil).want(200).body), "grant.map") {
		t.Fatal("mapping changes are not audited")
	}

	// An incomplete source is stored with its problem; a wrong type is refused.
	inc := e.do("POST", p+"sources", e.admin, map[string]any{"name": "half", "connection": map[string]any{"type": "LDAP", "ldap_base_dn": "dc=x"}}).want(201).str("id")
	if got := e.do("GET", p+"sources/"+inc, e.admin, nil).want(200).obj(); got["status_code"] != "ERROR" || got["status_text"] == "" || got["enabled"] != false {
		t.Fatalf("incomplete source %v", got)
	}
	e.do("POST", p+"sources", e.admin, map[string]any{"name": "aws", "connection": map[string]any{"type": "AWS"}}).wantError(400, "BAD_REQUEST", "type")
	e.do("POST", p+"sources", e.admin, map[string]any{"name": "x", "connection": map[string]any{"type": "LDAP", "ldap_protocol": "SMOKE"}}).wantError(400, "BAD_REQUEST", "ldap_protocol")
	e.do("PUT", p+"sources/local", e.admin, map[string]any{"name": "local", "connection": map[string]any{"type": "LOCAL"}}).wantError(400, "BAD_REQUEST", "id")
	e.do("DELETE", p+"sources/local", e.admin, nil).wantError(400, "BAD_REQUEST", "id")
	list := e.do("GET", p+"sources", e.admin, nil).want(200)
	items := list.items()
	if list.count() != 3 || items[0]["id"] != "local" || items[0]["connection"].(map[string]any)["type"] != "LOCAL" {
		t.Fatalf("sources %s", list.body)
	}
	e.do("DELETE", p+"sources/"+inc, e.admin, nil).want(200)
	e.do("GET", p+"sources/"+inc, e.admin, nil).wantError(404, "NOT_FOUND", "")
}

// TestOIDCRoleMappings: an OIDC source against a local issuer maps the
// groups claim it names to roles at each authentication.
func TestOIDCRoleMappings(t *testing.T) {
	prov := oidctest.New(t)
	e := newEnvAt(t, time.Now().UTC().Truncate(time.Second))
	const p = "/role-store/api/v1/"
	src := e.do("POST", p+"sources", e.admin, map[string]any{"name": "idp", "enabled": true, "connection": map[string]any{"type": "OIDC",
		"oidc_issuer": prov.URL, "oidc_client_id": prov.ClientID, "oidc_client_secret": prov.ClientSecret,
		"oidc_tags_attribute_name": "roles"}}).want(201).str("id")
	if got := e.do("GET", p+"sources/"+src, e.admin, nil).want(200).obj(); got["status_code"] != "OK" ||
		got["connection"].(map[string]any)["oidc_client_secret"] != "*****" {
		t.Fatalf("oidc source %v", got)
	}
	carol, _ := e.user("carol", map[string]any{"source": src})
	admins := e.role(map[string]any{"name": "admins", "permissions": []string{"roles-view"}, "source_rules": map[string]any{"type": "GROUP",
		"match": "ANY", "rules": []map[string]any{{"type": "RULE", "source": src, "search_string": "keyward-admins"}}}})
	login := func(groups ...string) {
		t.Helper()
		c := prov.Claims("u-carol", prov.ClientID)
		c["preferred_username"] = "carol"
		c["roles"] = groups
		e.do("POST", "/authn-oidc/"+src+"/"+account+"/authenticate", "", "id_token="+url.QueryEscape(prov.Sign(c)),
			"Content-Type", "application/x-www-form-urlencoded").want(200)
	}
	login("keyward-admins", "other")
	if got := grantFlags(e, carol); got["admins"] != "implicit" {
		t.Fatalf("after login with the group: %v", got)
	}
	if u := e.do("GET", p+"users/"+carol, e.admin, nil).want(200).obj(); u["source_type"] != "OIDC" || !slices.Contains(toStrings(u["permissions"]), "roles-view") {
		t.Fatalf("carol %v %v", u["source_type"], u["permissions"])
	}
	login("other")
	if got := grantFlags(e, carol); len(got) != 0 {
		t.Fatalf("after login without the group: %v", got)
	}
	_ = admins
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}
