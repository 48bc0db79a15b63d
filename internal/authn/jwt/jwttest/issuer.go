// Package jwttest runs a real token issuer for tests: an HTTP server publishing OIDC discovery and a JWKS, and signing tokens with its keys.
package jwttest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Issuer is a running token issuer. Its URL is both the issuer (iss) and the
// OIDC provider URI; JWKSURL serves its public keys.
type Issuer struct {
	URL     string
	JWKSURL string
	Server  *httptest.Server

	t         testing.TB
	mux       *http.ServeMux
	fetches   atomic.Int64
	down      atomic.Bool
	mu        sync.Mutex
	keys      map[jose.SignatureAlgorithm]jose.JSONWebKey // private signing keys by algorithm
	generated int
}

// NewIssuer starts a plain-HTTP issuer with RSA, P-256 and Ed25519 keys,
// stopped when the test ends.
func NewIssuer(t testing.TB) *Issuer { return start(t, false) }

// NewTLSIssuer starts the issuer over HTTPS with a self-signed certificate;
// CACertPEM returns that certificate.
func NewTLSIssuer(t testing.TB) *Issuer { return start(t, true) }

func start(t testing.TB, useTLS bool) *Issuer {
	t.Helper()
	i := &Issuer{t: t, mux: http.NewServeMux(), keys: map[jose.SignatureAlgorithm]jose.JSONWebKey{}}
	i.keys[jose.RS256] = i.newKey(jose.RS256)
	i.keys[jose.ES256] = i.newKey(jose.ES256)
	i.keys[jose.EdDSA] = i.newKey(jose.EdDSA)
	i.mux.HandleFunc("GET /.well-known/openid-configuration", i.serveDiscovery)
	i.mux.HandleFunc("GET /jwks", i.serveJWKS)
	if useTLS {
		i.Server = httptest.NewTLSServer(i.mux)
	} else {
		i.Server = httptest.NewServer(i.mux)
	}
	t.Cleanup(i.Server.Close)
	i.URL = i.Server.URL
	i.JWKSURL = i.URL + "/jwks"
	return i
}

func (i *Issuer) newKey(alg jose.SignatureAlgorithm) jose.JSONWebKey {
	i.t.Helper()
	var key crypto.Signer
	var err error
	switch alg {
	case jose.ES256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.EdDSA:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		i.t.Fatalf("jwttest: generate %s key: %v", alg, err)
	}
	i.generated++
	return jose.JSONWebKey{Key: key, KeyID: fmt.Sprintf("key-%d", i.generated), Use: "sig"}
}

// Handle adds a handler to the issuer's server (an OIDC provider adds its
// authorization and token endpoints this way).
func (i *Issuer) Handle(pattern string, h http.Handler) { i.mux.Handle(pattern, h) }

// Discovery is the metadata the issuer publishes.
func (i *Issuer) Discovery() map[string]any {
	return map[string]any{
		"issuer":                                i.URL,
		"jwks_uri":                              i.JWKSURL,
		"authorization_endpoint":                i.URL + "/authorize",
		"token_endpoint":                        i.URL + "/token",
		"id_token_signing_alg_values_supported": []string{"RS256", "ES256", "EdDSA"},
		"response_types_supported":              []string{"code", "id_token"},
		"subject_types_supported":               []string{"public"},
	}
}

func (i *Issuer) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(i.Discovery())
}

func (i *Issuer) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	i.fetches.Add(1)
	if i.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(i.JWKS()))
}

// SetDown makes the JWKS endpoint answer 503 (down) or serve its keys again;
// fetches are counted either way.
func (i *Issuer) SetDown(down bool) { i.down.Store(down) }

// JWKS returns the public key set as JSON.
func (i *Issuer) JWKS() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	var set jose.JSONWebKeySet
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA} {
		k := i.keys[alg]
		set.Keys = append(set.Keys, k.Public())
	}
	b, err := json.Marshal(set)
	if err != nil {
		i.t.Fatalf("jwttest: marshal jwks: %v", err)
	}
	return string(b)
}

