package jwt_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/authn/jwt"
	"github.com/keyward/keyward/internal/authn/jwt/jwttest"
)

func newAuth(t *testing.T, values map[string]string) *jwt.Authenticator {
	t.Helper()
	a, err := jwt.New(authn.Config{Account: "acme", Type: jwt.Type, ServiceID: "svc", Values: values})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a.(*jwt.Authenticator)
}

func verify(t *testing.T, a authn.Authenticator, login, token string) (authn.Identity, authn.Outcome) {
	t.Helper()
	id, o, err := a.Verify(context.Background(), authn.Request{Account: "acme", ServiceID: "svc", Login: login, Credential: token, Now: time.Now()})
	if err != nil {
		t.Fatalf("Verify: unexpected error %v", err)
	}
	return id, o
}

func TestVerifyTokens(t *testing.T) {
	iss := jwttest.NewIssuer(t)
	a := newAuth(t, map[string]string{"jwks-uri": iss.JWKSURL, "issuer": iss.URL, "audience": "conjur"})
	good := func() map[string]any { return iss.Claims("app", "conjur") }
	with := func(k string, v any) map[string]any { c := good(); c[k] = v; return c }
	without := func(k string) map[string]any { c := good(); delete(c, k); return c }
	hour := time.Hour

	cases := []struct {
		name  string
		token string
		want  authn.Outcome
	}{
		{"RS256", iss.Sign(good()), authn.OK},
		{"RS384", iss.SignWith(jose.RS384, good()), authn.OK},
		{"RS512", iss.SignWith(jose.RS512, good()), authn.OK},
		{"ES256", iss.SignWith(jose.ES256, good()), authn.OK},
		{"EdDSA", iss.SignWith(jose.EdDSA, good()), authn.OK},
		{"conjur body form", "jwt=" + iss.Sign(good()), authn.OK},
		{"aud list", iss.Sign(with("aud", []string{"x", "conjur"})), authn.OK},
		{"wrong key", iss.SignUnknownKey(good()), authn.Bad},
		{"alg none", iss.SignNone(good()), authn.Bad},
		{"HS256", iss.SignHS256(good(), []byte("0123456789abcdef0123456789abcdef")), authn.Bad},
		{"expired", iss.Sign(with("exp", time.Now().Add(-hour).Unix())), authn.Expired},
		{"within leeway", iss.Sign(with("exp", time.Now().Add(-10*time.Second).Unix())), authn.OK},
		{"no exp", iss.Sign(without("exp")), authn.Bad},
		{"nbf future", iss.Sign(with("nbf", time.Now().Add(hour).Unix())), authn.Bad},
		{"iat future", iss.Sign(with("iat", time.Now().Add(hour).Unix())), authn.Bad},
		{"wrong issuer", iss.Sign(with("iss", "https://evil.example")), authn.Bad},
		{"no issuer", iss.Sign(without("iss")), authn.Bad},
		{"wrong audience", iss.Sign(with("aud", "other")), authn.Bad},
		{"no audience", iss.Sign(without("aud")), authn.Bad},
		{"garbage", "not.a.jwt", authn.Bad},
		{"tampered", tamper(iss.Sign(good())), authn.Bad},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, o := verify(t, a, "host/apps/app", tc.token)
			if o != tc.want {
				t.Fatalf("outcome = %v (%s), want %v", o, id.Reason, tc.want)
			}
			if o == authn.OK && id.Login != "host/apps/app" {
				t.Fatalf("login = %q", id.Login)
			}
		})
	}
}

