package privx_test

// Review r21 (issue 21, PrivX role-store), the sources findings (F1, F2,
// F3, F8, F12): each test below FAILED on commit 5510312. The other
// findings' tests are in review_r21_test.go (another branch); the helpers
// here are prefixed src so the two files can live side by side.

import (
	"slices"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/keyward/keyward/internal/authn/ldap/ldaptest"
	"github.com/keyward/keyward/internal/authn/oidc/oidctest"
)

const srcRS = "/role-store/api/v1/"

// srcLDAPWithGroups starts a slapd with an ou=groups.
func srcLDAPWithGroups(t *testing.T) *ldaptest.Server {
	t.Helper()
	srv := ldaptest.Start(t)
	ou := ldap.NewAddRequest("ou=groups,"+srv.BaseDN, nil)
	ou.Attribute("objectClass", []string{"organizationalUnit"})
	ou.Attribute("ou", []string{"groups"})
	if err := srv.Conn(t).Add(ou); err != nil {
		t.Fatal(err)
	}
	return srv
}

func srcLDAPSource(srv *ldaptest.Server) map[string]any {
	return map[string]any{"name": "corp", "enabled": true, "connection": map[string]any{"type": "LDAP", "address": srv.Host,
		"port": srv.Port, "ldap_protocol": "LDAP", "ldap_base_dn": srv.BaseDN, "ldap_bind_dn": srv.BindDN,
		"ldap_bind_password": srv.BindPassword}}
}

func srcPermsOf(e *env, id string) []string {
	return toStrings(e.do("GET", srcRS+"users/"+id, e.admin, nil).want(200).obj()["permissions"])
}

// F1 (high): a holder of authenticators-manage only, a user of source corp,
// re-points corp at a directory it controls (PUT sources/{id} makes it the
// source's author) and logs in through it as itself with the group a
// powerful role is mapped from: the author check at login skips the author
// itself (authorOutranks: definedBy == p.ID), so the mapping hands it every
// permission of that role. Natively nobody grants what they do not hold.
func TestR21SourceAuthorMapsItselfIntoRole(t *testing.T) {
	corp := srcLDAPWithGroups(t)
	evil := srcLDAPWithGroups(t) // mallory's own directory (same base DN)
	e := newEnvAt(t, time.Now().UTC().Truncate(time.Second))
	src := e.do("POST", srcRS+"sources", e.admin, srcLDAPSource(corp)).want(201).str("id")
	vaultDN := "cn=vault,ou=groups," + corp.BaseDN
	e.role(map[string]any{"name": "vault", "permissions": []string{"signing-keys-manage", "users-manage", "roles-manage", "api-keys-manage"},
		"source_rules": map[string]any{"type": "GROUP", "match": "ANY", "rules": []map[string]any{{"type": "RULE", "source": src, "search_string": vaultDN}}}})
	dirs := e.role(map[string]any{"name": "dirs", "permissions": []string{"authenticators-manage"}})
	corp.AddUser(t, "mallory", "mallory-corp-pw")
	mallory, key := e.user("mallory", map[string]any{"source": src})
	e.grant(mallory, map[string]any{"id": dirs})
	tok := e.nativeToken(key)

	// Mallory's directory: she is in cn=vault.
	mDN := evil.AddUser(t, "mallory", "mallory-own-pw")
	group(t, evil, "vault", mDN)
	moved := srcLDAPSource(evil)
	e.clock.add(time.Minute)
	pr := e.do("PUT", srcRS+"sources/"+src, tok, moved) // whatever the answer, what follows must not escalate
	lr := e.do("POST", "/authn-ldap/"+src+"/"+account+"/mallory/authenticate", "", "mallory-own-pw")
	t.Logf("put %d %s login %d %s", pr.status, pr.body, lr.status, lr.body)
	if got := srcPermsOf(e, mallory); slices.Contains(got, "signing-keys-manage") {
		t.Fatalf("mallory (authenticators-manage only) mapped herself into role vault through a source she re-pointed: permissions now %v", got)
	}
}

