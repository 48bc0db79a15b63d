package privx_test

// Review r21 (issue 21, PrivX role-store), the findings fixed on branch
// i21b (F4, F5, F6, F7, F10, F11, F13): the reviewer's tests, unchanged but
// for the names of their helpers, which are shared with the sources
// findings' file (review_r21_sources_test.go). Each failed on commit 5510312.

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/authn/oidc/oidctest"
)

// F4 (high): the TOTP seed of a principal stronger than the caller is shown
// to any users-manage holder (GET users/{id}, users/search): a helpdesk user
// who may not reset or enrol the target's MFA (it does not outrank it) reads
// its seed while it enrols, and keeps it once enrolment is verified.
func TestR21SeedOfStrongerUserShown(t *testing.T) {
	e := newEnv(t)
	boss, _ := e.user("boss", nil)
	strong := e.role(map[string]any{"name": "strong", "permissions": []string{"signing-keys-manage", "users-manage", "users-view"}})
	e.grant(boss, map[string]any{"id": strong})
	help := e.role(map[string]any{"name": "help", "permissions": []string{"users-manage", "users-view"}})
	hd, hdKey := e.user("helpdesk", nil)
	e.grant(hd, map[string]any{"id": help})
	tok := e.nativeToken(hdKey)
	e.do("POST", srcRS+"users/mfa/enable", e.admin, []string{boss}).want(200)
	// helpdesk may not touch boss's MFA...
	if st := e.do("POST", srcRS+"users/mfa/reset", tok, []string{boss}).status; st != 403 {
		t.Fatalf("helpdesk reset boss's MFA: %d", st)
	}
	// ...but reads the seed.
	m := e.do("GET", srcRS+"users/"+boss, tok, nil).want(200).obj()["mfa"].(map[string]any)
	if s, ok := m["seed"]; ok {
		t.Fatalf("helpdesk (users-manage, does not outrank boss) reads boss's TOTP seed: %v", s)
	}
	for _, it := range e.do("POST", srcRS+"users/search", tok, map[string]any{"keywords": "boss"}).want(200).items() {
		if _, ok := it["mfa"].(map[string]any)["seed"]; ok {
			t.Fatal("helpdesk reads boss's TOTP seed through users/search")
		}
	}
}

// F5 (medium): POST users/mfa/* is not all-or-nothing: the ids are checked
// for existence only, then acted on one by one, so a request refused with
// 403 on its second id has already reset (or disabled) the first one's MFA.
func TestR21BulkMFARefusalChangesNothing(t *testing.T) {
	e := newEnv(t)
	weak, _ := e.user("weak", nil)
	boss, _ := e.user("boss", nil)
	strong := e.role(map[string]any{"name": "strong", "permissions": []string{"signing-keys-manage"}})
	e.grant(boss, map[string]any{"id": strong})
	help := e.role(map[string]any{"name": "help", "permissions": []string{"users-manage", "users-view"}})
	hd, hdKey := e.user("helpdesk", nil)
	e.grant(hd, map[string]any{"id": help})
	tok := e.nativeToken(hdKey)
	e.do("POST", srcRS+"users/mfa/enable", e.admin, []string{weak, boss}).want(200)
	before := e.do("GET", "/api/v1/users/"+weak, e.admin, nil).want(200).str("mfa")
	r := e.do("POST", srcRS+"users/mfa/disable", tok, []string{weak, boss})
	after := e.do("GET", "/api/v1/users/"+weak, e.admin, nil).want(200).str("mfa")
	if r.status != 200 && after != before {
		t.Fatalf("POST users/mfa/disable answered %d but weak's MFA changed %s → %s", r.status, before, after)
	}
}