// Conjur's authn-jwt with jwks-uri and no issuer takes the host name of
// jwks-uri as the issuer, and checks iss only when the token carries one: a
// token without iss passes, a token with any other iss (the issuer's URL
// too) is refused.
func TestJWKSURIWithoutIssuerChecksDerivedIssuer(t *testing.T) {
	iss := jwttest.NewIssuer(t)
	a := newAuth(t, map[string]string{"jwks-uri": iss.JWKSURL})
	with := func(v any) map[string]any { c := iss.Claims("app", ""); c["iss"] = v; return c }
	noIss := iss.Claims("app", "")
	delete(noIss, "iss")
	cases := []struct {
		name  string
		token string
		want  authn.Outcome
	}{
		{"no iss", iss.Sign(noIss), authn.OK},
		{"iss is the jwks-uri host name", iss.Sign(with("127.0.0.1")), authn.OK},
		{"foreign iss", iss.Sign(with("https://evil.example")), authn.Bad},
		{"iss is the issuer URL, not the host name", iss.Sign(with(iss.URL)), authn.Bad},
		{"empty iss", iss.Sign(with("")), authn.Bad},
		{"iss not a string", iss.Sign(with(127)), authn.Bad},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if id, o := verify(t, a, "host/apps/app", tc.token); o != tc.want {
				t.Fatalf("outcome = %v (%s), want %v", o, id.Reason, tc.want)
			}
		})
	}
	// A configured issuer still wins over the host name, and requires iss.
	b := newAuth(t, map[string]string{"jwks-uri": iss.JWKSURL, "issuer": "https://ci.example"})
	if _, o := verify(t, b, "host/a", iss.Sign(with("127.0.0.1"))); o != authn.Bad {
		t.Fatalf("host name with issuer configured: %v, want Bad", o)
	}
	if _, o := verify(t, b, "host/a", iss.Sign(noIss)); o != authn.Bad {
		t.Fatalf("no iss with issuer configured: %v, want Bad", o)
	}
}

func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	c := jwttestClaimsSegment(map[string]any{"sub": "admin", "exp": time.Now().Add(time.Hour).Unix()})
	return parts[0] + "." + c + "." + parts[2]
}

func TestLoginRequiredWithoutTokenAppProperty(t *testing.T) {
	iss := jwttest.NewIssuer(t)
	a := newAuth(t, map[string]string{"jwks-uri": iss.JWKSURL})
	if id, o := verify(t, a, "", iss.Sign(iss.Claims("app", ""))); o != authn.Bad {
		t.Fatalf("no login: outcome %v (%s), want Bad", o, id.Reason)
	}
}

func TestTokenAppPropertyAndIdentityPath(t *testing.T) {
	iss := jwttest.NewIssuer(t)
	a := newAuth(t, map[string]string{"jwks-uri": iss.JWKSURL, "issuer": iss.URL, "token-app-property": "project/path", "identity-path": "/gitlab/apps"})
	c := iss.Claims("x", "")
	c["project"] = map[string]any{"path": "group/proj"}
	id, o := verify(t, a, "", iss.Sign(c))
	if o != authn.OK || id.Login != "host/gitlab/apps/group/proj" {
		t.Fatalf("got %v %q (%s), want OK host/gitlab/apps/group/proj", o, id.Login, id.Reason)
	}
	if _, o := verify(t, a, "host/other", iss.Sign(c)); o != authn.Bad {
		t.Fatalf("login in route with token-app-property: %v, want Bad", o)
	}
	c["project"] = map[string]any{"path": 7}
	if _, o := verify(t, a, "", iss.Sign(c)); o != authn.Bad {
		t.Fatalf("non-string property: %v, want Bad", o)
	}
	delete(c, "project")
	if _, o := verify(t, a, "", iss.Sign(c)); o != authn.Bad {
		t.Fatalf("missing property: %v, want Bad", o)
	}
	b := newAuth(t, map[string]string{"jwks-uri": iss.JWKSURL, "issuer": iss.URL, "token-app-property": "sub"})
	if id, o := verify(t, b, "", iss.Sign(iss.Claims("myapp", ""))); o != authn.OK || id.Login != "host/myapp" {
		t.Fatalf("no identity-path: %v %q", o, id.Login)
	}
	// A claim cannot climb out of the host namespace or the identity path.
	for _, sub := range []string{"../user/admin", "../../user/admin", "a/../b", "./a", "a//b", "/a", "a/"} {
		cc := iss.Claims("x", "")
		cc["project"] = map[string]any{"path": sub}
		if id, o := verify(t, a, "", iss.Sign(cc)); o != authn.Bad {
			t.Errorf("claim %q: %v %q, want Bad", sub, o, id.Login)
		}
		if id, o := verify(t, b, "", iss.Sign(iss.Claims(sub, ""))); o != authn.Bad {
			t.Errorf("sub %q: %v %q, want Bad", sub, o, id.Login)
		}
	}
}