// F2 (high): the mapped grants are stored before the author check refuses
// the login. Mallory (authenticators-manage, users-manage) creates a user
// "puppet" of source corp (she gets its API key), re-points corp at her own
// directory and logs in through it as puppet with the vault group: the
// login is refused (she does not outrank puppet with vault), but puppet
// keeps vault for good, and mallory holds puppet's API key.
func TestR21RefusedSourceLoginKeepsMappedGrants(t *testing.T) {
	corp := srcLDAPWithGroups(t)
	evil := srcLDAPWithGroups(t)
	e := newEnvAt(t, time.Now().UTC().Truncate(time.Second))
	src := e.do("POST", srcRS+"sources", e.admin, srcLDAPSource(corp)).want(201).str("id")
	vaultDN := "cn=vault,ou=groups," + corp.BaseDN
	e.role(map[string]any{"name": "vault", "permissions": []string{"signing-keys-manage"},
		"source_rules": map[string]any{"type": "GROUP", "match": "ANY", "rules": []map[string]any{{"type": "RULE", "source": src, "search_string": vaultDN}}}})
	dirs := e.role(map[string]any{"name": "dirs", "permissions": []string{"authenticators-manage", "users-manage", "users-view"}})
	mallory, key := e.user("mallory", nil)
	e.grant(mallory, map[string]any{"id": dirs})
	tok := e.nativeToken(key)
	created := e.do("POST", "/api/v1/users", tok, map[string]any{"login": "puppet", "source": src}).want(201).obj()
	puppet, puppetKey := created["id"].(string), created["api_key"].(string)

	bDN := evil.AddUser(t, "puppet", "known-to-mallory")
	group(t, evil, "vault", bDN)
	e.clock.add(time.Minute)
	e.do("PUT", srcRS+"sources/"+src, tok, srcLDAPSource(evil)).want(200)
	r := e.do("POST", "/authn-ldap/"+src+"/"+account+"/puppet/authenticate", "", "known-to-mallory")
	if r.status == 200 {
		t.Fatalf("mallory logged in as puppet with vault through her directory")
	}
	if got := srcPermsOf(e, puppet); slices.Contains(got, "signing-keys-manage") {
		// mallory's copy of puppet's API key now rotates the signing key.
		st := e.do("POST", "/api/v1/signing-keys/rotate", e.nativeToken(puppetKey), nil).status
		t.Fatalf("a refused login (status %d) still stored puppet's mapped grant of vault: permissions %v; mallory, with puppet's API key, rotates the signing key: %d", r.status, got, st)
	}
}

// F3 (high): a source is defined through PrivX without the native
// authenticator rules: a key narrowed by roles (or customers) may not define
// who logs in as whom (notNarrowed), but PUT/POST sources accept it.
func TestR21NarrowedKeyDefinesSource(t *testing.T) {
	e := newEnvAt(t, time.Now().UTC().Truncate(time.Second))
	dirs := e.role(map[string]any{"name": "dirs", "permissions": []string{"authenticators-manage"}})
	other := e.role(map[string]any{"name": "other", "permissions": []string{"users-view"}})
	u, _ := e.user("dana", nil)
	e.grant(u, map[string]any{"id": dirs}, map[string]any{"id": other})
	// A key of dana's narrowed to the role dirs (as the native route makes them).
	r := e.do("POST", "/api/v1/users/"+u+"/api-keys", e.admin, map[string]any{"roles": []string{dirs}}).want(201).obj()
	narrowed := e.nativeToken(r["key"].(string))
	// The native route refuses the narrowed key...
	if st := e.do("PUT", "/api/v1/authenticators/authn-ldap/x1", narrowed, map[string]any{"enabled": false,
		"config": map[string]string{"host": "192.0.2.1", "base_dn": "dc=x"}}).status; st != 403 {
		t.Fatalf("native authenticator PUT with a narrowed key: %d (expected 403)", st)
	}
	// ...the PrivX one must too.
	body := map[string]any{"name": "x", "enabled": true, "connection": map[string]any{"type": "LDAP", "address": "192.0.2.1", "ldap_base_dn": "dc=x"}}
	if got := e.do("POST", srcRS+"sources", narrowed, body); got.status != 403 {
		t.Fatalf("POST sources with a key narrowed by roles: %d %s (native refuses such keys: 403)", got.status, got.body)
	}
}

// F8 (medium): the native authenticator route stores the source's reserved
// configuration keys (privx-source, privx-groups-claim…) as sent: any
// authn-ldap/authn-oidc service becomes a PrivX source, which admits every
// user whose source is its id whatever its allowed list says (allowedBy)
// and maps roles at login — mayAdmit checked only the (empty) allowed list.
func TestR21NativeAuthenticatorCannotMarkSource(t *testing.T) {
	prov := oidctest.New(t)
	e := newEnvAt(t, time.Now().UTC().Truncate(time.Second))
	r := e.do("PUT", "/api/v1/authenticators/authn-oidc/evil", e.admin, map[string]any{"enabled": true, "config": map[string]string{
		"provider-uri": prov.URL, "client-id": prov.ClientID, "id-token-user-property": "preferred_username", "privx-source": "true"}})
	if r.status == 400 {
		return
	}
	for _, it := range e.do("GET", srcRS+"sources", e.admin, nil).want(200).items() {
		if it["id"] == "evil" {
			t.Fatalf("native PUT authenticators/authn-oidc/evil with config privx-source=true (%d) made a PrivX source (allowed [] ignored for its users)", r.status)
		}
	}
}

