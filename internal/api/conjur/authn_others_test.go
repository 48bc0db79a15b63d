package conjur_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/authn/iam/iamtest"
	"github.com/keyward/keyward/internal/authn/jwt/jwttest"
	"github.com/keyward/keyward/internal/authn/ldap/ldaptest"
	"github.com/keyward/keyward/internal/authn/oidc/oidctest"
)

// lifetime is a token's exp - iat in seconds.
func lifetime(t *testing.T, tok string) float64 {
	t.Helper()
	c := payload(t, tok)
	return c["exp"].(float64) - c["iat"].(float64)
}

// oidcCode walks the browser part of the code flow: the provider's
// authorization URL (from Conjur's providers list) redirects with a code.
func oidcCode(t *testing.T, authURL string) string {
	t.Helper()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noFollow.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil || res.StatusCode != http.StatusFound || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: %d %q %v", res.StatusCode, res.Header.Get("Location"), err)
	}
	return loc.Query().Get("code")
}

func TestAuthnOIDC(t *testing.T) {
	e := newEnv(t)
	p := oidctest.New(t)
	e.putAuthenticator("authn-oidc/okta", true, map[string]string{"provider-uri": p.URL, "client-id": p.ClientID,
		"client-secret": p.ClientSecret, "claim-mapping": "preferred_username", "redirect-uri": "https://app.example/callback",
		"id-token-user-property": "preferred_username", "token-ttl": "PT2H"}, "user:alice")
	e.user("alice", nil)
	e.user("bob", nil)

	type provider struct{ ServiceID, Type, Name, Nonce, CodeVerifier, RedirectURI string }
	providers := func() []provider {
		r := e.do("GET", "/authn-oidc/myorg/providers", nil)
		r.expect(t, 200, nil)
		var raw []map[string]string
		if err := json.Unmarshal([]byte(r.body), &raw); err != nil {
			t.Fatal(err)
		}
		var out []provider
		for _, m := range raw {
			out = append(out, provider{m["service_id"], m["type"], m["name"], m["nonce"], m["code_verifier"], m["redirect_uri"]})
		}
		return out
	}
	ps := providers()
	if len(ps) != 1 || ps[0].ServiceID != "okta" || ps[0].Type != "authn-oidc" || ps[0].Name != "okta" || ps[0].Nonce == "" || ps[0].CodeVerifier == "" {
		t.Fatalf("providers %+v", ps)
	}
	wantURL := p.URL + "/authorize?client_id=keyward&response_type=code&scope=openid%20email%20profile&nonce=" + ps[0].Nonce +
		"&code_challenge=" + oidctest.Challenge(ps[0].CodeVerifier) + "&code_challenge_method=S256&redirect_uri=https%3A%2F%2Fapp.example%2Fcallback"
	if ps[0].RedirectURI != wantURL {
		t.Fatalf("redirect_uri\n got %s\nwant %s", ps[0].RedirectURI, wantURL)
	}
	e.do("GET", "/authn-oidc/nope/providers", nil).expect(t, 200, ptr("[]"))

	codeFlow := func(pr provider, user, verifier string) resp {
		p.SetLogin(map[string]any{"sub": "u-" + user, "preferred_username": user})
		code := oidcCode(t, pr.RedirectURI)
		q := "code=" + code + "&nonce=" + pr.Nonce + "&code_verifier=" + verifier
		return e.do("GET", "/authn-oidc/okta/myorg/authenticate?"+q, nil)
	}
	t.Run("code flow", func(t *testing.T) {
		r := codeFlow(ps[0], "alice", ps[0].CodeVerifier)
		r.expect(t, 200, nil)
		if payload(t, r.body)["sub"] != "alice" || lifetime(t, r.body) != 7200 {
			t.Fatalf("token %s (lifetime %v)", r.body, lifetime(t, r.body))
		}
	})
	t.Run("code flow refusals", func(t *testing.T) {
		pr := providers()[0]
		// Conjur's 400 for what the request got wrong (issue 19, point 7).
		codeFlow(pr, "alice", "wrong-verifier").expect(t, 400, empty)
		codeFlow(pr, "bob", pr.CodeVerifier).expect(t, 400, empty)
		codeFlow(pr, "carol", pr.CodeVerifier).expect(t, 400, empty)
		codeFlow(pr, "admin", pr.CodeVerifier).expect(t, 401, empty)
		e.do("GET", "/authn-oidc/okta/myorg/authenticate?nonce=x&code_verifier=y", nil).expect(t, 400, empty)
		e.do("GET", "/authn-oidc/okta/myorg/authenticate?code=x&code_verifier=y", nil).expect(t, 400, empty)
		e.do("GET", "/authn-oidc/okta/myorg/authenticate?code=reused&nonce="+pr.Nonce+"&code_verifier="+pr.CodeVerifier, nil).expect(t, 400, empty)
	})
	t.Run("id-token flow", func(t *testing.T) {
		idToken := func(user, aud string) string {
			c := p.Claims("u-"+user, aud)
			c["preferred_username"] = user
			return p.Sign(c)
		}
		post := func(tok string) resp {
			return e.do("POST", "/authn-oidc/okta/myorg/authenticate", strings.NewReader("id_token="+tok), "Content-Type", formType)
		}
		r := post(idToken("alice", p.ClientID))
		r.expect(t, 200, nil)
		if payload(t, r.body)["sub"] != "alice" || lifetime(t, r.body) != 480 {
			t.Fatalf("token %s", r.body)
		}
		post(idToken("bob", p.ClientID)).expect(t, 403, empty)
		post(idToken("alice", "someone-else")).expect(t, 401, empty)
		post(p.SignNone(p.Claims("u-alice", p.ClientID))).expect(t, 401, empty)
		post("").expect(t, 400, empty)
	})
}