func TestPublicKeysAndProviderURI(t *testing.T) {
	iss := jwttest.NewIssuer(t)
	pk := newAuth(t, map[string]string{"public-keys": iss.PublicKeys(), "issuer": iss.URL})
	if id, o := verify(t, pk, "host/a", iss.SignWith(jose.ES256, iss.Claims("a", ""))); o != authn.OK {
		t.Fatalf("public-keys: %v (%s)", o, id.Reason)
	}
	if err := pk.Status(context.Background()); err != nil {
		t.Fatalf("public-keys status: %v", err)
	}
	pu := newAuth(t, map[string]string{"provider-uri": iss.URL})
	if id, o := verify(t, pu, "host/a", iss.Sign(iss.Claims("a", ""))); o != authn.OK {
		t.Fatalf("provider-uri: %v (%s)", o, id.Reason)
	}
	// provider-uri is the issuer when none is configured.
	c := iss.Claims("a", "")
	c["iss"] = "https://elsewhere"
	if _, o := verify(t, pu, "host/a", iss.Sign(c)); o != authn.Bad {
		t.Fatalf("provider-uri issuer default: %v, want Bad", o)
	}
}

func TestCACert(t *testing.T) {
	iss := jwttest.NewTLSIssuer(t)
	a := newAuth(t, map[string]string{"jwks-uri": iss.JWKSURL, "issuer": iss.URL, "ca-cert": iss.CACertPEM()})
	if id, o := verify(t, a, "host/a", iss.Sign(iss.Claims("a", ""))); o != authn.OK {
		t.Fatalf("with ca-cert: %v (%s)", o, id.Reason)
	}
	untrusted := newAuth(t, map[string]string{"jwks-uri": iss.JWKSURL})
	if _, _, err := untrusted.Verify(context.Background(), authn.Request{Login: "host/a", Credential: iss.Sign(iss.Claims("a", "")), Now: time.Now()}); err == nil {
		t.Fatal("untrusted TLS JWKS: want error")
	}
}

