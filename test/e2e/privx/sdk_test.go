package privx

import (
	"crypto/ed25519"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/SSHcom/privx-sdk-go/v2/api/filters"
	"github.com/SSHcom/privx-sdk-go/v2/api/rolestore"
	"github.com/SSHcom/privx-sdk-go/v2/oauth"
	"github.com/SSHcom/privx-sdk-go/v2/restapi"
	"golang.org/x/crypto/ssh"
)

// keyID is the id part of a native API key kw_<id>_<secret>.
func keyID(key string) string {
	id, _, _ := strings.Cut(strings.TrimPrefix(key, "kw_"), "_")
	return id
}

// sdk is a role-store client authenticated the SDK's way: OAuth2 password
// grant with the API key id as username and the key as password.
func (kw *keyward) sdk(key string) *rolestore.RoleStore {
	auth := oauth.WithClientID(restapi.New(restapi.BaseURL(kw.url)),
		oauth.Access(keyID(key)), oauth.Secret(key), oauth.Digest("privx-external", "not-checked"))
	return rolestore.New(restapi.New(restapi.Auth(auth), restapi.BaseURL(kw.url)))
}

func sshKey(seed byte) string {
	s := make([]byte, ed25519.SeedSize)
	s[0] = seed
	pub, _ := ssh.NewPublicKey(ed25519.NewKeyFromSeed(s).Public())
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
}

func must[T any](t *testing.T, what string) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}