// F7 (high): creating a role with source_rules is granting it to every
// user of the source in the group, at their next login, for good (mapped
// grants are PERMANENT); but CreateRole checks only that the caller holds
// the permissions now, not durably (SetGrants and ReplaceRole refuse what
// the caller holds only for a while). A user with a one-hour grant maps
// the role onto its own directory group and keeps the permissions after
// the grant has expired.
func TestR21TemporaryGrantMadePermanentByMapping(t *testing.T) {
	corp := srcLDAPWithGroups(t)
	e := newEnvAt(t, time.Now().UTC().Truncate(time.Second))
	src := e.do("POST", srcRS+"sources", e.admin, srcLDAPSource(corp)).want(201).str("id")
	tDN := corp.AddUser(t, "tess", "tess-pw")
	grp := group(t, corp, "tess-team", tDN)
	tess, key := e.user("tess", map[string]any{"source": src})
	temp := e.role(map[string]any{"name": "temp", "permissions": []string{"roles-manage", "signing-keys-manage"}})
	now := e.clock.Now()
	e.grant(tess, map[string]any{"id": temp, "grant_type": "TIME_RESTRICTED", "grant_validity_periods": []map[string]any{
		{"grant_start": now.Add(-time.Minute).Format(time.RFC3339), "grant_end": now.Add(time.Hour).Format(time.RFC3339)}}})
	tok := e.nativeToken(key)
	// The guarded ways are refused: tess cannot hand herself (or a role) for good what she holds for an hour...
	mine := e.do("POST", srcRS+"roles", tok, map[string]any{"name": "mine", "permissions": []string{"signing-keys-manage"},
		"source_rules": map[string]any{"type": "GROUP", "match": "ANY", "rules": []map[string]any{{"type": "RULE", "source": src, "search_string": grp}}}})
	t.Logf("POST roles with source_rules by tess: %d %s", mine.status, mine.body)
	e.clock.add(2 * time.Hour) // the grant is over
	e.admin = e.nativeToken(e.adminKey)
	e.do("POST", "/authn-ldap/"+src+"/"+account+"/tess/authenticate", "", "tess-pw").want(200)
	if got := srcPermsOf(e, tess); slices.Contains(got, "signing-keys-manage") {
		t.Fatalf("tess's one-hour grant of signing-keys-manage outlived its end through a role she mapped onto her own group: %v", got)
	}
}

// F7b (with F7): a key narrowed by roles creates a role with source_rules —
// a grant to every user of the source in the group at their next login,
// customers of a customer-limited key included — though the same key may
// neither change a role (ReplaceRole: notNarrowed) nor set grants.
func TestR21NarrowedKeyCreatesMappedRole(t *testing.T) {
	e := newEnv(t)
	rm := e.role(map[string]any{"name": "rm", "permissions": []string{"roles-manage", "users-view"}})
	other := e.role(map[string]any{"name": "other", "permissions": []string{"roles-view"}})
	u, _ := e.user("nora", nil)
	e.grant(u, map[string]any{"id": rm}, map[string]any{"id": other})
	r := e.do("POST", "/api/v1/users/"+u+"/api-keys", e.admin, map[string]any{"roles": []string{rm}}).want(201).obj()
	narrowed := e.nativeToken(r["key"].(string))
	existing := e.role(map[string]any{"name": "existing", "permissions": []string{"users-view"}})
	mapped := map[string]any{"type": "GROUP", "match": "ANY", "rules": []map[string]any{{"type": "RULE", "source": "corp", "search_string": "everyone"}}}
	if st := e.do("PUT", srcRS+"roles/"+existing, narrowed, map[string]any{"name": "existing", "permissions": []string{"users-view"}, "source_rules": mapped}).status; st != 403 {
		t.Fatalf("PUT roles with the narrowed key: %d (ReplaceRole refuses narrowed keys)", st)
	}
	if got := e.do("POST", srcRS+"roles", narrowed, map[string]any{"name": "new", "permissions": []string{"users-view"}, "source_rules": mapped}); got.status != 403 {
		t.Fatalf("POST roles with source_rules by a key narrowed by roles: %d %s (a mapped role is a grant to a whole group)", got.status, got.body)
	}
}

