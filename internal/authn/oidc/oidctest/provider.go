// Package oidctest runs a real OpenID Connect provider for tests: discovery, JWKS, an authorization endpoint and a token endpoint that checks PKCE.
package oidctest

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/authn/jwt/jwttest"
)

// Provider is a running OIDC provider for one registered client.
type Provider struct {
	*jwttest.Issuer
	ClientID     string
	ClientSecret string

	mu         sync.Mutex
	codes      map[string]grant
	login      map[string]any
	tokenCalls atomic.Int64
}

type grant struct {
	claims      map[string]any
	nonce       string
	challenge   string
	redirectURI string
	expires     time.Time
}

// New starts a provider (plain HTTP) with client "keyward" / "client-secret".
func New(t testing.TB) *Provider {
	t.Helper()
	p := &Provider{Issuer: jwttest.NewIssuer(t), ClientID: "keyward", ClientSecret: "client-secret", codes: map[string]grant{}}
	p.Handle("GET /authorize", http.HandlerFunc(p.authorize))
	p.Handle("POST /token", http.HandlerFunc(p.token))
	return p
}

// SetLogin sets the claims of the user the authorization endpoint logs in
// (as if they had entered their password).
func (p *Provider) SetLogin(claims map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.login = claims
}

// IssueCode registers an authorization code for claims, as the
// authorization endpoint would after a login: the id token will carry
// nonce, and redeeming the code needs the verifier of codeChallenge (S256).
func (p *Provider) IssueCode(claims map[string]any, nonce, codeChallenge, redirectURI string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	code := hex.EncodeToString(b)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.codes[code] = grant{claims: claims, nonce: nonce, challenge: codeChallenge, redirectURI: redirectURI, expires: time.Now().Add(time.Minute)}
	return code
}

// TokenCalls counts requests to the token endpoint.
func (p *Provider) TokenCalls() int { return int(p.tokenCalls.Load()) }

// Challenge returns the S256 code challenge of verifier.
func Challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p.mu.Lock()
	login := p.login
	p.mu.Unlock()
	if q.Get("client_id") != p.ClientID || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" || login == nil {
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || !redirect.IsAbs() {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	code := p.IssueCode(login, q.Get("nonce"), q.Get("code_challenge"), q.Get("redirect_uri"))
	rq := redirect.Query()
	rq.Set("code", code)
	if s := q.Get("state"); s != "" {
		rq.Set("state", s)
	}
	redirect.RawQuery = rq.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	p.tokenCalls.Add(1)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != p.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(p.ClientSecret)) != 1 {
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	if r.PostForm.Get("grant_type") != "authorization_code" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	code := r.PostForm.Get("code")
	p.mu.Lock()
	g, found := p.codes[code]
	delete(p.codes, code) // codes are single use
	p.mu.Unlock()
	switch {
	case !found || time.Now().After(g.expires):
		oauthError(w, http.StatusBadRequest, "invalid_grant")
		return
	case g.challenge != "" && Challenge(r.PostForm.Get("code_verifier")) != g.challenge:
		oauthError(w, http.StatusBadRequest, "invalid_grant")
		return
	case g.redirectURI != "" && r.PostForm.Get("redirect_uri") != g.redirectURI:
		oauthError(w, http.StatusBadRequest, "invalid_grant")
		return
	}
	claims := p.Claims("", p.ClientID)
	for k, v := range g.claims {
		claims[k] = v
	}
	if g.nonce != "" {
		claims["nonce"] = g.nonce
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": "opaque-access-token", "token_type": "Bearer", "expires_in": 3600, "id_token": p.Sign(claims),
	})
}

func oauthError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
}
