// Package jwt verifies JSON Web Tokens for Conjur's authn-jwt authenticator: keys, claims, host identity and host annotations.
package jwt

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/authn/jwks"
)

// Type is the authenticator type this package implements.
const Type = "authn-jwt"

// Configuration keys, named as Conjur's authn-jwt variables.
const (
	KeyJWKSURI          = "jwks-uri"
	KeyPublicKeys       = "public-keys"
	KeyProviderURI      = "provider-uri"
	KeyCACert           = "ca-cert"
	KeyIssuer           = "issuer"
	KeyAudience         = "audience"
	KeyTokenAppProperty = "token-app-property"
	KeyIdentityPath     = "identity-path"
	KeyEnforcedClaims   = "enforced-claims"
	KeyClaimAliases     = "claim-aliases"
)

// claimNameRE is Conjur's PURE_NESTED_CLAIM_NAME_REGEX ("|" is literal in
// Conjur's character classes, so it is kept).
var claimNameRE = regexp.MustCompile(`^[a-zA-Z|$_][a-zA-Z|$_\-0-9.]*(/[a-zA-Z|$_][a-zA-Z|$_\-0-9.]*)*$`)

// denyClaims may not be annotated, enforced or aliased (Conjur's CLAIMS_DENY_LIST).
var denyClaims = []string{"iss", "exp", "nbf", "iat", "jti", "aud"}

func denied(claim string) bool {
	for _, d := range denyClaims {
		if d == claim {
			return true
		}
	}
	return false
}

// Authenticator verifies JWTs for one authn-jwt service.
type Authenticator struct {
	serviceID        string
	keys             *jwks.KeySet
	issuer           string
	issuerIfPresent  bool // issuer derived from jwks-uri: checked only when the token has iss
	audience         string
	tokenAppProperty string
	identityPath     string
	enforced         []string
	aliases          map[string]string // annotation name -> claim name
}

var (
	_ authn.Authenticator     = (*Authenticator)(nil)
	_ authn.AnnotationChecker = (*Authenticator)(nil)
	_ authn.StatusChecker     = (*Authenticator)(nil)
)

