package oidc_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/authn/oidc"
	"github.com/keyward/keyward/internal/authn/oidc/oidctest"
)

func codeFlow(p *oidctest.Provider, extra map[string]string) map[string]string {
	v := map[string]string{"provider-uri": p.URL, "client-id": p.ClientID, "client-secret": p.ClientSecret,
		"claim-mapping": "preferred_username", "redirect-uri": "https://conjur.example/callback"}
	for k, x := range extra {
		v[k] = x
	}
	return v
}

func newAuth(t *testing.T, v map[string]string) *oidc.Authenticator {
	t.Helper()
	a, err := oidc.New(authn.Config{Account: "acme", ServiceID: "okta", Values: v})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a.(*oidc.Authenticator)
}

func TestCodeFlowThroughAuthorizationURL(t *testing.T) {
	p := oidctest.New(t)
	a := newAuth(t, codeFlow(p, map[string]string{"provider-scope": "groups email"}))
	p.SetLogin(map[string]any{"sub": "u1", "preferred_username": "alice"})
	verifier := "verifier-0123456789-0123456789-0123456789"
	authURL, err := a.AuthorizationURL(context.Background(), "n0nce", "st4te", oidctest.Challenge(verifier))
	if err != nil {
		t.Fatal(err)
	}
	want := p.URL + "/authorize?client_id=keyward&response_type=code&scope=openid%20email%20profile%20groups&state=st4te&nonce=n0nce&code_challenge=" +
		oidctest.Challenge(verifier) + "&code_challenge_method=S256&redirect_uri=https%3A%2F%2Fconjur.example%2Fcallback"
	if authURL != want {
		t.Fatalf("authorization URL\n got %s\nwant %s", authURL, want)
	}
	// Follow the provider's redirect as the browser would.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: %d %v", resp.StatusCode, err)
	}
	if loc.Query().Get("state") != "st4te" {
		t.Fatalf("state lost: %s", loc)
	}
	id, o, err := a.Verify(context.Background(), authn.Request{Code: loc.Query().Get("code"), CodeVerifier: verifier, Nonce: "n0nce", Now: time.Now()})
	if err != nil || o != authn.OK || id.Login != "alice" {
		t.Fatalf("Verify: %v %v %q (%s)", err, o, id.Login, id.Reason)
	}
}

func TestCodeFlowRefusals(t *testing.T) {
	p := oidctest.New(t)
	a := newAuth(t, codeFlow(p, nil))
	redirect := "https://conjur.example/callback"
	verifier := "good-verifier-good-verifier-good-verifier"
	user := map[string]any{"sub": "u1", "preferred_username": "alice"}
	cases := []struct {
		name string
		req  func() authn.Request
		want authn.Outcome
	}{
		{"good", func() authn.Request {
			return authn.Request{Code: p.IssueCode(user, "n", oidctest.Challenge(verifier), redirect), CodeVerifier: verifier, Nonce: "n"}
		}, authn.OK},
		{"wrong verifier", func() authn.Request {
			return authn.Request{Code: p.IssueCode(user, "n", oidctest.Challenge(verifier), redirect), CodeVerifier: "other", Nonce: "n"}
		}, authn.Invalid},
		{"wrong nonce", func() authn.Request {
			return authn.Request{Code: p.IssueCode(user, "n", oidctest.Challenge(verifier), redirect), CodeVerifier: verifier, Nonce: "m"}
		}, authn.Invalid},
		{"missing nonce", func() authn.Request {
			return authn.Request{Code: p.IssueCode(user, "n", oidctest.Challenge(verifier), redirect), CodeVerifier: verifier}
		}, authn.Invalid},
		{"unknown code", func() authn.Request { return authn.Request{Code: "nope", CodeVerifier: verifier, Nonce: "n"} }, authn.Invalid},
		{"claim-mapping missing", func() authn.Request {
			return authn.Request{Code: p.IssueCode(map[string]any{"sub": "u1"}, "n", oidctest.Challenge(verifier), redirect), CodeVerifier: verifier, Nonce: "n"}
		}, authn.Bad},
		{"admin refused", func() authn.Request {
			return authn.Request{Code: p.IssueCode(map[string]any{"preferred_username": "admin"}, "n", oidctest.Challenge(verifier), redirect), CodeVerifier: verifier, Nonce: "n"}
		}, authn.Bad},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, o, err := a.Verify(context.Background(), tc.req())
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if o != tc.want {
				t.Fatalf("outcome = %v (%s), want %v", o, id.Reason, tc.want)
			}
		})
	}
	// A code is single use.
	code := p.IssueCode(user, "n", oidctest.Challenge(verifier), redirect)
	for i, want := range []authn.Outcome{authn.OK, authn.Invalid} {
		if _, o, _ := a.Verify(context.Background(), authn.Request{Code: code, CodeVerifier: verifier, Nonce: "n"}); o != want {
			t.Fatalf("use %d: %v, want %v", i+1, o, want)
		}
	}
	wrongSecret := newAuth(t, codeFlow(p, map[string]string{"client-secret": "wrong"}))
	if _, o, err := wrongSecret.Verify(context.Background(), authn.Request{Code: p.IssueCode(user, "n", "", redirect), Nonce: "n"}); err != nil || o != authn.Bad {
		t.Fatalf("wrong client secret: %v %v", o, err)
	}
}

