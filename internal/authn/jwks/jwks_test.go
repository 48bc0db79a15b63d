package jwks_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
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

// Issue 19, point 6: a real issuer over HTTP rotates its key; a token with
// the new kid is verified at once (one refetch), unknown kids refetch at most
// once per 10 s, and a failed fetch is not retried for every request. The
// clock is the callers' (Rules.Now): no sleeps.
func TestRotationRefetchAndNegativeCache(t *testing.T) {
	iss := jwttest.NewIssuer(t)
	ks := jwks.FromURI(http.DefaultClient, iss.JWKSURL)
	t0 := time.Now()
	verify := func(tok string, at time.Duration) (authn.Outcome, error) {
		_, o, err := ks.Verify(context.Background(), tok, jwks.Rules{Now: t0.Add(at)})
		return o, err
	}
	want := func(what string, o authn.Outcome, err error, wantO authn.Outcome, wantErr bool, fetches int) {
		t.Helper()
		if o != wantO || (err != nil) != wantErr || iss.JWKSFetches() != fetches {
			t.Fatalf("%s: %v, %v, %d fetches; want %v, error %t, %d fetches", what, o, err, iss.JWKSFetches(), wantO, wantErr, fetches)
		}
	}
	o, err := verify(iss.Sign(iss.Claims("s", "")), 0)
	want("first token", o, err, authn.OK, false, 1)
	iss.RotateRSA()
	rotated := iss.Sign(iss.Claims("s", ""))
	o, err = verify(rotated, time.Second)
	want("new kid one second after the first fetch", o, err, authn.OK, false, 2)
	o, err = verify(rotated, 2*time.Second)
	want("new kid again", o, err, authn.OK, false, 2)
	// Made-up kids: one refetch per 10 s at most.
	for i := range 5 {
		o, err = verify(iss.SignUnknownKid(iss.Claims("s", "")), 3*time.Second+time.Duration(i)*time.Second)
		want("unknown kid", o, err, authn.Bad, false, 2)
	}
	o, err = verify(iss.SignUnknownKid(iss.Claims("s", "")), 12*time.Second)
	want("unknown kid 11 s after the last refetch", o, err, authn.Bad, false, 3)
	// The issuer goes down and rotates: the fetch fails once, and its
	// failure is remembered for 10 s; known kids keep verifying.
	iss.SetDown(true)
	iss.RotateRSA()
	again := iss.Sign(iss.Claims("s", ""))
	o, err = verify(again, 30*time.Second)
	want("new kid, issuer down", o, err, authn.Bad, true, 4)
	for i := range 5 {
		o, err = verify(again, 31*time.Second+time.Duration(i)*time.Second)
		want("new kid, issuer down, within the gap", o, err, authn.Bad, false, 4)
	}
	o, err = verify(rotated, 33*time.Second)
	want("known kid, issuer down", o, err, authn.OK, false, 4)
	// The cache expires while the issuer is down: one failed fetch, then its
	// error without asking, then a fetch again after the gap.
	late := jwks.KeysTTL + time.Minute
	o, err = verify(rotated, late)
	want("expired cache, issuer down", o, err, authn.Bad, true, 5)
	o, err = verify(rotated, late+time.Second)
	want("expired cache, failure remembered", o, err, authn.Bad, true, 5)
	iss.SetDown(false)
	o, err = verify(again, late+11*time.Second)
	want("issuer back", o, err, authn.OK, false, 6)
}

func TestFetchErrorsNameTheirSource(t *testing.T) {
	iss := jwttest.NewIssuer(t)
	tlsIss := jwttest.NewTLSIssuer(t)
	for name, tc := range map[string]struct {
		ks        *jwks.KeySet
		discovery bool
	}{
		"refused jwks-uri":     {jwks.FromURI(http.DefaultClient, "http://127.0.0.1:1/jwks"), false},
		"untrusted jwks-uri":   {jwks.FromURI(http.DefaultClient, tlsIss.JWKSURL), false},
		"jwks-uri not 200":     {jwks.FromURI(http.DefaultClient, iss.URL+"/nothing"), false},
		"jwks-uri not JSON":    {jwks.FromURI(http.DefaultClient, iss.URL+"/.well-known/openid-configuration/x"), false},
		"refused provider-uri": {jwks.FromProvider(http.DefaultClient, "http://127.0.0.1:1"), true},
		"DNS provider-uri":     {jwks.FromProvider(http.DefaultClient, "http://no-such-host.invalid"), true},
	} {
		_, err := tc.ks.Fetch(context.Background())
		var fe *authn.FetchError
		if !errors.As(err, &fe) || fe.Discovery != tc.discovery {
			t.Errorf("%s: %v; want a FetchError with Discovery %t", name, err, tc.discovery)
		}
	}
}