// F6 (low): a huge offset overflows offset+limit in the core's user search
// (searchUsers slices match[..:min(Offset+Limit, len)]): POST users/search
// and GET roles/{id}/members panic, answered 500 instead of a page (or 400).
func TestR21HugeOffsetNo500(t *testing.T) {
	e := newEnv(t)
	r := e.do("POST", srcRS+"users/search?offset=9223372036854775800", e.admin, map[string]any{})
	if r.status >= 500 {
		t.Fatalf("POST users/search with a huge offset: %d %s", r.status, r.body)
	}
	role := e.role(map[string]any{"name": "r"})
	if r := e.do("GET", srcRS+"roles/"+role+"/members?offset=9223372036854775800", e.admin, nil); r.status >= 500 {
		t.Fatalf("GET roles/{id}/members with a huge offset: %d %s", r.status, r.body)
	}
}

// F10 (low): a role's source_rules (which groups of which source get the
// role at login: a grant) and its ARN are missing from the role.create /
// role.update audit details (roleDetail names permissions and context only):
// the record of mapping a role onto a group does not say so.
func TestR21RoleMappingChangeAudited(t *testing.T) {
	e := newEnv(t)
	id := e.role(map[string]any{"name": "ops", "permissions": []string{"users-view"}})
	const grp = "cn=r21-audited-group,ou=groups,dc=example,dc=org"
	e.do("PUT", srcRS+"roles/"+id, e.admin, map[string]any{"name": "ops", "permissions": []string{"users-view"},
		"arn":          "arn:aws:iam::123456789012:role/r21-audited-arn",
		"source_rules": map[string]any{"type": "GROUP", "match": "ANY", "rules": []map[string]any{{"type": "RULE", "source": "corp", "search_string": grp}}}}).want(200)
	body := string(e.do("GET", "/api/v1/audit?limit=20", e.admin, nil).want(200).body)
	if !strings.Contains(body, "role.update") {
		t.Fatalf("no role.update record: %s", body)
	}
	if !strings.Contains(body, "r21-audited-group") || !strings.Contains(body, "r21-audited-arn") {
		t.Fatalf("the role.update record does not name the source rule or ARN it set (mapping a role onto a group is a grant)")
	}
}

// F10b: a source re-pointed elsewhere (PUT sources/{id}: new host) is
// recorded as source.put with no detail, where the native authenticator.put
// names the settings that changed and whether it is enabled.
func TestR21SourcePutAudited(t *testing.T) {
	e := newEnv(t)
	body := map[string]any{"name": "corp", "enabled": true, "connection": map[string]any{"type": "LDAP", "address": "192.0.2.1", "ldap_base_dn": "dc=x"}}
	src := e.do("POST", srcRS+"sources", e.admin, body).want(201).str("id")
	body["connection"].(map[string]any)["address"] = "198.51.100.7"
	e.do("PUT", srcRS+"sources/"+src, e.admin, body).want(200)
	var l struct {
		Items []map[string]any `json:"items"`
	}
	r := e.do("GET", "/api/v1/audit?event=source.put&limit=5", e.admin, nil).want(200)
	if err := json.Unmarshal(r.body, &l); err != nil || len(l.Items) == 0 {
		t.Fatalf("no source.put record: %s", r.body)
	}
	d, _ := l.Items[0]["detail"].(string)
	if !strings.Contains(d, "host") {
		t.Fatalf("the record of re-pointing source %s at another host says nothing of it: detail %q (native authenticator.put: changed settings [...])", src, d)
	}
}

