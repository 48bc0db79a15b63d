package argus_test

import (
	"context"
	"testing"
)

func TestSessions(t *testing.T) {
	e := newEnv(t)
	plain := e.newUser("alice", "", false)
	strong := e.newUser("bob", "", true)

	var s struct {
		User struct {
			ID       string `json:"id"`
			UserName string `json:"userName"`
		} `json:"user"`
		SecurityLevel int `json:"securityLevel"`
		Credentials   struct {
			RequestCredentialsData string `json:"requestCredentialsData"`
		} `json:"credentials"`
	}
	r := e.call("POST", "/authentication/v1/password/authentication", map[string]any{"userName": "alice", "password": password, "domain": "ignored"}).want(200)
	env := r.data(&s)
	if s.User.ID != plain.id || s.User.UserName != "alice" || s.SecurityLevel != 2 || s.Credentials.RequestCredentialsData == "" ||
		env.Limit+env.Offset+env.Count+env.Size != 0 {
		t.Fatalf("password session %s", r.body)
	}
	// The token is a native access token of level 2.
	var intro struct {
		Active bool `json:"active"`
		Level  int  `json:"security_level"`
	}
	e.call("POST", "/api/v1/token/introspect", "token="+s.Credentials.RequestCredentialsData, bearer(e.admin),
		header("Content-Type", "application/x-www-form-urlencoded")).want(200).decode(&intro)
	if !intro.Active || intro.Level != 2 {
		t.Fatalf("introspection %+v", intro)
	}

	// A user with MFA: the password route asks for the code, the TOTP route gives level 3.
	e.call("POST", "/authentication/v1/password/authentication", map[string]any{"userName": "bob", "password": password}).
		fails(401, "authentication.totp.required")
	e.call("POST", "/authentication/v1/totp/authentication", map[string]any{"userName": "bob", "password": password, "tokenCode": e.code(strong)}).
		want(200).data(&s)
	if s.SecurityLevel != 3 || s.User.ID != strong.id {
		t.Fatalf("totp session level %d", s.SecurityLevel)
	}
	e.call("POST", "/api/v1/token/introspect", "token="+s.Credentials.RequestCredentialsData, bearer(e.admin),
		header("Content-Type", "application/x-www-form-urlencoded")).want(200).decode(&intro)
	if intro.Level != 3 {
		t.Fatalf("totp token level %d", intro.Level)
	}
	// The same code is accepted once.
	e.call("POST", "/authentication/v1/totp/authentication", map[string]any{"userName": "bob", "password": password, "tokenCode": e.code(strong)}).
		fails(401, "authentication.failed")
	// The TOTP route for a user without MFA, wrong passwords, unknown users.
	e.call("POST", "/authentication/v1/totp/authentication", map[string]any{"userName": "alice", "password": password, "tokenCode": "123456"}).
		fails(401, "authentication.failed")
	if rec := e.findAudit("token"); rec.Outcome != "failure" || rec.Reason != "mfa_not_enabled" {
		t.Fatalf("TOTP route without MFA recorded %+v", rec)
	}
	e.call("POST", "/authentication/v1/password/authentication", map[string]any{"userName": "alice", "password": "wrong"}).
		fails(401, "authentication.failed")
	e.call("POST", "/authentication/v1/password/authentication", map[string]any{"userName": "nobody", "password": "wrong"}).
		fails(401, "authentication.failed")
	e.call("POST", "/authentication/v1/totp/authentication", map[string]any{"userName": "bob", "password": "wrong", "tokenCode": "000000"}).
		fails(401, "authentication.failed")

	// Bad bodies.
	e.call("POST", "/authentication/v1/password/authentication", "not json").fails(412, "validation.failed")
	if m := e.call("POST", "/authentication/v1/password/authentication", "[1]").msgs(); m[0].Type != "ACTION_ERROR" || m[0].Field != nil {
		t.Fatalf("a body that is not an object: %+v", m)
	}
	e.call("POST", "/authentication/v1/password/authentication", map[string]any{"userName": "alice"}).fieldErrors("password")
	e.call("POST", "/authentication/v1/password/authentication", map[string]any{"userName": 5, "password": password, "extra": 1}).
		fieldErrors("extra", "userName")
	e.call("POST", "/authentication/v1/totp/authentication", map[string]any{"userName": "bob", "password": password}).fieldErrors("tokenCode")
}

func TestCredentials(t *testing.T) {
	e := newEnv(t)
	u := e.newUser("alice", "", false)
	tok := e.session(u)
	path := "/authentication/v1/user/alice/apikey"
	e.call("GET", path, nil).fails(401, "authentication.required")
	e.call("GET", path, nil, bearer(tok)).want(200)
	e.call("GET", path, nil, bearer("not-a-token")).fails(401, "authentication.failed")
	e.call("GET", path, nil, header("Authorization", "Basic YWxpY2U6cHc=")).fails(401, "authentication.failed")
	// Several credentials, even one valid, are refused.
	e.call("GET", path, nil, bearer(tok), apiKey("a/b/c")).fails(401, "authentication.failed")
	e.call("GET", path, nil, bearer(tok), header("Authorization", "Bearer "+tok)).fails(401, "authentication.failed")
	e.call("GET", path, nil, apiKey("a/b/c"), header("Argus-Signature", "x")).fails(401, "authentication.failed")
	// Malformed, unknown keys; a header name in any case.
	for _, k := range []string{"", "nokey", "a/b", "a//c", "a/b/c/d", u.id + "/aaaaaaaaaaaaaaaa/" + "x y"} {
		e.call("GET", path, nil, apiKey(k)).fails(401, "authentication.apikey.invalid")
	}
	e.call("GET", path, nil, header("argus-api-key", u.id+"/aaaaaaaaaaaaaaaa/secret")).fails(401, "authentication.apikey.invalid")
	e.call("GET", path, nil, header("Argus-Signature", "keyId=a/b")).fails(401, "authentication.signature.invalid")
	// The routes serve the default account: another account's token or key is refused.
	otherKey, err := e.s.Init(context.Background(), "other")
	if err != nil {
		t.Fatal(err)
	}
	var ot struct {
		AccessToken string `json:"access_token"`
	}
	e.native("POST", "/api/v1/token", "", map[string]any{"api_key": otherKey}).want(200).decode(&ot)
	e.call("GET", "/authentication/v1/user/admin/apikey", nil, bearer(ot.AccessToken)).fails(401, "authentication.failed")
	var page struct {
		Items []auditRec `json:"items"`
	}
	e.native("GET", "/api/v1/audit?limit=1", ot.AccessToken, nil).want(200).decode(&page)
	if rec := page.Items[0]; rec.Event != "authn" || rec.Reason != "wrong_account" {
		t.Fatalf("another account's token recorded %+v", rec)
	}
	e.call("POST", "/authentication/v1/user/admin/apikey", nil, bearer(ot.AccessToken)).fails(403, "authorization.securitylevel")
	if rec := e.lastAudit(1)[0]; rec.Event != "authn" || rec.Outcome != "failure" || rec.Reason != "signature_invalid" || rec.Authenticator != "signature" {
		t.Fatalf("malformed signature recorded %+v", rec)
	}
}

func TestUnknownRouteAndMethod(t *testing.T) {
	e := newEnv(t)
	e.call("GET", "/authentication/v1/nothing", nil).fails(404, "object.notfound")
	r := e.call("PUT", "/authentication/v1/user/alice/apikey", nil)
	r.fails(405, "request.method")
	if r.header.Get("Allow") != "GET, POST" {
		t.Fatalf("Allow %q", r.header.Get("Allow"))
	}
}
