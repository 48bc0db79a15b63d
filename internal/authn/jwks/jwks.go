// Package jwks verifies the JSON Web Tokens that outside authenticators (authn-jwt, authn-oidc, authn-gcp, authn-azure) accept, against keys fetched from a JSON Web Key Set and cached.
package jwks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyward/keyward/internal/authn"
)

// acceptedAlgs are the signature algorithms a token may use; "none" and the
// HMAC family are refused because a JWKS holds no shared secrets.
var acceptedAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.EdDSA}

const (
	// KeysTTL is how long a fetched JWKS (or discovery document) is reused.
	KeysTTL = 15 * time.Minute

	leeway        = 60 * time.Second // clock skew allowed on exp, nbf and iat
	minRefetchGap = 10 * time.Second // an unknown kid triggers at most one refetch per gap
)

// KeySet supplies verification keys: static ones, or a JWKS fetched from a
// URI (given, or found by discovery) and cached (see Cache). The cache is
// refreshed when it is older than KeysTTL, and at once when a token names a
// kid it does not hold (an issuer rotated its key), at most once per
// minRefetchGap so that tokens with made-up kids cannot hammer the issuer.
// A failed fetch is remembered for minRefetchGap: requests in between get
// its error without asking again. The fetch runs outside any lock, one at a
// time: tokens whose kid is cached keep verifying while it runs. Times are
// the callers' (Rules.Now), so tests drive the clock.
type KeySet struct {
	client      *http.Client
	jwksURI     string
	providerURI string
	static      *jose.JSONWebKeySet
	cache       *Cache[*jose.JSONWebKeySet]
}

// Static is a key set of the given keys, never fetched.
func Static(keys *jose.JSONWebKeySet) *KeySet { return &KeySet{static: keys} }

// FromURI is a key set fetched with client from the JWKS at uri.
func FromURI(client *http.Client, uri string) *KeySet {
	k := &KeySet{client: client, jwksURI: uri}
	k.cache = NewCache(k.Fetch)
	return k
}

// FromProvider is a key set fetched with client from the jwks_uri that
// providerURI's OpenID discovery document names.
func FromProvider(client *http.Client, providerURI string) *KeySet {
	k := &KeySet{client: client, providerURI: providerURI}
	k.cache = NewCache(k.Fetch)
	return k
}

// Fetch loads the JWKS from its source, bypassing the cache; it is how an
// authenticator's status check reaches its keys. Its errors are
// *authn.FetchError.
func (k *KeySet) Fetch(ctx context.Context) (*jose.JSONWebKeySet, error) {
	if k.static != nil {
		return k.static, nil
	}
	uri := k.jwksURI
	if uri == "" {
		d, err := Discover(ctx, k.client, k.providerURI)
		if err != nil {
			return nil, err
		}
		uri = d.JWKSURI
	}
	fail := func(err error) error {
		if k.jwksURI == "" {
			return &authn.FetchError{Discovery: true, URI: k.providerURI, Err: fmt.Errorf("jwks %s: %w", uri, err)}
		}
		return &authn.FetchError{URI: uri, Err: err}
	}
	var set jose.JSONWebKeySet
	if err := getJSON(ctx, k.client, "jwks", uri, &set); err != nil {
		return nil, fail(err)
	}
	if len(set.Keys) == 0 {
		return nil, fail(errors.New("no usable keys"))
	}
	return &set, nil
}

// lookup returns the keys a token with kid may be signed with.
func (k *KeySet) lookup(ctx context.Context, kid string, now time.Time) ([]jose.JSONWebKey, error) {
	if k.static != nil {
		return match(k.static, kid), nil
	}
	set, err := k.cache.Get(ctx, now, func(s *jose.JSONWebKeySet) bool { return kid != "" && len(match(s, kid)) > 0 })
	if err != nil {
		return nil, err
	}
	found := match(set, kid)
	if len(found) == 0 && kid != "" {
		fresh, ok, err := k.cache.Refetch(ctx, now)
		if err != nil {
			return nil, err
		}
		if ok {
			found = match(fresh, kid)
		}
	}
	return found, nil
}

func match(set *jose.JSONWebKeySet, kid string) []jose.JSONWebKey {
	if kid == "" {
		return set.Keys
	}
	return set.Key(kid)
}