// PublicKeys returns the key set in the form Conjur's public-keys variable holds.
func (i *Issuer) PublicKeys() string {
	return `{"type":"jwks","value":` + i.JWKS() + `}`
}

// JWKSFetches counts requests to the JWKS endpoint.
func (i *Issuer) JWKSFetches() int { return int(i.fetches.Load()) }

// CACertPEM returns the TLS server's certificate as PEM (NewTLSIssuer only).
func (i *Issuer) CACertPEM() string {
	c := i.Server.Certificate()
	if c == nil {
		i.t.Fatal("jwttest: CACertPEM on a plain-HTTP issuer")
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

// RotateRSA replaces the RSA key with a new one under a new kid.
func (i *Issuer) RotateRSA() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.keys[jose.RS256] = i.newKey(jose.RS256)
}

// Claims returns standard claims: iss (the issuer), sub, aud, iat and an
// exp an hour ahead. Callers add or override entries.
func (i *Issuer) Claims(sub, aud string) map[string]any {
	now := time.Now()
	c := map[string]any{"iss": i.URL, "sub": sub, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	if aud != "" {
		c["aud"] = aud
	}
	return c
}

// Sign signs claims with the RSA key (RS256).
func (i *Issuer) Sign(claims map[string]any) string { return i.SignWith(jose.RS256, claims) }

// SignWith signs claims with alg: RS256/RS384/RS512 use the RSA key, ES256
// the P-256 key, EdDSA the Ed25519 key.
func (i *Issuer) SignWith(alg jose.SignatureAlgorithm, claims map[string]any) string {
	i.t.Helper()
	i.mu.Lock()
	var key jose.JSONWebKey
	switch alg {
	case jose.ES256, jose.EdDSA:
		key = i.keys[alg]
	default:
		key = i.keys[jose.RS256]
	}
	i.mu.Unlock()
	return i.signKey(alg, key, claims)
}

// SignUnknownKey signs with a fresh RSA key that the JWKS does not hold,
// under the kid of the published RSA key.
func (i *Issuer) SignUnknownKey(claims map[string]any) string {
	i.t.Helper()
	i.mu.Lock()
	kid := i.keys[jose.RS256].KeyID
	i.mu.Unlock()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		i.t.Fatalf("jwttest: generate key: %v", err)
	}
	return i.signKey(jose.RS256, jose.JSONWebKey{Key: key, KeyID: kid}, claims)
}

// SignNone returns an unsigned token with header alg "none".
func (i *Issuer) SignNone(claims map[string]any) string {
	return seg(map[string]any{"alg": "none", "typ": "JWT"}) + "." + seg(claims) + "."
}

// SignHS256 returns a token MACed with secret (HS256), which a JWKS-based
// verifier must refuse.
func (i *Issuer) SignHS256(claims map[string]any, secret []byte) string {
	i.t.Helper()
	return i.signKey(jose.HS256, jose.JSONWebKey{Key: secret, KeyID: "hmac"}, claims)
}

func (i *Issuer) signKey(alg jose.SignatureAlgorithm, key jose.JSONWebKey, claims map[string]any) string {
	i.t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		i.t.Fatalf("jwttest: signer %s: %v", alg, err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		i.t.Fatalf("jwttest: marshal claims: %v", err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		i.t.Fatalf("jwttest: sign: %v", err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		i.t.Fatalf("jwttest: serialize: %v", err)
	}
	return s
}

func seg(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// SignUnknownKid signs with a fresh RSA key under a kid the JWKS has never
// held.
func (i *Issuer) SignUnknownKid(claims map[string]any) string {
	i.t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		i.t.Fatalf("jwttest: generate key: %v", err)
	}
	i.mu.Lock()
	i.generated++
	kid := fmt.Sprintf("made-up-%d", i.generated)
	i.mu.Unlock()
	return i.signKey(jose.RS256, jose.JSONWebKey{Key: key, KeyID: kid}, claims)
}
