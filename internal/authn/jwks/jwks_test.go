package jwks_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/authn/jwks"
	"github.com/keyward/keyward/internal/authn/jwt/jwttest"
)

func TestVerifyRegisteredClaims(t *testing.T) {
	iss := jwttest.NewIssuer(t)
	ks := jwks.FromProvider(http.DefaultClient, iss.URL)
	now := time.Now()
	at := func(d time.Duration) int64 { return now.Add(d).Unix() }
	cases := []struct {
		name   string
		edit   func(c map[string]any)
		rules  jwks.Rules
		want   authn.Outcome
		reason string
	}{
		{"valid", func(map[string]any) {}, jwks.Rules{Issuer: iss.URL, Audience: "aud"}, authn.OK, ""},
		{"aud in a list", func(c map[string]any) { c["aud"] = []any{"x", "aud"} }, jwks.Rules{Audience: "aud"}, authn.OK, ""},
		{"expired within leeway", func(c map[string]any) { c["exp"] = at(-30 * time.Second) }, jwks.Rules{}, authn.OK, ""},
		{"expired", func(c map[string]any) { c["exp"] = at(-2 * time.Minute) }, jwks.Rules{}, authn.Expired, "token expired"},
		{"no exp", func(c map[string]any) { delete(c, "exp") }, jwks.Rules{}, authn.Bad, "token has no numeric exp claim"},
		{"nbf ahead", func(c map[string]any) { c["nbf"] = at(5 * time.Minute) }, jwks.Rules{}, authn.Bad, "token not yet valid (nbf)"},
		{"iat ahead", func(c map[string]any) { c["iat"] = at(5 * time.Minute) }, jwks.Rules{}, authn.Bad, "token issued in the future (iat)"},
		{"issuer", func(map[string]any) {}, jwks.Rules{Issuer: "https://other"}, authn.Bad, "issuer mismatch"},
		{"audience", func(map[string]any) {}, jwks.Rules{Audience: "other"}, authn.Bad, "audience mismatch"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := iss.Claims("sub", "aud")
			tc.edit(c)
			tc.rules.Now = now
			id, o, err := ks.Verify(context.Background(), iss.Sign(c), tc.rules)
			if err != nil || o != tc.want || id.Reason != tc.reason {
				t.Fatalf("Verify = %v, %q, %v; want %v, %q", o, id.Reason, err, tc.want, tc.reason)
			}
			if id.Claims["sub"] != "sub" || id.Login != "" {
				t.Errorf("identity = %+v; want the claims and no login", id)
			}
		})
	}
}

func TestVerifyRefusesSignatures(t *testing.T) {
	iss := jwttest.NewIssuer(t)
	ks := jwks.FromURI(http.DefaultClient, iss.JWKSURL)
	c := iss.Claims("sub", "")
	for name, raw := range map[string]string{
		"none":        iss.SignNone(c),
		"hs256":       iss.SignHS256(c, []byte("a shared secret of 32 bytes or so")),
		"unknown key": iss.SignUnknownKey(c),
		"garbage":     "a.b.c",
	} {
		if id, o, err := ks.Verify(context.Background(), raw, jwks.Rules{}); err != nil || o != authn.Bad || id.Claims != nil {
			t.Errorf("%s: Verify = %v, %+v, %v; want Bad without claims", name, o, id, err)
		}
	}
	for _, alg := range []jose.SignatureAlgorithm{jose.RS384, jose.ES256, jose.EdDSA} {
		if _, o, err := ks.Verify(context.Background(), iss.SignWith(alg, c), jwks.Rules{}); err != nil || o != authn.OK {
			t.Errorf("%s: Verify = %v, %v; want OK", alg, o, err)
		}
	}
}

func TestStaticAndUnreachable(t *testing.T) {
	iss := jwttest.NewIssuer(t)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(iss.JWKS()), &set); err != nil {
		t.Fatal(err)
	}
	if _, o, err := jwks.Static(&set).Verify(context.Background(), iss.Sign(iss.Claims("s", "")), jwks.Rules{}); err != nil || o != authn.OK {
		t.Fatalf("static Verify = %v, %v", o, err)
	}
	down := jwks.FromURI(http.DefaultClient, "http://127.0.0.1:1/jwks")
	if _, o, err := down.Verify(context.Background(), iss.Sign(iss.Claims("s", "")), jwks.Rules{}); err == nil || o != authn.Bad {
		t.Fatalf("unreachable Verify = %v, %v; want an error", o, err)
	}
}

func TestCredential(t *testing.T) {
	for _, tc := range [][3]string{
		{"abc", "jwt", "abc"},
		{"jwt=a%2Bb", "jwt", "a+b"},
		{"jwt=%zz", "jwt", "jwt=%zz"},
		{"id_token=x", "id_token", "x"},
		{"id_token=x", "jwt", "id_token=x"},
	} {
		if got := jwks.Credential(tc[0], tc[1]); got != tc[2] {
			t.Errorf("Credential(%q, %q) = %q; want %q", tc[0], tc[1], got, tc[2])
		}
	}
}

func TestClaimAt(t *testing.T) {
	c := map[string]any{"a/b": "flat", "x": map[string]any{"y": map[string]any{"z": "deep"}}}
	for name, want := range map[string]any{"a/b": "flat", "x/y/z": "deep", "x/q": nil, "x/y/z/w": nil} {
		got, ok := jwks.ClaimAt(c, name)
		if got != want || ok != (want != nil) {
			t.Errorf("ClaimAt(%q) = %v, %v; want %v", name, got, ok, want)
		}
	}
}

func TestCheckURL(t *testing.T) {
	for s, ok := range map[string]bool{"https://a.example/x": true, "http://a": true, "ftp://a": false, "/rel": false, "https://": false} {
		if err := jwks.CheckURL(s); (err == nil) != ok {
			t.Errorf("CheckURL(%q) = %v; want ok=%v", s, err, ok)
		}
	}
}