func TestJWKSCacheAndRotation(t *testing.T) {
	iss := jwttest.NewIssuer(t)
	a := newAuth(t, map[string]string{"jwks-uri": iss.JWKSURL, "issuer": iss.URL})
	now := time.Now()
	req := func(tok string, at time.Time) authn.Outcome {
		_, o, err := a.Verify(context.Background(), authn.Request{Login: "host/a", Credential: tok, Now: at})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	for range 3 {
		if o := req(iss.Sign(iss.Claims("a", "")), now); o != authn.OK {
			t.Fatalf("outcome %v", o)
		}
	}
	if n := iss.JWKSFetches(); n != 1 {
		t.Fatalf("fetches = %d, want 1 (cached)", n)
	}
	iss.RotateRSA()
	tok := iss.Sign(iss.Claims("a", ""))
	// The new kid is fetched at once (issue 19, point 6).
	if o := req(tok, now.Add(time.Second)); o != authn.OK || iss.JWKSFetches() != 2 {
		t.Fatalf("rotated key: %v, fetches %d", o, iss.JWKSFetches())
	}
	// Another unknown kid within the refetch gap: no refetch, refused.
	iss.RotateRSA()
	tok = iss.Sign(iss.Claims("a", ""))
	if o := req(tok, now.Add(5*time.Second)); o != authn.Bad || iss.JWKSFetches() != 2 {
		t.Fatalf("within gap: %v, fetches %d", o, iss.JWKSFetches())
	}
	if o := req(tok, now.Add(30*time.Second)); o != authn.OK || iss.JWKSFetches() != 3 {
		t.Fatalf("after gap: %v, fetches %d", o, iss.JWKSFetches())
	}
}

func TestUnreachableIsError(t *testing.T) {
	a := newAuth(t, map[string]string{"jwks-uri": "http://127.0.0.1:1/jwks"})
	if _, _, err := a.Verify(context.Background(), authn.Request{Login: "host/a", Credential: jwttestFakeToken(t), Now: time.Now()}); err == nil {
		t.Fatal("want error when JWKS unreachable")
	}
	if err := a.Status(context.Background()); err == nil {
		t.Fatal("Status: want error")
	}
	iss := jwttest.NewIssuer(t)
	b := newAuth(t, map[string]string{"jwks-uri": iss.JWKSURL})
	if err := b.Status(context.Background()); err != nil {
		t.Fatalf("Status: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	iss := jwttest.NewIssuer(t)
	cases := []struct {
		name   string
		values map[string]string
		keys   []string
	}{
		{"no source", map[string]string{}, []string{"jwks-uri"}},
		{"two sources", map[string]string{"jwks-uri": iss.JWKSURL, "provider-uri": iss.URL}, []string{"jwks-uri"}},
		{"unknown key", map[string]string{"jwks-uri": iss.JWKSURL, "bogus": "1"}, []string{"bogus"}},
		{"bad url", map[string]string{"jwks-uri": "ftp://x"}, []string{"jwks-uri"}},
		{"bad provider url", map[string]string{"provider-uri": "::"}, []string{"provider-uri"}},
		{"jwks-uri without host name", map[string]string{"jwks-uri": "http://:8080/jwks"}, []string{"jwks-uri"}},
		{"public-keys needs issuer", map[string]string{"public-keys": iss.PublicKeys()}, []string{"issuer"}},
		{"public-keys bad json", map[string]string{"public-keys": "{", "issuer": "x"}, []string{"public-keys"}},
		{"public-keys bad type", map[string]string{"public-keys": `{"type":"pem","value":{"keys":[]}}`, "issuer": "x"}, []string{"public-keys"}},
		{"public-keys empty", map[string]string{"public-keys": `{"type":"jwks","value":{"keys":[]}}`, "issuer": "x"}, []string{"public-keys"}},
		{"bad ca-cert", map[string]string{"jwks-uri": iss.JWKSURL, "ca-cert": "nope"}, []string{"ca-cert"}},
		{"bad token-app-property", map[string]string{"jwks-uri": iss.JWKSURL, "token-app-property": "a//b"}, []string{"token-app-property"}},
		{"enforced deny", map[string]string{"jwks-uri": iss.JWKSURL, "enforced-claims": "sub,exp"}, []string{"enforced-claims"}},
		{"enforced empty item", map[string]string{"jwks-uri": iss.JWKSURL, "enforced-claims": "sub,,ref"}, []string{"enforced-claims"}},
		{"enforced dup", map[string]string{"jwks-uri": iss.JWKSURL, "enforced-claims": "sub, sub"}, []string{"enforced-claims"}},
		{"alias format", map[string]string{"jwks-uri": iss.JWKSURL, "claim-aliases": "a:b:c"}, []string{"claim-aliases"}},
		{"alias slash", map[string]string{"jwks-uri": iss.JWKSURL, "claim-aliases": "a/b:c"}, []string{"claim-aliases"}},
		{"alias dup", map[string]string{"jwks-uri": iss.JWKSURL, "claim-aliases": "a:b,c:b"}, []string{"claim-aliases"}},
		{"alias deny", map[string]string{"jwks-uri": iss.JWKSURL, "claim-aliases": "a:iss"}, []string{"claim-aliases"}},
		{"several at once", map[string]string{"jwks-uri": "nope", "ca-cert": "x", "zzz": "1"}, []string{"ca-cert", "jwks-uri", "zzz"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := jwt.New(authn.Config{ServiceID: "svc", Values: tc.values})
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
}