func ok(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// TestSDK drives every role-store endpoint keyward serves through the SDK
// v2.44.0, decoding into its own structs.
func TestSDK(t *testing.T) {
	kw := start(t)
	admin := kw.sdk(kw.adminKey)
	me := must[*rolestore.User](t, "GetUser")(admin.GetUser(mustCurrentID(t, admin)))
	if me.Principal != "admin" || me.MFA.TotpStatus != "DISABLED" || me.MFA.MobileMfaStatus != "DISABLED" || len(me.Permissions) < 9 {
		t.Fatalf("admin as the SDK sees it: %+v", me)
	}

	// Roles.
	roleID := must[string](t, "CreateRole")(func() (string, error) {
		id, err := admin.CreateRole(&rolestore.Role{Name: "viewers", Comment: "see users", Permissions: []string{"users-view", "roles-view"},
			AwsArn: "arn:aws:iam::123456789012:role/team/viewer"})
		return id.ID, err
	}())
	role := must[*rolestore.Role](t, "GetRole")(admin.GetRole(roleID))
	if role.Name != "viewers" || role.AwsArn != "arn:aws:iam::123456789012:role/team/viewer" || role.System || role.Context.Enabled ||
		role.MemberCount == nil || *role.MemberCount != 0 || role.UpdatedBy != me.ID {
		t.Fatalf("role %+v", role)
	}
	role.Comment = "see users, windowed"
	role.Context = rolestore.ContextualLimit{Enabled: true, Validity: []string{"MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"},
		StartTime: "00:00", EndTime: "23:59", TimeZone: "UTC", IPMasks: []string{"127.0.0.0/8"}}
	ok(t, "UpdateRole", admin.UpdateRole(roleID, role))
	list := must[int](t, "GetRoles")(func() (int, error) {
		rs, err := admin.GetRoles(filters.Paging(0, 10), filters.SortAsc("name"))
		if err != nil {
			return 0, err
		}
		if rs.Items[0].Name != "admin" || !rs.Items[0].System || rs.Items[1].Comment != "see users, windowed" || !rs.Items[1].Context.Enabled {
			t.Fatalf("roles %+v", rs.Items)
		}
		return rs.Count, nil
	}())
	if list != 2 {
		t.Fatalf("%d roles", list)
	}

	// A user (created natively), its grants, settings, keys.
	created := kw.native(t, "Bearer "+kw.adminKey, "POST", "/api/v1/users", map[string]any{"login": "alice", "email": "alice@example.com",
		"full_name": "Alice Liddell", "attributes": map[string]string{"first_name": "Alice", "last_name": "Liddell"}}, 201)
	alice, aliceKey := created["id"].(string), created["api_key"].(string)
	ok(t, "UpdateUserRoles", admin.UpdateUserRoles(alice, []rolestore.Role{{ID: roleID, Explicit: false}}))
	grants := must[int](t, "GetUserRoles")(func() (int, error) {
		rs, err := admin.GetUserRoles(alice)
		if err == nil && (len(rs.Items) != 1 || !rs.Items[0].Explicit || rs.Items[0].Implicit || rs.Items[0].GrantType != "PERMANENT") {
			t.Fatalf("grants %+v", rs.Items)
		}
		return rs.Count, err
	}())
	if grants != 1 {
		t.Fatalf("%d grants", grants)
	}
	members := must[int](t, "GetRoleMembers")(func() (int, error) {
		rs, err := admin.GetRoleMembers(roleID)
		if err == nil && rs.Items[0].Principal != "alice" {
			t.Fatalf("members %+v", rs.Items)
		}
		return rs.Count, err
	}())
	if members != 1 {
		t.Fatalf("%d members", members)
	}
	ok(t, "UpdateUserSettings", admin.UpdateUserSettings(alice, &rolestore.UserSettings{Locale: rolestore.UserLocale{Locale: "fi"}}))
	settings := must[*json.RawMessage](t, "GetUserSettings")(admin.GetUserSettings(alice))
	if !strings.Contains(string(*settings), `"fi"`) {
		t.Fatalf("settings %s", *settings)
	}
	kid := must[string](t, "CreateUserAuthorizedKey")(func() (string, error) {
		id, err := admin.CreateUserAuthorizedKey(alice, &rolestore.AuthorizedKey{Name: "work", Comment: "laptop", PublicKey: sshKey(1) + " a@b",
			SourceAddress: []string{"192.168.100.7/24"}})
		return id.ID, err
	}())
	k := must[*rolestore.AuthorizedKey](t, "GetUserAuthorizedKey")(admin.GetUserAuthorizedKey(alice, kid))
	if k.PublicKey != sshKey(1) || len(k.Fingerprints) != 1 || !strings.HasPrefix(k.Fingerprints[0], "SHA256:") ||
		!slices.Equal(k.SourceAddress, []string{"192.168.100.0/24"}) || k.Username != "alice" || k.UserID != alice {
		t.Fatalf("key %+v", k)
	}
	k.Name = "work laptop"
	ok(t, "UpdateUserAuthorizedKey", admin.UpdateUserAuthorizedKey(alice, kid, k))
	keys := must[int](t, "GetUsersAuthorizedKeys")(func() (int, error) {
		rs, err := admin.GetUsersAuthorizedKeys(alice, filters.Limit(5))
		if err == nil && rs.Items[0].Name != "work laptop" {
			t.Fatalf("keys %+v", rs.Items)
		}
		return rs.Count, err
	}())
	if keys != 1 {
		t.Fatalf("%d keys", keys)
	}

	// Reads of the user.
	u := must[*rolestore.User](t, "GetUser alice")(admin.GetUser(alice))
	if u.Principal != "alice" || u.FirstName != "Alice" || u.Email != "alice@example.com" || len(u.Roles) != 1 || len(u.AuthorizedKeys) != 1 ||
		!slices.Equal(u.Permissions, []string{"roles-view", "users-view"}) || u.Source != "local" || u.SourceType != "LOCAL" || u.Author != me.ID {
		t.Fatalf("alice %+v", u)
	}
	res := must[*rolestore.User](t, "ResolveUserRoles")(admin.ResolveUserRoles(alice))
	if len(res.Roles) != 1 || len(res.Permissions) != 2 {
		t.Fatalf("resolved %+v", res)
	}
	found := must[*rolestore.User](t, "SearchUsers")(func() (*rolestore.User, error) {
		rs, err := admin.SearchUsers(rolestore.UserSearch{Keywords: "liddell ALICE"}, filters.Paging(0, 10), filters.Sort("principal", "ASC"))
		if err != nil {
			return nil, err
		}
		if rs.Count != 1 {
			t.Fatalf("search found %d", rs.Count)
		}
		return &rs.Items[0], nil
	}())
	if found.ID != alice {
		t.Fatalf("found %s", found.ID)
	}
	ext := must[int](t, "SearchExternalUsers")(func() (int, error) {
		rs, err := admin.SearchExternalUsers(rolestore.UserSearch{Keywords: "alice"})
		return rs.Count, err
	}())
	if ext != 0 {
		t.Fatalf("external search without sources found %d", ext)
	}

	// MFA through the SDK.
	ok(t, "SetMFA enable", admin.SetMFA([]string{alice}, rolestore.MFAActionEnable))
	// The seed is shown to alice herself and to the admin, who outranks her;
	// both read the same one.
	au := must[*rolestore.User](t, "GetUser enrolling (admin)")(admin.GetUser(alice))
	u = must[*rolestore.User](t, "GetUser enrolling (alice)")(kw.sdk(aliceKey).GetUser(alice))
	if au.MFA.TotpStatus != "UNINITIALIZED" || au.MFA.TotpMFASeed.Seed_string != u.MFA.TotpMFASeed.Seed_string {
		t.Fatalf("enrolling, as the admin %+v, as alice %+v", au.MFA, u.MFA)
	}
	if u.MFA.TotpStatus != "UNINITIALIZED" || len(u.MFA.TotpMFASeed.Seed_string) != 32 || !strings.HasPrefix(u.MFA.TotpMFASeed.Seed_qr_code, "data:image/png;base64,") {
		t.Fatalf("enrolling %+v", u.MFA)
	}
	enrollingSeed := u.MFA.TotpMFASeed.Seed_string
	ok(t, "SetMFA reset", admin.SetMFA([]string{alice}, rolestore.MFAActionReset))
	ok(t, "SetMFA disable", admin.SetMFA([]string{alice}, rolestore.MFAActionDisable))
	if u = must[*rolestore.User](t, "GetUser disabled")(admin.GetUser(alice)); u.MFA.TotpStatus != "DISABLED" {
		t.Fatalf("after disable %+v", u.MFA)
	}

	// The caller's own routes, as alice.
	as := kw.sdk(aliceKey)
	cur := must[*json.RawMessage](t, "GetCurrentUserInfo")(as.GetCurrentUserInfo())
	var cu rolestore.User
	ok(t, "decode current", json.Unmarshal(*cur, &cu))
	if cu.ID != alice || !strings.Contains(string(cu.Settings), `"fi"`) {
		t.Fatalf("current %+v", cu)
	}
	ok(t, "UpdateCurrentUserSettings", as.UpdateCurrentUserSettings(&rolestore.UserSettings{SSHClient: rolestore.UserSSHClient{FontSize: 14}}))
	cs := must[*json.RawMessage](t, "GetCurrentUserSettings")(as.GetCurrentUserSettings())
	if !strings.Contains(string(*cs), `"fontSize":14`) {
		t.Fatalf("current settings %s", *cs)
	}
	aws := must[int](t, "GetCurrentAWSRoles")(func() (int, error) {
		rs, err := as.GetCurrentAWSRoles()
		if err == nil && (len(rs.Items) != 1 || rs.Items[0].DisplayName != "viewer" || rs.Items[0].Roles[0].ID != roleID || rs.Items[0].Status != "OK") {
			t.Fatalf("aws roles %+v", rs.Items)
		}
		return rs.Count, err
	}())
	if aws != 1 {
		t.Fatalf("%d aws roles", aws)
	}
	own := must[string](t, "CreateCurrentUserAuthorizedKey")(func() (string, error) {
		id, err := as.CreateCurrentUserAuthorizedKey(&rolestore.AuthorizedKey{Name: "home", PublicKey: sshKey(2), ExpiresIn: 3600})
		return id.ID, err
	}())
	ck := must[*rolestore.AuthorizedKey](t, "GetCurrentUserAuthorizedKey")(as.GetCurrentUserAuthorizedKey(own))
	if ck.ExpiresIn != 3600 || ck.NotBefore == "" || ck.NotAfter == "" {
		t.Fatalf("own key %+v", ck)
	}
	ck.Comment = "desk"
	ok(t, "UpdateCurrentUserAuthorizedKey", as.UpdateCurrentUserAuthorizedKey(own, ck))
	n := must[int](t, "GetCurrentUserAuthorizedKeys")(func() (int, error) {
		rs, err := as.GetCurrentUserAuthorizedKeys(filters.Sort("created", "DESC"))
		return rs.Count, err
	}())
	if n != 2 {
		t.Fatalf("%d own keys", n)
	}
	if _, err := as.GetCurrentUserAuthorizedKey("not-mine"); err == nil || !strings.Contains(err.Error(), "NOT_FOUND") {
		t.Fatalf("another's key id: %v", err)
	}
	if _, err := as.GetSources(); err == nil || !strings.Contains(err.Error(), "FORBIDDEN") {
		t.Fatalf("alice lists sources: %v", err)
	}
	ok(t, "DeleteCurrentUserAuthorizedKey", as.DeleteCurrentUserAuthorizedKey(own))
	ok(t, "DeleteUserAuthorizedKey", admin.DeleteUserAuthorizedKey(alice, kid))

	// Sources.
	src := must[string](t, "CreateSource")(func() (string, error) {
		id, err := admin.CreateSource(&rolestore.Source{Name: "corp", Enabled: true, Connection: rolestore.SourceConnection{Type: "LDAP",
			Address: "127.0.0.1", Port: 1, LdapProtocol: "LDAP", LdapBaseDN: "dc=example,dc=org", LdapBindDN: "cn=r,dc=example,dc=org",
			LdapBindPassword: "s3cret-bind-password-e2e"}})
		return id.ID, err
	}())
	s := must[*rolestore.Source](t, "GetSource")(admin.GetSource(src))
	if s.Name != "corp" || s.StatusCode != "OK" || s.Connection.LdapBindPassword != "*****" || s.Connection.Port != 1 {
		t.Fatalf("source %+v", s)
	}
	s.Comment = "the directory"
	ok(t, "UpdateSource", admin.UpdateSource(src, s))
	srcs := must[int](t, "GetSources")(func() (int, error) {
		rs, err := admin.GetSources()
		if err == nil && (rs.Items[0].ID != "local" || rs.Items[1].Comment != "the directory") {
			t.Fatalf("sources %+v", rs.Items)
		}
		return rs.Count, err
	}())
	if srcs != 2 {
		t.Fatalf("%d sources", srcs)
	}
	ok(t, "DeleteSource", admin.DeleteSource(src))
	ok(t, "DeleteRole", admin.DeleteRole(roleID))
	if _, err := admin.GetRole(roleID); err == nil || !strings.Contains(err.Error(), "NOT_FOUND") {
		t.Fatalf("deleted role: %v", err)
	}
	kw.noSecrets(t, map[string]string{"admin key": kw.adminKey, "alice's key": aliceKey, "bind password": "s3cret-bind-password-e2e",
		"mfa seed": enrollingSeed})
}

// mustCurrentID is the caller's id from users/current.
func mustCurrentID(t *testing.T, c *rolestore.RoleStore) string {
	t.Helper()
	raw, err := c.GetCurrentUserInfo()
	if err != nil {
		t.Fatalf("GetCurrentUserInfo: %v", err)
	}
	var u rolestore.User
	if err := json.Unmarshal(*raw, &u); err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// TestRawHTTP checks what the SDK cannot see: both member names, statuses,
// content types, error codes, and the OAuth errors.
func TestRawHTTP(t *testing.T) {
	kw := start(t)
	form := func(v url.Values) (int, string) {
		return kw.call(t, "POST", "/auth/api/v1/oauth/token", strings.NewReader(v.Encode()), "Content-Type", "application/x-www-form-urlencoded",
			"Authorization", "Basic ")
	}
	code, body := form(url.Values{"grant_type": {"password"}, "username": {keyID(kw.adminKey)}, "password": {kw.adminKey}})
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &tok) != nil || tok.TokenType != "Bearer" || tok.ExpiresIn != 480 {
		t.Fatalf("token: %d %s", code, body)
	}
	if code, body := form(url.Values{"grant_type": {"client_credentials"}}); code != 400 || !strings.Contains(body, `"error":"unsupported_grant_type"`) {
		t.Fatalf("client_credentials: %d %s", code, body)
	}
	auth := "Bearer " + tok.AccessToken
	code, body = kw.call(t, "GET", "/role-store/api/v1/users/current", nil, "Authorization", auth)
	if code != 200 || !strings.Contains(body, `"updatedby":`) || !strings.Contains(body, `"updated_by":`) || !strings.Contains(body, `"given_name":`) ||
		!strings.Contains(body, `"webauthn_credentials":[]`) || !strings.Contains(body, `"settings":{}`) {
		t.Fatalf("current: %d %s", code, body)
	}
	for _, tc := range []struct {
		method, path, auth, body string
		status                   int
		code                     string
	}{
		{"GET", "/role-store/api/v1/roles", "", "", 401, "UNAUTHORIZED"},
		{"GET", "/role-store/api/v1/roles?limit=x", auth, "", 400, "BAD_REQUEST"},
		{"GET", "/role-store/api/v1/nothing", auth, "", 404, "NOT_FOUND"},
		{"PATCH", "/role-store/api/v1/roles", auth, "", 405, "METHOD_NOT_ALLOWED"},
		{"POST", "/role-store/api/v1/roles", auth, `{"name":7}`, 400, "BAD_REQUEST"},
		{"GET", "/role-store/api/v1/users/made-up", auth, "", 404, "NOT_FOUND"},
	} {
		var rd *strings.Reader
		if tc.body != "" {
			rd = strings.NewReader(tc.body)
		}
		var code int
		var body string
		if rd != nil {
			code, body = kw.call(t, tc.method, tc.path, rd, "Authorization", tc.auth)
		} else {
			code, body = kw.call(t, tc.method, tc.path, nil, "Authorization", tc.auth)
		}
		if code != tc.status || !strings.Contains(body, `"error_code":"`+tc.code+`"`) {
			t.Errorf("%s %s: %d %s, want %d %s", tc.method, tc.path, code, body, tc.status, tc.code)
		}
	}
}