// New builds an authn-jwt authenticator, reporting every bad value at once.
func New(cfg authn.Config) (authn.Authenticator, error) {
	v := cfg.Values
	errs := authn.UnknownKeys(v, KeyJWKSURI, KeyPublicKeys, KeyProviderURI, KeyCACert, KeyIssuer, KeyAudience,
		KeyTokenAppProperty, KeyIdentityPath, KeyEnforcedClaims, KeyClaimAliases)
	bad := func(key, msg string) { errs = append(errs, authn.ConfigError{Key: key, Msg: msg}) }

	a := &Authenticator{
		serviceID:        cfg.ServiceID,
		issuer:           v[KeyIssuer],
		audience:         v[KeyAudience],
		tokenAppProperty: v[KeyTokenAppProperty],
		identityPath:     strings.Trim(v[KeyIdentityPath], "/"),
	}
	sources := 0
	for _, k := range []string{KeyJWKSURI, KeyPublicKeys, KeyProviderURI} {
		if v[k] != "" {
			sources++
		}
	}
	if sources != 1 {
		bad(KeyJWKSURI, "exactly one of jwks-uri, public-keys and provider-uri must be set")
	}
	for _, k := range []string{KeyJWKSURI, KeyProviderURI} {
		if v[k] != "" {
			if err := jwks.CheckURL(v[k]); err != nil {
				bad(k, err.Error())
			}
		}
	}
	var static *jose.JSONWebKeySet
	if pk := v[KeyPublicKeys]; pk != "" {
		set, err := parsePublicKeys(pk)
		if err != nil {
			bad(KeyPublicKeys, err.Error())
		}
		static = set
		if a.issuer == "" {
			bad(KeyIssuer, "required when public-keys is set")
		}
		if v[KeyCACert] != "" {
			bad(KeyCACert, "not allowed with public-keys")
		}
	}
	client, err := jwks.HTTPClient(cfg.HTTPClient, v[KeyCACert])
	if err != nil {
		bad(KeyCACert, err.Error())
	}
	switch {
	case static != nil:
		a.keys = jwks.Static(static)
	case v[KeyJWKSURI] != "":
		a.keys = jwks.FromURI(client, v[KeyJWKSURI])
	default:
		a.keys = jwks.FromProvider(client, v[KeyProviderURI])
	}
	switch {
	case a.issuer != "":
		// Configured: every token must carry exactly this iss.
	case v[KeyProviderURI] != "":
		// Conjur takes provider-uri as the issuer when none is configured.
		a.issuer = v[KeyProviderURI]
	case v[KeyJWKSURI] != "":
		// Else the host name of jwks-uri (Conjur's FetchIssuerValue), and
		// like Conjur, which validates iss only when the token has one,
		// a token without iss passes. A configured issuer or provider-uri
		// keeps requiring iss: stricter than Conjur, and kept.
		if u, err := url.Parse(v[KeyJWKSURI]); err == nil && jwks.CheckURL(v[KeyJWKSURI]) == nil {
			a.issuer, a.issuerIfPresent = u.Hostname(), true
			if a.issuer == "" {
				bad(KeyJWKSURI, "no host name to derive the issuer from; set issuer")
			}
		}
	}
	if p := a.tokenAppProperty; p != "" && !claimNameRE.MatchString(p) {
		bad(KeyTokenAppProperty, "not a valid claim name or path")
	}
	if s := v[KeyEnforcedClaims]; s != "" {
		if a.enforced, err = parseEnforcedClaims(s); err != nil {
			bad(KeyEnforcedClaims, err.Error())
		}
	}
	if s := v[KeyClaimAliases]; s != "" {
		if a.aliases, err = parseClaimAliases(s); err != nil {
			bad(KeyClaimAliases, err.Error())
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return a, nil
}

// parsePublicKeys reads Conjur's {"type":"jwks","value":{"keys":[...]}}.
func parsePublicKeys(s string) (*jose.JSONWebKeySet, error) {
	var pk struct {
		Type  string          `json:"type"`
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal([]byte(s), &pk); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if pk.Type != "jwks" {
		return nil, fmt.Errorf("type must be \"jwks\", got %q", pk.Type)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(pk.Value, &set); err != nil {
		return nil, fmt.Errorf("value is not a JWKS: %w", err)
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("value holds no keys")
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			return nil, fmt.Errorf("key %q is not a public key", k.KeyID)
		}
	}
	return &set, nil
}

func validClaim(name string) error {
	if !claimNameRE.MatchString(name) {
		return fmt.Errorf("%q is not a valid claim name", name)
	}
	if denied(name) {
		return fmt.Errorf("claim %q may not be used (one of %s)", name, strings.Join(denyClaims, ", "))
	}
	return nil
}

func parseEnforcedClaims(s string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, c := range strings.Split(s, ",") {
		c = strings.TrimSpace(c)
		if c == "" {
			return nil, fmt.Errorf("empty claim in %q", s)
		}
		if err := validClaim(c); err != nil {
			return nil, err
		}
		if seen[c] {
			return nil, fmt.Errorf("claim %q listed twice", c)
		}
		seen[c] = true
		out = append(out, c)
	}
	return out, nil
}

func parseClaimAliases(s string) (map[string]string, error) {
	out := map[string]string{}
	claims := map[string]bool{}
	for _, tuple := range strings.Split(s, ",") {
		parts := strings.Split(tuple, ":")
		if len(parts) != 2 {
			return nil, fmt.Errorf("%q is not annotation_name:claim_name", strings.TrimSpace(tuple))
		}
		ann, claim := strings.TrimSpace(parts[0]), strings.TrimSpace(parts[1])
		if strings.Contains(ann, "/") {
			return nil, fmt.Errorf("annotation name %q may not contain /", ann)
		}
		for _, n := range []string{ann, claim} {
			if err := validClaim(n); err != nil {
				return nil, err
			}
		}
		if _, dup := out[ann]; dup {
			return nil, fmt.Errorf("annotation name %q aliased twice", ann)
		}
		if claims[claim] {
			return nil, fmt.Errorf("claim name %q aliased twice", claim)
		}
		out[ann], claims[claim] = claim, true
	}
	return out, nil
}

// Verify checks the token in req.Credential (a bare JWT, or Conjur's
// "jwt=<token>" body) and names the host: from token-app-property when set,
// else req.Login.
func (a *Authenticator) Verify(ctx context.Context, req authn.Request) (authn.Identity, authn.Outcome, error) {
	id, o, err := a.keys.Verify(ctx, jwks.Credential(req.Credential, "jwt"), jwks.Rules{Issuer: a.issuer, IssuerIfPresent: a.issuerIfPresent,
		Audience: a.audience, Now: req.Now})
	if err != nil {
		return id, o, fmt.Errorf("authn-jwt %s: %w", a.serviceID, err)
	}
	if o != authn.OK {
		return id, o, nil
	}
	if a.tokenAppProperty == "" {
		if req.Login == "" {
			id.Reason = "no login in the route and no token-app-property configured"
			return id, authn.Bad, nil
		}
		id.Login = req.Login
		return id, authn.OK, nil
	}
	if req.Login != "" {
		id.Reason = "login given in the route while token-app-property is configured"
		return id, authn.Bad, nil
	}
	v, _ := jwks.ClaimAt(id.Claims, a.tokenAppProperty)
	s, ok := v.(string)
	if !ok || s == "" {
		id.Reason = fmt.Sprintf("token-app-property claim %q missing, empty or not a string", a.tokenAppProperty)
		return id, authn.Bad, nil
	}
	if !hostIDPart(s) {
		// path.Join would clean "../user/admin" out of the host namespace.
		id.Reason = fmt.Sprintf("token-app-property claim %q is not a host id: empty, '.' or '..' segment", s)
		return id, authn.Bad, nil
	}
	id.Login = path.Join("host", a.identityPath, s)
	return id, authn.OK, nil
}

// hostIDPart reports whether s can follow the identity path in a host id
// as it is: no empty, "." or ".." segment for path.Join to remove.
func hostIDPart(s string) bool {
	for seg := range strings.SplitSeq(s, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// Status reports whether the signing keys can be obtained and parsed.
func (a *Authenticator) Status(ctx context.Context) error {
	if _, err := a.keys.Fetch(ctx); err != nil {
		return fmt.Errorf("authn-jwt %s: %w", a.serviceID, err)
	}
	return nil
}