// F11 (low): role mappings compare groups with strings.EqualFold, Unicode
// simple folding: an OIDC group named with U+017F (ſ) or U+212A (K) matches a
// rule written in ASCII ("ſecurity" = "security"). Where users may name
// groups (self-service groups at the IdP), a look-alike group maps to the
// role. Case-insensitive should mean ASCII (or the IdP's exact value).
func TestR21GroupMatchNoUnicodeFolding(t *testing.T) {
	prov := oidctest.New(t)
	e := newEnvAt(t, time.Now().UTC().Truncate(time.Second))
	src := e.do("POST", srcRS+"sources", e.admin, map[string]any{"name": "idp", "enabled": true, "connection": map[string]any{"type": "OIDC",
		"oidc_issuer": prov.URL, "oidc_client_id": prov.ClientID, "oidc_client_secret": prov.ClientSecret}}).want(201).str("id")
	carol, _ := e.user("carol", map[string]any{"source": src})
	e.role(map[string]any{"name": "sec", "permissions": []string{"roles-view"}, "source_rules": map[string]any{"type": "GROUP",
		"match": "ANY", "rules": []map[string]any{{"type": "RULE", "source": src, "search_string": "security-kit"}}}})
	c := prov.Claims("u-carol", prov.ClientID)
	c["preferred_username"] = "carol"
	c["groups"] = []string{"\u017fecurity-\u212ait"} // "ſecurity-Kit"
	e.do("POST", "/authn-oidc/"+src+"/"+account+"/authenticate", "", "id_token="+url.QueryEscape(prov.Sign(c)),
		"Content-Type", "application/x-www-form-urlencoded").want(200)
	if got := grantFlags(e, carol); got["sec"] != "" {
		t.Fatalf("group %q was taken for rule %q: %v", "\u017fecurity-\u212ait", "security-kit", got)
	}
}

// F13 (low): PrivX treats a host id as a missing user on reads, but its
// writes act on hosts anyway: PUT users/{host}/settings stores the settings
// and then answers 404; POST users/{host}/authorizedkeys answers 201; PUT
// users/{host}/roles and POST users/mfa/enable [host] answer 200 and change
// the host. An answer of 404 must mean nothing changed.
func TestR21HostWritesRefused(t *testing.T) {
	e := newEnv(t)
	id := e.do("POST", "/api/v1/users", e.admin, map[string]any{"login": "web01", "kind": "host"}).want(201).obj()["id"].(string)
	e.do("GET", srcRS+"users/"+id, e.admin, nil).want(404)
	st := e.do("PUT", srcRS+"users/"+id+"/settings", e.admin, map[string]any{"r21": 1}).status
	if h := e.do("GET", "/api/v1/users/"+id, e.admin, nil).want(200).obj(); h["settings"] != nil && st >= 400 {
		t.Errorf("PUT users/{host}/settings answered %d but stored %v", st, h["settings"])
	}
	if st := e.do("POST", srcRS+"users/"+id+"/authorizedkeys", e.admin, map[string]any{"name": "k", "public_key": sshKey(3)}).status; st != 404 {
		t.Errorf("POST users/{host}/authorizedkeys: %d (a host is not a PrivX user)", st)
	}
	if st := e.do("POST", srcRS+"users/mfa/enable", e.admin, []string{id}).status; st != 404 {
		t.Errorf("POST users/mfa/enable [host]: %d", st)
	}
}

// F13, the other writes of the finding: PUT users/{host}/roles is 404 and
// the host keeps its grant; users/mfa/reset [user, host] is 404 and changes
// neither.
func TestR21bHostGrantsAndMFAUntouched(t *testing.T) {
	e := newEnv(t)
	id := e.do("POST", "/api/v1/users", e.admin, map[string]any{"login": "web02", "kind": "host"}).want(201).obj()["id"].(string)
	role := e.role(map[string]any{"name": "hr", "permissions": []string{"users-view"}})
	e.do("PUT", "/api/v1/users/"+id+"/roles", e.admin, map[string]any{"roles": []map[string]any{{"id": role}}}).want(200)
	before := string(e.do("GET", "/api/v1/users/"+id, e.admin, nil).want(200).body)
	e.do("PUT", srcRS+"users/"+id+"/roles", e.admin, []map[string]any{}).wantError(404, "NOT_FOUND", "")
	u, _ := e.user("plain", nil)
	e.do("POST", srcRS+"users/mfa/reset", e.admin, []string{u, id}).wantError(404, "NOT_FOUND", "")
	if after := string(e.do("GET", "/api/v1/users/"+id, e.admin, nil).want(200).body); after != before {
		t.Fatalf("a refused PrivX write changed the host:\n%s\n%s", before, after)
	}
	if m := e.do("GET", srcRS+"users/"+u, e.admin, nil).want(200).obj()["mfa"].(map[string]any); m["status"] != "DISABLED" {
		t.Fatalf("a batch refused for its host id reset the user's MFA: %v", m)
	}
}
