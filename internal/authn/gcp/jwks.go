package gcp

// This file is kept identical (but for the package clause) in authn/jwt,
// authn/oidc, authn/gcp and authn/azure: those packages may import only
// internal/authn, so they cannot share it through a keyward package.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyward/keyward/internal/authn"
)

// acceptedAlgs are the signature algorithms a token may use; "none" and the
// HMAC family are refused because a JWKS holds no shared secrets.
var acceptedAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.EdDSA}

const (
	leeway        = 60 * time.Second // clock skew allowed on exp, nbf and iat
	keysTTL       = 15 * time.Minute // a fetched JWKS is reused this long
	minRefetchGap = 10 * time.Second // an unknown kid triggers at most one refetch per gap
	maxBody       = 1 << 20          // JWKS, discovery and token responses are small
)

// httpClient returns the client for outbound calls: one trusting only caPEM
// when it is set, else base, else a default client with a timeout.
func httpClient(base *http.Client, caPEM string) (*http.Client, error) {
	if caPEM == "" {
		if base != nil {
			return base, nil
		}
		return &http.Client{Timeout: 10 * time.Second}, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(caPEM)) {
		return nil, errors.New("no PEM certificate found")
	}
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}, nil
}

// checkURL reports whether s is an absolute http or https URL.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("malformed URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("not an absolute http(s) URL: %q", s)
	}
	return nil
}

// getJSON fetches url and decodes its JSON body into v.
func getJSON(ctx context.Context, c *http.Client, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("build request for %s: %w", u, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("read %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch %s: status %d", u, resp.StatusCode)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode %s: %w", u, err)
	}
	return nil
}

// discovery is the part of an OpenID provider's metadata keyward reads.
type discovery struct {
	Issuer                string `json:"issuer"`
	JWKSURI               string `json:"jwks_uri"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
}

// discover reads providerURI's /.well-known/openid-configuration.
func discover(ctx context.Context, c *http.Client, providerURI string) (discovery, error) {
	var d discovery
	u := strings.TrimRight(providerURI, "/") + "/.well-known/openid-configuration"
	if err := getJSON(ctx, c, u, &d); err != nil {
		return d, fmt.Errorf("provider discovery: %w", err)
	}
	if d.JWKSURI == "" {
		return d, fmt.Errorf("provider discovery %s: no jwks_uri", u)
	}
	return d, nil
}

// keySet supplies verification keys: static ones, or a JWKS fetched from a
// URI (given, or found by discovery) and cached, refetched when it is old or
// a token names an unknown kid (at most once per minRefetchGap).
type keySet struct {
	client      *http.Client
	jwksURI     string
	providerURI string
	static      *jose.JSONWebKeySet

	mu      sync.Mutex
	keys    *jose.JSONWebKeySet
	fetched time.Time
}

// fetch loads the JWKS from its source, bypassing the cache.
func (k *keySet) fetch(ctx context.Context) (*jose.JSONWebKeySet, error) {
	if k.static != nil {
		return k.static, nil
	}
	uri := k.jwksURI
	if uri == "" {
		d, err := discover(ctx, k.client, k.providerURI)
		if err != nil {
			return nil, err
		}
		uri = d.JWKSURI
	}
	var set jose.JSONWebKeySet
	if err := getJSON(ctx, k.client, uri, &set); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("jwks %s: no usable keys", uri)
	}
	return &set, nil
}

// lookup returns the keys a token with kid may be signed with.
func (k *keySet) lookup(ctx context.Context, kid string, now time.Time) ([]jose.JSONWebKey, error) {
	if k.static != nil {
		return match(k.static, kid), nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys == nil || now.Sub(k.fetched) > keysTTL {
		set, err := k.fetch(ctx)
		if err != nil {
			return nil, err
		}
		k.keys, k.fetched = set, now
	}
	found := match(k.keys, kid)
	if len(found) == 0 && now.Sub(k.fetched) >= minRefetchGap {
		set, err := k.fetch(ctx)
		if err != nil {
			return nil, err
		}
		k.keys, k.fetched = set, now
		found = match(k.keys, kid)
	}
	return found, nil
}

func match(set *jose.JSONWebKeySet, kid string) []jose.JSONWebKey {
	if kid == "" {
		return set.Keys
	}
	return set.Key(kid)
}

// tokenRules are the claim checks a verified token must pass.
type tokenRules struct {
	issuer   string // required iss, when not empty
	audience string // required member of aud, when not empty
	now      time.Time
}

// verifyToken checks raw's signature against ks and its registered claims
// against rules. A refused token gives an outcome and reason; err only
// means the keys could not be obtained.
func verifyToken(ctx context.Context, ks *keySet, raw string, r tokenRules) (map[string]any, authn.Outcome, string, error) {
	jws, err := jose.ParseSignedCompact(strings.TrimSpace(raw), acceptedAlgs)
	if err != nil {
		return nil, authn.Bad, "malformed token or refused algorithm", nil
	}
	if len(jws.Signatures) != 1 {
		return nil, authn.Bad, "token must carry one signature", nil
	}
	keys, err := ks.lookup(ctx, jws.Signatures[0].Header.KeyID, r.now)
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

func checkRegistered(c map[string]any, r tokenRules) (authn.Outcome, string) {
	exp, ok := c["exp"].(float64)
	if !ok {
		return authn.Bad, "token has no numeric exp claim"
	}
	if r.now.After(time.Unix(int64(exp), 0).Add(leeway)) {
		return authn.Expired, "token expired"
	}
	if v, present := c["nbf"]; present {
		nbf, ok := v.(float64)
		if !ok || r.now.Add(leeway).Before(time.Unix(int64(nbf), 0)) {
			return authn.Bad, "token not yet valid (nbf)"
		}
	}
	if v, present := c["iat"]; present {
		iat, ok := v.(float64)
		if !ok || r.now.Add(leeway).Before(time.Unix(int64(iat), 0)) {
			return authn.Bad, "token issued in the future (iat)"
		}
	}
	if r.issuer != "" {
		if iss, _ := c["iss"].(string); iss != r.issuer {
			return authn.Bad, "issuer mismatch"
		}
	}
	if r.audience != "" && !hasAudience(c["aud"], r.audience) {
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

// claimAt returns the claim named name: a top-level claim of that exact
// name, else the value at the "/"-separated path through nested objects.
func claimAt(c map[string]any, name string) (any, bool) {
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

// unknownKeys reports every key of values not in allowed.
func unknownKeys(values map[string]string, allowed ...string) authn.ConfigErrors {
	var errs authn.ConfigErrors
	for k := range values {
		known := false
		for _, a := range allowed {
			known = known || k == a
		}
		if !known {
			errs = append(errs, authn.ConfigError{Key: k, Msg: "unknown configuration key"})
		}
	}
	return errs
}

// configResult sorts errs by key for stable messages and returns nil when
// there are none.
func configResult(errs authn.ConfigErrors) error {
	if len(errs) == 0 {
		return nil
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Key < errs[j].Key })
	return errs
}