func TestAuthnLDAP(t *testing.T) {
	srv := ldaptest.Start(t)
	srv.AddUser(t, "alice", "alice-ldap-pw")
	srv.AddUser(t, "bob", "bob-ldap-pw")
	srv.AddUser(t, "admin", "admin-ldap-pw")
	e := newEnv(t)
	e.putAuthenticator("authn-ldap/corp", true, map[string]string{"uri": srv.URL, "base_dn": srv.BaseDN,
		"bind_dn": srv.BindDN, "bind-password": srv.BindPassword}, "user:alice", "user:admin")
	alice := e.user("alice", nil)
	e.user("bob", nil)
	login := func(user, pw string) resp {
		return e.do("GET", "/authn-ldap/corp/myorg/login", nil, "Authorization", basic(user, pw))
	}
	authn := func(user, pw string) resp {
		return e.do("POST", "/authn-ldap/corp/myorg/"+url.PathEscape(user)+"/authenticate", strings.NewReader(pw))
	}
	login("alice", "alice-ldap-pw").expect(t, 200, &alice.key)
	r := authn("alice", "alice-ldap-pw")
	r.expect(t, 200, nil)
	if payload(t, r.body)["sub"] != "alice" {
		t.Fatalf("token %s", r.body)
	}
	login("alice", "wrong").expect(t, 401, empty)
	authn("alice", "wrong").expect(t, 401, empty)
	authn("alice", "").expect(t, 401, empty)
	login("bob", "bob-ldap-pw").expect(t, 403, empty)
	login("admin", "admin-ldap-pw").expect(t, 401, empty)
	login("carol", "x").expect(t, 401, empty)
	e.do("GET", "/authn-ldap/corp/myorg/login", nil).expect(t, 401, empty)
	e.do("PATCH", "/authn-ldap/corp/myorg", form("enabled", "false"), "Authorization", e.admin, "Content-Type", formType).expect(t, 204, empty)
	login("alice", "alice-ldap-pw").expect(t, 401, empty)
}

