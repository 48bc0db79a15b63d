package privx_test

import (
	"net/url"
	"testing"
	"time"
)

// TestGoldenAnswers walks every endpoint once, in order, and keeps each
// answer as a golden file (ids as placeholders; the clock is injected, so
// times are fixed).
func TestGoldenAnswers(t *testing.T) {
	e := newEnv(t)
	const p = "/role-store/api/v1/"
	g := e.golden
	alice, aliceKey := e.user("alice", map[string]any{"email": "alice@example.com", "full_name": "Alice Liddell",
		"attributes": map[string]string{"first_name": "Alice", "last_name": "Liddell", "job_title": "Engineer", "locale": "fi_FI"},
		"tags":       []string{"ops"}, "password": "Correct-Horse-9-Battery"})
	bob, bobKey := e.user("bob", nil)

	// OAuth.
	form := url.Values{"grant_type": {"password"}, "username": {keyID(aliceKey)}, "password": {aliceKey}}
	g("oauth-token", e.form("/auth/api/v1/oauth/token", form, "Authorization", "Basic cHJpdng6c2VjcmV0"))
	form.Set("username", "someone-else")
	g("oauth-invalid-grant", e.form("/auth/api/v1/oauth/token", form))
	g("oauth-unsupported-grant", e.form("/auth/api/v1/oauth/token", url.Values{"grant_type": {"client_credentials"}}))
	g("oauth-invalid-request", e.form("/auth/api/v1/oauth/token", url.Values{"grant_type": {"password"}}))

	// Roles.
	viewers := e.role(map[string]any{"name": "viewers", "comment": "see users", "permissions": []string{"users-view", "roles-view"},
		"arn": "arn:aws:iam::123456789012:role/ops/viewer", "id": "ignored", "member_count": 7, "created": nil,
		"context": map[string]any{"enabled": false, "validity": nil, "timezone": ""}})
	office := e.role(map[string]any{"name": "office-hours", "permissions": []string{"users-view"},
		"context": map[string]any{"enabled": true, "block_role": false, "validity": []string{"MON", "TUE"}, "start_time": "08:00",
			"end_time": "17:00", "timezone": "Europe/Helsinki", "ip_masks": []string{"127.0.0.1", "10.0.0.0/8"}},
		"source_rules": map[string]any{"type": "GROUP", "match": "ANY", "rules": []map[string]any{{"type": "RULE", "source": "corp", "search_string": "cn=ops,ou=groups,dc=example,dc=com"}}}})
	g("roles-create-conflict", e.do("POST", p+"roles", e.admin, map[string]any{"name": "viewers"}))
	g("roles-create-bad-permission", e.do("POST", p+"roles", e.admin, map[string]any{"name": "x", "permissions": []string{"licenses-manage"}}))
	g("roles-create-bad-arn", e.do("POST", p+"roles", e.admin, map[string]any{"name": "x", "arn": "arn:aws:iam::12:role/x"}))
	g("roles-create-wrong-type", e.do("POST", p+"roles", e.admin, map[string]any{"name": 5}))
	g("roles-get", e.do("GET", p+"roles/"+viewers, e.admin, nil))
	e.clock.add(time.Minute)
	g("roles-put", e.do("PUT", p+"roles/"+office, e.admin, map[string]any{"name": "office-hours", "comment": "weekday office",
		"permissions": []string{"users-view"}, "context": map[string]any{"enabled": true, "validity": []string{"mon"},
			"start_time": "08:00", "end_time": "17:00", "timezone": "Europe/Helsinki", "ip_masks": []string{"127.0.0.1"}}}))
	admin := e.do("GET", p+"roles?limit=1", e.admin, nil).want(200).items()[0]["id"].(string)
	e.name(admin, "admin-role")
	g("roles-put-system", e.do("PUT", p+"roles/"+admin, e.admin, map[string]any{"name": "admin"}))
	g("roles-list", e.do("GET", p+"roles?sortdir=desc&filter=x&fuzzycount=true", e.admin, nil))
	g("roles-list-bad-limit", e.do("GET", p+"roles?limit=-1", e.admin, nil))
	g("roles-list-bad-sortkey", e.do("GET", p+"roles?sortkey=comment", e.admin, nil))

	// Grants.
	e.clock.add(time.Minute)
	g("users-roles-put", e.do("PUT", p+"users/"+alice+"/roles", e.admin, []map[string]any{
		{"id": viewers, "explicit": false, "name": "ignored"},
		{"id": office, "grant_type": "TIME_RESTRICTED", "grant_validity_periods": []map[string]string{
			{"grant_start": "2026-12-07T09:00:00Z", "grant_end": "2026-12-08T09:00:00Z"}}},
	}))
	g("users-roles-put-unknown", e.do("PUT", p+"users/"+alice+"/roles", e.admin, []map[string]any{{"id": "no-such-role"}}))
	g("users-roles-get", e.do("GET", p+"users/"+alice+"/roles", e.admin, nil))
	g("roles-members", e.do("GET", p+"roles/"+viewers+"/members", e.admin, nil))

	// Authorized keys.
	k1 := e.do("POST", p+"users/"+alice+"/authorizedkeys", e.admin, map[string]any{"name": "work", "comment": "laptop",
		"public_key": sshKey(1) + " alice@laptop", "source_address": []string{"192.168.100.7/24", "10.1.2.3"}, "expires_in": 3600})
	kid := e.name(k1.str("id"), "work-key")
	g("keys-create", k1)
	g("keys-create-duplicate", e.do("POST", p+"users/"+alice+"/authorizedkeys", e.admin, map[string]any{"name": "again", "public_key": sshKey(1)}))
	g("keys-create-garbage", e.do("POST", p+"users/"+alice+"/authorizedkeys", e.admin, map[string]any{"name": "bad", "public_key": "ssh-rsa AAAA"}))
	g("keys-get", e.do("GET", p+"users/"+alice+"/authorizedkeys/"+kid, e.admin, nil))
	g("keys-put", e.do("PUT", p+"users/"+alice+"/authorizedkeys/"+kid, e.admin, map[string]any{"name": "work", "public_key": sshKey(1),
		"not_before": "2026-12-07T00:00:00Z", "not_after": "2027-12-07T00:00:00Z", "source_address": nil}))
	g("keys-list", e.do("GET", p+"users/"+alice+"/authorizedkeys", e.admin, nil))
	aliceTok := e.nativeToken(aliceKey)
	e.clock.add(time.Second)
	own := e.do("POST", p+"users/current/authorizedkeys", aliceTok, map[string]any{"name": "home", "public_key": sshKey(2)})
	ownID := e.name(own.str("id"), "home-key")
	g("current-keys-create", own)
	g("current-keys-list", e.do("GET", p+"users/current/authorizedkeys?sortkey=created&sortdir=DESC", aliceTok, nil))
	g("current-keys-get", e.do("GET", p+"users/current/authorizedkeys/"+ownID, aliceTok, nil))
	g("current-keys-put", e.do("PUT", p+"users/current/authorizedkeys/"+ownID, aliceTok, map[string]any{"name": "home2", "public_key": sshKey(2)}))

	// Settings.
	g("settings-put", e.do("PUT", p+"users/"+alice+"/settings", e.admin, `{"locale":{"locale":"fi"},"sshClient":{"fontSize":14}}`))
	g("settings-get", e.do("GET", p+"users/"+alice+"/settings", e.admin, nil))
	g("settings-put-array", e.do("PUT", p+"users/"+alice+"/settings", e.admin, `[1]`))
	g("current-settings-put", e.do("PUT", p+"users/current/settings", aliceTok, `{"theme":"dark"}`))
	g("current-settings-get", e.do("GET", p+"users/current/settings", aliceTok, nil))

	// Users.
	g("users-get", e.do("GET", p+"users/"+alice, e.admin, nil))
	g("users-get-missing", e.do("GET", p+"users/no-such-user", e.admin, nil))
	g("users-resolve", e.do("GET", p+"users/"+alice+"/resolve", e.admin, nil))
	g("current", e.do("GET", p+"users/current", aliceTok, nil))
	g("current-awsroles", e.do("GET", p+"users/current/awsroles", aliceTok, nil))
	g("users-search", e.do("POST", p+"users/search?limit=0&offset=0&sortkey=principal&sortdir=asc", e.admin, map[string]any{"keywords": "LIDDELL alice"}))
	g("users-search-all", e.do("POST", p+"users/search?limit=500", e.admin, map[string]any{}))
	g("users-search-ids", e.do("POST", p+"users/search?", e.admin, map[string]any{"user_id": []string{bob}, "source": "local", "keywords": ""}))
	g("users-search-external", e.do("POST", p+"users/search/external", e.admin, map[string]any{"keywords": "x"}))

	// MFA.
	g("mfa-enable", e.do("POST", p+"users/mfa/enable", e.admin, []string{bob}))
	g("users-get-enrolling", e.do("GET", p+"users/"+bob, e.nativeToken(bobKey), nil)) // the seed: to bob
	g("users-get-enrolling-admin", e.do("GET", p+"users/"+bob, e.admin, nil))         // and to the admin, who outranks bob
	g("mfa-reset", e.do("POST", p+"users/mfa/reset", e.admin, []string{bob}))
	g("mfa-disable", e.do("POST", p+"users/mfa/disable", e.admin, []string{bob}))
	g("mfa-unknown-user", e.do("POST", p+"users/mfa/enable", e.admin, []string{bob, "nobody"}))
	g("mfa-not-array", e.do("POST", p+"users/mfa/enable", e.admin, `{"ids":[]}`))

	// Sources (never contacted on write).
	srcBody := map[string]any{"name": "corp", "enabled": true, "comment": "directory", "connection": map[string]any{"type": "LDAP",
		"address": "127.0.0.1", "port": 1, "ldap_protocol": "STARTTLS", "ldap_base_dn": "dc=example,dc=com",
		"ldap_bind_dn": "cn=reader,dc=example,dc=com", "ldap_bind_password": "s3cret", "ldap_user_filter": "(objectClass=person)"}}
	src := e.do("POST", p+"sources", e.admin, srcBody)
	srcID := e.name(src.str("id"), "corp-source")
	g("sources-create", src)
	g("sources-get", e.do("GET", p+"sources/"+srcID, e.admin, nil))
	srcBody["connection"].(map[string]any)["ldap_bind_password"] = "*****"
	srcBody["comment"] = "changed"
	g("sources-put", e.do("PUT", p+"sources/"+srcID, e.admin, srcBody))
	g("sources-list", e.do("GET", p+"sources", e.admin, nil))
	g("sources-get-local", e.do("GET", p+"sources/local", e.admin, nil))
	g("sources-put-local", e.do("PUT", p+"sources/local", e.admin, srcBody))
	g("sources-create-bad-type", e.do("POST", p+"sources", e.admin, map[string]any{"name": "x", "connection": map[string]any{"type": "SCIM"}}))
	g("sources-delete", e.do("DELETE", p+"sources/"+srcID, e.admin, nil))

	// Deletes and the unknown.
	g("current-keys-delete", e.do("DELETE", p+"users/current/authorizedkeys/"+ownID, aliceTok, nil))
	g("keys-delete", e.do("DELETE", p+"users/"+alice+"/authorizedkeys/"+kid, e.admin, nil))
	g("roles-delete", e.do("DELETE", p+"roles/"+viewers, e.admin, nil))
	g("roles-get-deleted", e.do("GET", p+"roles/"+viewers, e.admin, nil))
	g("unknown-path", e.do("GET", p+"nothing/here", e.admin, nil))
	g("wrong-method", e.do("PATCH", p+"roles", e.admin, nil))
	g("no-token", e.do("GET", p+"users/current", "", nil))
	g("forbidden", e.do("GET", p+"roles", aliceTok, nil))
}

// keyID is the id part of a native API key kw_<id>_<secret>.
func keyID(key string) string {
	rest := key[len("kw_"):]
	for i := 0; i < len(rest); i++ {
		if rest[i] == '_' {
			return rest[:i]
		}
	}
	return rest
}