// Review of issue 19, F1: a refetch caused by a made-up kid runs outside
// the key set's lock, so while the issuer hangs, tokens whose kid is cached
// keep verifying (one anonymous request per 10 s must not stall every login
// of the service).
func TestUnknownKidRefetchDoesNotBlockKnownKids(t *testing.T) {
	iss := jwttest.NewIssuer(t)
	var hang atomic.Bool
	entered, release := make(chan struct{}, 1), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hang.Load() {
			entered <- struct{}{}
			<-release
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(iss.JWKS()))
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		if hang.Load() {
			close(release)
		}
	})
	ks := jwks.FromURI(srv.Client(), srv.URL)
	t0 := time.Now()
	good := iss.Sign(iss.Claims("s", ""))
	if _, o, err := ks.Verify(context.Background(), good, jwks.Rules{Now: t0}); o != authn.OK || err != nil {
		t.Fatalf("first token: %v %v", o, err)
	}
	hang.Store(true)
	go func() {
		_, _, _ = ks.Verify(context.Background(), iss.SignUnknownKid(iss.Claims("s", "")), jwks.Rules{Now: t0.Add(time.Second)})
	}()
	<-entered // the unknown kid's refetch is now in flight and hangs
	done := make(chan authn.Outcome, 1)
	go func() {
		_, o, _ := ks.Verify(context.Background(), good, jwks.Rules{Now: t0.Add(2 * time.Second)})
		done <- o
	}()
	select {
	case o := <-done:
		if o != authn.OK {
			t.Fatalf("known kid during a refetch: %v", o)
		}
	case <-time.After(5 * time.Second): // a liveness bound, not a timing figure: the fetch hangs until release
		t.Fatal("a token with a cached kid waited for an unknown kid's refetch (the key set's lock is held across the fetch)")
	}
}

// Review of issue 19, F2: requests take their Now before they queue, so
// they arrive out of order. A Now earlier than the last refetch is inside
// the gap (and inside the negative cache), never a clock that went back.
func TestOutOfOrderNowDoesNotBypassTheRefetchGap(t *testing.T) {
	iss := jwttest.NewIssuer(t)
	ks := jwks.FromURI(http.DefaultClient, iss.JWKSURL)
	t0 := time.Now()
	if _, o, err := ks.Verify(context.Background(), iss.Sign(iss.Claims("s", "")), jwks.Rules{Now: t0}); o != authn.OK || err != nil {
		t.Fatalf("first token: %v %v", o, err)
	}
	base := iss.JWKSFetches()
	for i := range 5 {
		// Five made-up kids whose requests started 1 s .. 1 s-4 ms after t0
		// and reached the lock in reverse order.
		at := t0.Add(time.Second - time.Duration(i)*time.Millisecond)
		_, _, _ = ks.Verify(context.Background(), iss.SignUnknownKid(iss.Claims("s", "")), jwks.Rules{Now: at})
	}
	if got := iss.JWKSFetches() - base; got > 1 {
		t.Fatalf("five unknown kids within one gap caused %d fetches; want at most 1", got)
	}
	// The same for the negative cache: failures remembered, whatever the order.
	iss.SetDown(true)
	base = iss.JWKSFetches()
	for i := range 5 {
		at := t0.Add(30*time.Second - time.Duration(i)*time.Millisecond)
		_, _, _ = ks.Verify(context.Background(), iss.SignUnknownKid(iss.Claims("s", "")), jwks.Rules{Now: at})
	}
	if got := iss.JWKSFetches() - base; got > 1 {
		t.Fatalf("five unknown kids while the issuer is down caused %d fetch attempts; want at most 1", got)
	}
}