func TestIDTokenFlow(t *testing.T) {
	p := oidctest.New(t)
	a := newAuth(t, map[string]string{"provider-uri": p.URL, "id-token-user-property": "email"})
	aud := newAuth(t, map[string]string{"provider-uri": p.URL, "id-token-user-property": "email", "client-id": "keyward", "client-secret": "s", "claim-mapping": "email"})
	tok := func(mut func(map[string]any)) string {
		c := p.Claims("u1", "keyward")
		c["email"] = "alice@example.org"
		if mut != nil {
			mut(c)
		}
		return p.Sign(c)
	}
	cases := []struct {
		name string
		a    *oidc.Authenticator
		cred string
		want authn.Outcome
	}{
		{"good", a, tok(nil), authn.OK},
		{"body form", a, "id_token=" + tok(nil), authn.OK},
		{"wrong issuer", a, tok(func(c map[string]any) { c["iss"] = "https://evil" }), authn.Bad},
		{"expired", a, tok(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }), authn.Expired},
		{"no user claim", a, tok(func(c map[string]any) { delete(c, "email") }), authn.Bad},
		{"admin", a, tok(func(c map[string]any) { c["email"] = "admin" }), authn.Bad},
		{"unknown key", a, p.SignUnknownKey(p.Claims("u1", "keyward")), authn.Bad},
		{"alg none", a, p.SignNone(p.Claims("u1", "keyward")), authn.Bad},
		{"aud checked with client-id", aud, tok(func(c map[string]any) { c["aud"] = "someone-else" }), authn.Bad},
		{"aud ok", aud, tok(nil), authn.OK},
		{"empty", a, "", authn.Bad},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, o, err := tc.a.Verify(context.Background(), authn.Request{Credential: tc.cred, Now: time.Now()})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if o != tc.want {
				t.Fatalf("outcome = %v (%s), want %v", o, id.Reason, tc.want)
			}
			if o == authn.OK && id.Login != "alice@example.org" {
				t.Fatalf("login %q", id.Login)
			}
		})
	}
}

// The id-token flow takes client-id on its own (without the code flow's
// keys) and then refuses an id token not issued to that client: aud not it,
// not holding it, or absent.
func TestIDTokenFlowClientIDChecksAudience(t *testing.T) {
	p := oidctest.New(t)
	a := newAuth(t, map[string]string{"provider-uri": p.URL, "id-token-user-property": "email", "client-id": p.ClientID})
	tok := func(aud any) string {
		c := p.Claims("u1", "")
		c["email"] = "alice@example.org"
		if aud != nil {
			c["aud"] = aud
		}
		return p.Sign(c)
	}
	cases := []struct {
		name string
		cred string
		want authn.Outcome
	}{
		{"aud is the client", tok(p.ClientID), authn.OK},
		{"aud holds the client", tok([]string{"other", p.ClientID}), authn.OK},
		{"aud another client", tok("other"), authn.Bad},
		{"aud other clients", tok([]string{"a", "b"}), authn.Bad},
		{"aud empty list", tok([]string{}), authn.Bad},
		{"no aud", tok(nil), authn.Bad},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, o, err := a.Verify(context.Background(), authn.Request{Credential: tc.cred, Now: time.Now()})
			if err != nil || o != tc.want {
				t.Fatalf("outcome = %v, %v (%s), want %v", o, err, id.Reason, tc.want)
			}
		})
	}
	// client-id alone does not configure the code flow.
	if _, err := a.AuthorizationURL(context.Background(), "n", "", "c"); err == nil {
		t.Fatal("AuthorizationURL with client-id only: want error")
	}
	if id, o, err := a.Verify(context.Background(), authn.Request{Code: p.IssueCode(map[string]any{"email": "alice@example.org"}, "n", "", ""), Nonce: "n"}); err != nil || o != authn.Bad {
		t.Fatalf("code with client-id only: %v %v (%s), want Bad", o, err, id.Reason)
	}
	if err := a.Status(context.Background()); err != nil {
		t.Fatalf("Status: %v", err)
	}
	if w := a.Warnings(); len(w) != 0 {
		t.Fatalf("warnings with client-id: %q", w)
	}
}

