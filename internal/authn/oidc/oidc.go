// Package oidc authenticates users through an OpenID Connect provider for Conjur's authn-oidc: the id-token flow and the authorization-code flow with PKCE.
package oidc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/authn/jwks"
)

// Type is the authenticator type this package implements.
const Type = "authn-oidc"

// Configuration keys, named as Conjur's authn-oidc variables.
const (
	KeyProviderURI         = "provider-uri"
	KeyClientID            = "client-id"
	KeyClientSecret        = "client-secret"
	KeyClaimMapping        = "claim-mapping"
	KeyRedirectURI         = "redirect-uri"
	KeyResponseType        = "response-type"
	KeyProviderScope       = "provider-scope"
	KeyNonce               = "nonce"
	KeyState               = "state"
	KeyTokenTTL            = "token-ttl"
	KeyCACert              = "ca-cert"
	KeyIDTokenUserProperty = "id-token-user-property"
)

// DefaultTokenTTL is Conjur's token-ttl default, PT60M.
const DefaultTokenTTL = 60 * time.Minute

// Authenticator serves one authn-oidc service. The code flow is configured
// by client-id, client-secret and claim-mapping (Conjur's v2); the id-token
// flow by id-token-user-property (Conjur's v1), with client-id optional: set,
// an id token's aud must hold it. Both flows may be configured.
type Authenticator struct {
	serviceID    string
	providerURI  string
	client       *http.Client
	keys         *jwks.KeySet
	codeFlow     bool
	clientID     string
	clientSecret string
	claimMapping string
	redirectURI  string
	responseType string
	scope        string
	userProperty string
	ttl          time.Duration
	// disc is the provider's discovery document, cached as the keys are:
	// fetched outside any lock, one fetch at a time, a failure remembered.
	disc *jwks.Cache[jwks.Discovery]
}

var (
	_ authn.Authenticator = (*Authenticator)(nil)
	_ authn.Provider      = (*Authenticator)(nil)
	_ authn.StatusChecker = (*Authenticator)(nil)
	_ authn.Warner        = (*Authenticator)(nil)
)

// New builds an authn-oidc authenticator, reporting every bad value at once.
func New(cfg authn.Config) (authn.Authenticator, error) {
	v := cfg.Values
	errs := authn.UnknownKeys(v, KeyProviderURI, KeyClientID, KeyClientSecret, KeyClaimMapping, KeyRedirectURI, KeyResponseType,
		KeyProviderScope, KeyNonce, KeyState, KeyTokenTTL, KeyCACert, KeyIDTokenUserProperty)
	bad := func(key, msg string) { errs = append(errs, authn.ConfigError{Key: key, Msg: msg}) }
	a := &Authenticator{
		serviceID:    cfg.ServiceID,
		providerURI:  v[KeyProviderURI],
		clientID:     v[KeyClientID],
		clientSecret: v[KeyClientSecret],
		claimMapping: v[KeyClaimMapping],
		redirectURI:  v[KeyRedirectURI],
		responseType: v[KeyResponseType],
		userProperty: v[KeyIDTokenUserProperty],
		ttl:          DefaultTokenTTL,
	}
	if a.providerURI == "" {
		bad(KeyProviderURI, "required")
	} else if err := jwks.CheckURL(a.providerURI); err != nil {
		bad(KeyProviderURI, err.Error())
	}
	// client-id alone belongs to the id-token flow when that is configured:
	// it is the audience id tokens must name. The code flow's own keys, or a
	// client-id with no id-token flow, ask for the whole code flow.
	a.codeFlow = a.clientSecret != "" || a.claimMapping != "" || a.redirectURI != "" || (a.clientID != "" && a.userProperty == "")
	if !a.codeFlow && a.userProperty == "" {
		bad(KeyClaimMapping, "claim-mapping (code flow) or id-token-user-property (id-token flow) is required")
	}
	if a.codeFlow {
		for k, val := range map[string]string{KeyClientID: a.clientID, KeyClientSecret: a.clientSecret, KeyClaimMapping: a.claimMapping} {
			if val == "" {
				bad(k, "required for the authorization-code flow")
			}
		}
	}
	if a.redirectURI != "" {
		if u, err := url.Parse(a.redirectURI); err != nil || !u.IsAbs() {
			bad(KeyRedirectURI, fmt.Sprintf("not an absolute URL: %q", a.redirectURI))
		}
	}
	if a.responseType == "" {
		a.responseType = "code"
	}
	a.scope = scope(v[KeyProviderScope])
	if s := v[KeyTokenTTL]; s != "" {
		d, err := parseISODuration(s)
		if err != nil || d <= 0 {
			bad(KeyTokenTTL, fmt.Sprintf("not a positive ISO 8601 duration (like PT2H): %q", s))
		}
		a.ttl = d
	}
	client, err := jwks.HTTPClient(cfg.HTTPClient, v[KeyCACert])
	if err != nil {
		bad(KeyCACert, err.Error())
	}
	a.client = client
	a.keys = jwks.FromProvider(client, a.providerURI)
	a.disc = jwks.NewCache(func(ctx context.Context) (jwks.Discovery, error) { return jwks.Discover(ctx, a.client, a.providerURI) })
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return a, nil
}