func TestAuthnGCP(t *testing.T) {
	e := newEnv(t)
	iss := jwttest.NewIssuer(t)
	e.putAuthenticator("authn-gcp", true, map[string]string{"issuer": iss.URL, "jwks-uri": iss.JWKSURL}, "host:gcp/vm")
	e.host("gcp/vm", map[string]string{"authn-gcp/project-id": "proj", "authn-gcp/instance-name": "vm-1"})
	e.host("gcp/other", map[string]string{"authn-gcp/project-id": "proj"})
	claims := func(aud, project string) map[string]any {
		c := iss.Claims("1234567890", aud)
		c["email"] = "vm@proj.iam.gserviceaccount.com"
		c["google"] = map[string]any{"compute_engine": map[string]any{"project_id": project, "instance_name": "vm-1"}}
		return c
	}
	post := func(tok string) resp {
		return e.do("POST", "/authn-gcp/myorg/authenticate", form("jwt", tok), "Content-Type", formType)
	}
	r := post(iss.Sign(claims("conjur/myorg/host/gcp/vm", "proj")))
	r.expect(t, 200, nil)
	if payload(t, r.body)["sub"] != "host/gcp/vm" {
		t.Fatalf("token %s", r.body)
	}
	post(iss.Sign(claims("conjur/myorg/host/gcp/vm", "other-proj"))).expect(t, 401, empty)
	post(iss.Sign(claims("conjur/otherorg/host/gcp/vm", "proj"))).expect(t, 401, empty)
	post(iss.Sign(claims("conjur/myorg/host/gcp/other", "proj"))).expect(t, 403, empty)
	post(iss.SignNone(claims("conjur/myorg/host/gcp/vm", "proj"))).expect(t, 401, empty)
	e.do("GET", "/authn-gcp/myorg/status", nil, "Authorization", e.admin).expect(t, 200, ptr(`{"status":"ok"}`))
}

func TestAuthnAzure(t *testing.T) {
	e := newEnv(t)
	iss := jwttest.NewIssuer(t)
	e.putAuthenticator("authn-azure/prod", true, map[string]string{"provider-uri": iss.URL}, "host:azure/app")
	e.host("azure/app", map[string]string{"authn-azure/subscription-id": "sub-1", "authn-azure/resource-group": "rg-1"})
	claims := func(rg string) map[string]any {
		c := iss.Claims("oid-1", "https://management.azure.com/")
		c["iss"] = iss.URL + "/"
		c["oid"] = "oid-1"
		c["xms_mirid"] = "/subscriptions/sub-1/resourcegroups/" + rg + "/providers/Microsoft.Compute/virtualMachines/vm-1"
		return c
	}
	post := func(login, tok string) resp {
		return e.do("POST", "/authn-azure/prod/myorg/"+url.PathEscape(login)+"/authenticate", form("jwt", tok), "Content-Type", formType)
	}
	r := post("host/azure/app", iss.Sign(claims("rg-1")))
	r.expect(t, 200, nil)
	if payload(t, r.body)["sub"] != "host/azure/app" {
		t.Fatalf("token %s", r.body)
	}
	post("host/azure/app", iss.Sign(claims("rg-2"))).expect(t, 401, empty)
	post("host/azure/app", iss.SignUnknownKey(claims("rg-1"))).expect(t, 401, empty)
	e.do("GET", "/authn-azure/prod/myorg/status", nil, "Authorization", e.admin).expect(t, 200, ptr(`{"status":"ok"}`))
}

func TestAuthnIAM(t *testing.T) {
	e := newEnv(t)
	sts := iamtest.Start(t, "011915987442", "MyApp")
	e.putAuthenticator("authn-iam/prod", true, map[string]string{"sts-endpoint": sts.URL}, "host:aws/011915987442/MyApp")
	e.host("aws/011915987442/MyApp", nil)
	e.host("aws/011915987442/Other", nil)
	post := func(login, body string) resp {
		return e.do("POST", "/authn-iam/prod/myorg/"+url.QueryEscape(login)+"/authenticate", strings.NewReader(body), "Content-Type", "application/json")
	}
	signed := iamtest.SignedHeaders(t, sts.Credentials(), "sts.amazonaws.com", "us-east-1", time.Now())
	r := post("host/aws/011915987442/MyApp", signed)
	r.expect(t, 200, nil)
	if payload(t, r.body)["sub"] != "host/aws/011915987442/MyApp" {
		t.Fatalf("token %s", r.body)
	}
	post("host/aws/011915987442/Other", signed).expect(t, 401, empty)
	forged := sts.Credentials()
	forged.SecretAccessKey = "guess"
	post("host/aws/011915987442/MyApp", iamtest.SignedHeaders(t, forged, "sts.amazonaws.com", "us-east-1", time.Now())).expect(t, 401, empty)
	post("host/aws/011915987442/MyApp", "not json").expect(t, 401, empty)
}

func TestAuthnK8s(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/authn-k8s/prod/myorg/host%2Fapp/authenticate", "/authn-k8s/prod/inject_client_cert"} {
		r := e.do("POST", path, strings.NewReader("x"))
		r.expect(t, 501, nil)
		if !strings.Contains(r.body, "authn-k8s is not available") {
			t.Fatalf("%s: %s", path, r.body)
		}
	}
}