// F12 (medium): a mapped grant outlives the group membership it came from
// for as long as its holder never logs in through the source again: the
// mapping is re-decided only at source logins, so a user removed from the
// directory group keeps the role's permissions through its API key (and
// tokens) indefinitely. Removing someone from the admins group in LDAP does
// not take keyward's admin-ish role away.
func TestR21MappedGrantFollowsGroupRemoval(t *testing.T) {
	corp := srcLDAPWithGroups(t)
	e := newEnvAt(t, time.Now().UTC().Truncate(time.Second))
	src := e.do("POST", srcRS+"sources", e.admin, srcLDAPSource(corp)).want(201).str("id")
	aDN := corp.AddUser(t, "alice", "alice-pw")
	grp := group(t, corp, "ops", aDN)
	e.role(map[string]any{"name": "ops", "permissions": []string{"signing-keys-manage"}, "source_rules": map[string]any{"type": "GROUP",
		"match": "ANY", "rules": []map[string]any{{"type": "RULE", "source": src, "search_string": grp}}}})
	_, key := e.user("alice", map[string]any{"source": src})
	e.do("POST", "/authn-ldap/"+src+"/"+account+"/alice/authenticate", "", "alice-pw").want(200)
	group(t, corp, "ops") // alice leaves the group in the directory
	e.clock.add(24 * time.Hour)
	tok := e.nativeToken(key)
	if st := e.do("POST", "/api/v1/signing-keys/rotate", tok, nil).status; st != 403 {
		t.Fatalf("a day after alice left the directory group, her API key still uses the mapped role: %d", st)
	}
}

// F12, the other half: each login through the source confirms the mapped
// grants again (a member who keeps logging in keeps the role), and the
// grant ends MappedGrantLife after the last confirmation.
func TestR21MappedGrantRenewedBySourceLogin(t *testing.T) {
	corp := srcLDAPWithGroups(t)
	e := newEnvAt(t, time.Now().UTC().Truncate(time.Second))
	src := e.do("POST", srcRS+"sources", e.admin, srcLDAPSource(corp)).want(201).str("id")
	aDN := corp.AddUser(t, "alice", "alice-pw")
	grp := group(t, corp, "ops", aDN)
	e.role(map[string]any{"name": "ops", "permissions": []string{"signing-keys-manage"}, "source_rules": map[string]any{"type": "GROUP",
		"match": "ANY", "rules": []map[string]any{{"type": "RULE", "source": src, "search_string": grp}}}})
	_, key := e.user("alice", map[string]any{"source": src})
	// Alice's own view (the admin's token does not last the day).
	current := func() []string {
		return toStrings(e.do("GET", srcRS+"users/current", e.nativeToken(key), nil).want(200).obj()["permissions"])
	}
	login := func() { e.do("POST", "/authn-ldap/"+src+"/"+account+"/alice/authenticate", "", "alice-pw").want(200) }
	login()
	e.clock.add(11 * time.Hour)
	login() // still in the group: confirmed again
	e.clock.add(11 * time.Hour)
	if got := current(); !slices.Contains(got, "signing-keys-manage") {
		t.Fatalf("11 hours after a confirming login the mapped role is gone: %v", got)
	}
	if st := e.do("POST", "/api/v1/signing-keys/rotate", e.nativeToken(key), nil).status; st != 204 {
		t.Fatalf("alice's key with a confirmed mapped role: %d", st)
	}
	e.clock.add(2 * time.Hour) // 13 hours after the last source login
	if got := current(); slices.Contains(got, "signing-keys-manage") {
		t.Fatalf("13 hours after the last source login the mapped role still holds: %v", got)
	}
	if st := e.do("POST", "/api/v1/signing-keys/rotate", e.nativeToken(key), nil).status; st != 403 {
		t.Fatalf("alice's key after the mapped grant's life: %d", st)
	}
	login() // confirmed again
	if got := current(); !slices.Contains(got, "signing-keys-manage") {
		t.Fatalf("a source login did not confirm the mapped role again: %v", got)
	}
}

// F8, the other half: the native route does not overwrite a source either
// (it would drop the source's record, or keep it without the source's
// checks); the source is changed as one, through PUT sources/{id}.
func TestR21NativeAuthenticatorLeavesSourceAlone(t *testing.T) {
	corp := srcLDAPWithGroups(t)
	e := newEnvAt(t, time.Now().UTC().Truncate(time.Second))
	src := e.do("POST", srcRS+"sources", e.admin, srcLDAPSource(corp)).want(201).str("id")
	r := e.do("PUT", "/api/v1/authenticators/authn-ldap/"+src, e.admin, map[string]any{"enabled": true,
		"config": map[string]string{"host": corp.Host, "base_dn": corp.BaseDN}, "allowed": []string{}})
	if r.status != 409 {
		t.Fatalf("native PUT over source %s: %d %s (want 409)", src, r.status, r.body)
	}
	found := false
	for _, it := range e.do("GET", srcRS+"sources", e.admin, nil).want(200).items() {
		found = found || it["id"] == src
	}
	if !found {
		t.Fatalf("source %s gone after a refused native PUT", src)
	}
}