// scope is Conjur's: "openid email profile" plus provider-scope, without repeats.
func scope(extra string) string {
	seen := map[string]bool{}
	var out []string
	for _, s := range append([]string{"openid", "email", "profile"}, strings.Fields(extra)...) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return strings.Join(out, " ")
}

// TokenTTL is token-ttl, PT60M unless configured.
func (a *Authenticator) TokenTTL() time.Duration { return a.ttl }

// discovery returns the provider metadata at now, cached for
// jwks.KeysTTL; a failed fetch is remembered for 10 s (jwks.Cache).
func (a *Authenticator) discovery(ctx context.Context, now time.Time) (jwks.Discovery, error) {
	d, err := a.disc.Get(ctx, now, func(jwks.Discovery) bool { return true })
	if err != nil {
		return d, fmt.Errorf("authn-oidc %s: %w", a.serviceID, err)
	}
	return d, nil
}

// Warnings says when the id-token flow checks no audience: without
// client-id it accepts an id token the provider issued to any of its
// clients (Conjur v1's behaviour, kept for compatibility).
func (a *Authenticator) Warnings() []string {
	if a.userProperty != "" && a.clientID == "" {
		return []string{"the id-token flow accepts id tokens issued to any client of " + a.providerURI +
			": set client-id to accept only tokens whose aud names this service's client"}
	}
	return nil
}

// Status reports whether the provider's discovery document is reachable.
func (a *Authenticator) Status(ctx context.Context) error {
	d, err := jwks.Discover(ctx, a.client, a.providerURI)
	if err != nil {
		return fmt.Errorf("authn-oidc %s: %w", a.serviceID, err)
	}
	if a.codeFlow && (d.AuthorizationEndpoint == "" || d.TokenEndpoint == "") {
		return fmt.Errorf("authn-oidc %s: provider publishes no authorization or token endpoint", a.serviceID)
	}
	return nil
}

// AuthorizationURL is the provider's authorization endpoint with Conjur's
// parameters in Conjur's order; state, which Conjur no longer sends, is
// added only when given.
func (a *Authenticator) AuthorizationURL(ctx context.Context, nonce, state, codeChallenge string) (string, error) {
	if !a.codeFlow {
		return "", fmt.Errorf("authn-oidc %s: the authorization-code flow is not configured", a.serviceID)
	}
	d, err := a.discovery(ctx, time.Now())
	if err != nil {
		return "", err
	}
	if d.AuthorizationEndpoint == "" {
		return "", fmt.Errorf("authn-oidc %s: provider publishes no authorization_endpoint", a.serviceID)
	}
	params := [][2]string{
		{"client_id", a.clientID}, {"response_type", a.responseType}, {"scope", a.scope},
	}
	if state != "" {
		params = append(params, [2]string{"state", state})
	}
	params = append(params, [2]string{"nonce", nonce}, [2]string{"code_challenge", codeChallenge},
		[2]string{"code_challenge_method", "S256"}, [2]string{"redirect_uri", a.redirectURI})
	var b strings.Builder
	b.WriteString(d.AuthorizationEndpoint)
	sep := "?"
	if strings.Contains(d.AuthorizationEndpoint, "?") {
		sep = "&"
	}
	for _, p := range params {
		b.WriteString(sep + p[0] + "=" + urlEncode(p[1]))
		sep = "&"
	}
	return b.String(), nil
}

// urlEncode escapes as Ruby's ERB::Util.url_encode: all but unreserved characters, space as %20.
func urlEncode(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }

// Verify runs the code flow when req.Code is set (with req.Nonce and
// req.CodeVerifier), else the id-token flow on req.Credential.
func (a *Authenticator) Verify(ctx context.Context, req authn.Request) (authn.Identity, authn.Outcome, error) {
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	if req.Code != "" {
		return a.verifyCode(ctx, req, now)
	}
	return a.verifyIDToken(ctx, req, now)
}

func (a *Authenticator) verifyIDToken(ctx context.Context, req authn.Request, now time.Time) (authn.Identity, authn.Outcome, error) {
	if a.userProperty == "" {
		return authn.Identity{Reason: "id-token flow not configured (no id-token-user-property)"}, authn.Bad, nil
	}
	raw := jwks.Credential(req.Credential, "id_token")
	if raw == "" {
		return authn.Identity{Reason: "no id token"}, authn.Bad, nil
	}
	d, err := a.discovery(ctx, now)
	if err != nil {
		return authn.Identity{}, authn.Bad, err
	}
	id, o, err := a.keys.Verify(ctx, raw, jwks.Rules{Issuer: d.Issuer, Audience: a.clientID, Now: now})
	if err != nil {
		return id, o, fmt.Errorf("authn-oidc %s: %w", a.serviceID, err)
	}
	if o != authn.OK {
		return id, o, nil
	}
	return a.user(id, a.userProperty)
}