// Rules are the registered-claim checks a verified token must pass.
type Rules struct {
	Issuer string // required iss, when not empty
	// IssuerIfPresent checks Issuer only against a token that carries iss
	// (Conjur's authn-jwt with an issuer derived from jwks-uri): a token
	// without iss passes, one with any other iss does not.
	IssuerIfPresent bool
	Audience        string    // required member of aud, when not empty
	Now             time.Time // the time to check exp, nbf and iat against; zero means now
}

// Credential is the token in a request credential: the credential itself,
// or, in Conjur's form-body shape param=<token>, the unescaped token.
func Credential(credential, param string) string {
	if rest, ok := strings.CutPrefix(credential, param+"="); ok {
		if dec, err := url.QueryUnescape(rest); err == nil {
			return dec
		}
	}
	return credential
}

// Verify checks raw's signature against the key set and its registered
// claims against r. The identity carries the token's claims (once the
// signature holds) and, for a refused token, the outcome's reason; no login
// is set. err only means the keys could not be obtained.
func (k *KeySet) Verify(ctx context.Context, raw string, r Rules) (authn.Identity, authn.Outcome, error) {
	if r.Now.IsZero() {
		r.Now = time.Now()
	}
	claims, o, why, err := k.verify(ctx, raw, r)
	if err != nil {
		return authn.Identity{}, authn.Bad, err
	}
	return authn.Identity{Claims: claims, Reason: why}, o, nil
}

func (k *KeySet) verify(ctx context.Context, raw string, r Rules) (map[string]any, authn.Outcome, string, error) {
	jws, err := jose.ParseSignedCompact(strings.TrimSpace(raw), acceptedAlgs)
	if err != nil {
		return nil, authn.Bad, "malformed token or refused algorithm", nil
	}
	if len(jws.Signatures) != 1 {
		return nil, authn.Bad, "token must carry one signature", nil
	}
	keys, err := k.lookup(ctx, jws.Signatures[0].Header.KeyID, r.Now)
	if err != nil {
		return nil, authn.Bad, "", err
	}
	var payload []byte
	for _, key := range keys {
		if key.Use != "" && key.Use != "sig" {
			continue
		}
		if p, err := jws.Verify(key.Public()); err == nil {
			payload = p
			break
		}
	}
	if payload == nil {
		return nil, authn.Bad, "signature not verified by any known key", nil
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, authn.Bad, "token payload is not a JSON object", nil
	}
	if o, why := checkRegistered(claims, r); o != authn.OK {
		return claims, o, why, nil
	}
	return claims, authn.OK, "", nil
}

func checkRegistered(c map[string]any, r Rules) (authn.Outcome, string) {
	exp, ok := c["exp"].(float64)
	if !ok {
		return authn.Bad, "token has no numeric exp claim"
	}
	if r.Now.After(time.Unix(int64(exp), 0).Add(leeway)) {
		return authn.Expired, "token expired"
	}
	if v, present := c["nbf"]; present {
		nbf, ok := v.(float64)
		if !ok || r.Now.Add(leeway).Before(time.Unix(int64(nbf), 0)) {
			return authn.Bad, "token not yet valid (nbf)"
		}
	}
	if v, present := c["iat"]; present {
		iat, ok := v.(float64)
		if !ok || r.Now.Add(leeway).Before(time.Unix(int64(iat), 0)) {
			return authn.Bad, "token issued in the future (iat)"
		}
	}
	if v, present := c["iss"]; r.Issuer != "" && (present || !r.IssuerIfPresent) {
		if iss, _ := v.(string); iss != r.Issuer {
			return authn.Bad, "issuer mismatch"
		}
	}
	if r.Audience != "" && !hasAudience(c["aud"], r.Audience) {
		return authn.Bad, "audience mismatch"
	}
	return authn.OK, ""
}

func hasAudience(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return a == want
	case []any:
		for _, v := range a {
			if s, ok := v.(string); ok && s == want {
				return true
			}
		}
	}
	return false
}

// ClaimAt returns the claim named name: a top-level claim of that exact
// name, else the value at the "/"-separated path through nested objects.
func ClaimAt(c map[string]any, name string) (any, bool) {
	if v, ok := c[name]; ok {
		return v, true
	}
	var cur any = c
	for _, part := range strings.Split(name, "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}