// Without client-id the id-token flow keeps Conjur v1's behaviour, any aud,
// and says so as a warning.
func TestIDTokenFlowWithoutClientIDWarns(t *testing.T) {
	p := oidctest.New(t)
	a := newAuth(t, map[string]string{"provider-uri": p.URL, "id-token-user-property": "email"})
	c := p.Claims("u1", "some-other-app")
	c["email"] = "alice@example.org"
	if id, o, err := a.Verify(context.Background(), authn.Request{Credential: p.Sign(c), Now: time.Now()}); err != nil || o != authn.OK {
		t.Fatalf("v1 behaviour: %v %v (%s)", o, err, id.Reason)
	}
	var w authn.Warner = a
	if got := w.Warnings(); len(got) != 1 || !strings.Contains(got[0], "any client") || !strings.Contains(got[0], "client-id") {
		t.Fatalf("warnings = %q, want one naming any client and client-id", got)
	}
	if got := newAuth(t, codeFlow(p, nil)).Warnings(); len(got) != 0 {
		t.Fatalf("code flow only: warnings %q", got)
	}
}

func TestStatusTTLAndUnreachable(t *testing.T) {
	p := oidctest.New(t)
	a := newAuth(t, codeFlow(p, map[string]string{"token-ttl": "PT2H"}))
	if a.TokenTTL() != 2*time.Hour {
		t.Fatalf("ttl %v", a.TokenTTL())
	}
	if d := newAuth(t, codeFlow(p, nil)).TokenTTL(); d != 60*time.Minute {
		t.Fatalf("default ttl %v", d)
	}
	if err := a.Status(context.Background()); err != nil {
		t.Fatalf("Status: %v", err)
	}
	down := newAuth(t, map[string]string{"provider-uri": "http://127.0.0.1:1", "id-token-user-property": "sub"})
	if err := down.Status(context.Background()); err == nil {
		t.Fatal("Status: want error")
	}
	if _, _, err := down.Verify(context.Background(), authn.Request{Credential: "a.b.c"}); err == nil {
		t.Fatal("Verify with provider down: want error")
	}
	if _, err := down.AuthorizationURL(context.Background(), "n", "", "c"); err == nil {
		t.Fatal("AuthorizationURL without code flow: want error")
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name   string
		values map[string]string
		keys   []string
	}{
		{"empty", map[string]string{}, []string{"claim-mapping", "provider-uri"}},
		{"code flow incomplete", map[string]string{"provider-uri": "https://p", "client-id": "c"}, []string{"claim-mapping", "client-secret"}},
		{"unknown", map[string]string{"provider-uri": "https://p", "id-token-user-property": "sub", "scope": "x"}, []string{"scope"}},
		{"bad provider", map[string]string{"provider-uri": "p", "id-token-user-property": "sub"}, []string{"provider-uri"}},
		{"bad ttl", map[string]string{"provider-uri": "https://p", "id-token-user-property": "sub", "token-ttl": "2 hours"}, []string{"token-ttl"}},
		{"bad ca", map[string]string{"provider-uri": "https://p", "id-token-user-property": "sub", "ca-cert": "x"}, []string{"ca-cert"}},
		{"bad redirect", map[string]string{"provider-uri": "https://p", "client-id": "c", "client-secret": "s", "claim-mapping": "e", "redirect-uri": "/cb"}, []string{"redirect-uri"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := oidc.New(authn.Config{Values: tc.values})
			var ce authn.ConfigErrors
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want ConfigErrors", err)
			}
			var got []string
			for _, e := range ce {
				got = append(got, e.Key)
			}
			if strings.Join(got, ",") != strings.Join(tc.keys, ",") {
				t.Fatalf("keys = %v, want %v (%v)", got, tc.keys, err)
			}
		})
	}
	for _, ok := range []string{"PT60M", "P1D", "PT1.5S", "P1DT2H3M4S", "P2W"} {
		if _, err := oidc.New(authn.Config{Values: map[string]string{"provider-uri": "https://p", "id-token-user-property": "sub", "token-ttl": ok}}); err != nil {
			t.Errorf("token-ttl %s: %v", ok, err)
		}
	}
}