func (a *Authenticator) user(id authn.Identity, claim string) (authn.Identity, authn.Outcome, error) {
	v, _ := jwks.ClaimAt(id.Claims, claim)
	s, _ := v.(string)
	switch {
	case s == "":
		id.Reason = fmt.Sprintf("claim %q missing, empty or not a string", claim)
		return id, authn.Bad, nil
	case s == "admin":
		id.Reason = "admin may not authenticate through OIDC"
		return id, authn.Bad, nil
	}
	id.Login = s
	return id, authn.OK, nil
}

func (a *Authenticator) verifyCode(ctx context.Context, req authn.Request, now time.Time) (authn.Identity, authn.Outcome, error) {
	if !a.codeFlow {
		return authn.Identity{Reason: "authorization-code flow not configured"}, authn.Bad, nil
	}
	if req.Nonce == "" {
		return authn.Identity{Reason: "missing nonce"}, authn.Invalid, nil
	}
	d, err := a.discovery(ctx, now)
	if err != nil {
		return authn.Identity{}, authn.Bad, err
	}
	raw, o, why, err := a.exchange(ctx, d, req)
	if err != nil || o != authn.OK {
		return authn.Identity{Reason: why}, o, err
	}
	id, o, err := a.keys.Verify(ctx, raw, jwks.Rules{Issuer: a.providerURI, Audience: a.clientID, Now: now})
	if err != nil {
		return id, o, fmt.Errorf("authn-oidc %s: %w", a.serviceID, err)
	}
	if o != authn.OK {
		return id, o, nil
	}
	if n, _ := id.Claims["nonce"].(string); n != req.Nonce {
		id.Reason = "nonce does not match the id token"
		return id, authn.Invalid, nil
	}
	return a.user(id, a.claimMapping)
}

// exchange trades the code for a token at the token endpoint with
// client_secret_basic, as Conjur does. A provider refusal (4xx) is an
// outcome (Invalid: the request's code or verifier is refused); an
// unreachable or failing provider an error.
func (a *Authenticator) exchange(ctx context.Context, d jwks.Discovery, req authn.Request) (string, authn.Outcome, string, error) {
	if d.TokenEndpoint == "" {
		return "", authn.Bad, "", fmt.Errorf("authn-oidc %s: provider publishes no token_endpoint", a.serviceID)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "scope": {a.scope}, "code": {req.Code}, "nonce": {req.Nonce}}
	if req.CodeVerifier != "" {
		form.Set("code_verifier", req.CodeVerifier)
	}
	if a.redirectURI != "" {
		form.Set("redirect_uri", a.redirectURI)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, d.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", authn.Bad, "", fmt.Errorf("authn-oidc %s: build token request: %w", a.serviceID, err)
	}
	hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hr.Header.Set("Accept", "application/json")
	hr.SetBasicAuth(a.clientID, a.clientSecret)
	resp, err := a.client.Do(hr)
	if err != nil {
		return "", authn.Bad, "", fmt.Errorf("authn-oidc %s: token endpoint: %w", a.serviceID, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, jwks.MaxBody))
	if err != nil {
		return "", authn.Bad, "", fmt.Errorf("authn-oidc %s: read token response: %w", a.serviceID, err)
	}
	if resp.StatusCode >= 500 {
		return "", authn.Bad, "", fmt.Errorf("authn-oidc %s: token endpoint status %d", a.serviceID, resp.StatusCode)
	}
	if resp.StatusCode == http.StatusBadRequest {
		// invalid_grant and its kin: the code or its verifier.
		return "", authn.Invalid, "token endpoint refused the code or its verifier (status 400)", nil
	}
	if resp.StatusCode != http.StatusOK {
		// invalid_client (401) and the like: this service's credentials.
		return "", authn.Bad, fmt.Sprintf("token endpoint refused the request (status %d)", resp.StatusCode), nil
	}
	var tok struct {
		IDToken     string `json:"id_token"`
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil {
		return "", authn.Bad, "", fmt.Errorf("authn-oidc %s: decode token response: %w", a.serviceID, err)
	}
	if tok.IDToken == "" {
		// Conjur falls back to the access token when no id token comes back.
		tok.IDToken = tok.AccessToken
	}
	if tok.IDToken == "" {
		return "", authn.Bad, "token endpoint returned no token", nil
	}
	return tok.IDToken, authn.OK, "", nil
}
