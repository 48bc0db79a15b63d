package conjur

import (
	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
)

// What the route table documents beyond the handlers' own types, for the
// OpenAPI document (api.Route Request, Response, Query and Errors).

// conjurToken is a Conjur access token as JSON: a JWS in flattened form
// with padded standard base64 members (what conjur-api-go decodes).
type conjurToken struct {
	Protected string `json:"protected"`
	Payload   string `json:"payload"`
	Signature string `json:"signature"`
}

// tokenMedia is an authenticate answer: the token's JSON, or with
// Accept-Encoding: base64 the base64 of it as text.
var tokenMedia = api.Media{"application/json": conjurToken{}, "text/plain": ""}

// jwtForm and idTokenForm are the outside authenticators' form bodies.
type jwtForm struct {
	JWT string `json:"jwt"`
}

type idTokenForm struct {
	IDToken string `json:"id_token"`
}

// enableForm is PATCH /{authenticator}/…: enabled=true|false as a form,
// or {"enabled": …} as JSON.
type enableForm struct {
	Enabled string `json:"enabled"`
}

type enableJSON struct {
	Enabled bool `json:"enabled"`
}

var enableMedia = api.Media{"application/x-www-form-urlencoded": enableForm{}, "application/json": enableJSON{}}

// roleQuery names another role than the caller's: kind:id, or
// account:kind:id.
type roleQuery struct {
	Role string `query:"role" doc:"the role whose API key is meant (kind:id or account:kind:id); the caller's own when absent"`
}

// codeQuery is the OIDC authorization-code flow's query.
type codeQuery struct {
	Code         string `query:"code" required:"true" doc:"the authorization code"`
	Nonce        string `query:"nonce" required:"true" doc:"the nonce from GET /authn-oidc/{account}/providers"`
	CodeVerifier string `query:"code_verifier" doc:"the PKCE code verifier from the same listing"`
}

var (
	// authnErrors: authenticate routes refuse the credential (an empty
	// 401), a role the service does not allow (403), a missing or malformed
	// body (400), and throttle password logins (429).
	authnErrors = []core.Error{{Kind: core.Unauthenticated}, {Kind: core.Forbidden}, {Kind: core.RateLimited},
		{Kind: core.Invalid, Reason: core.ReasonBadRequest}, {Kind: core.NotFound}}
	// basicErrors: Basic logins are throttled like every password.
	basicErrors = []core.Error{{Kind: core.RateLimited}, {Kind: core.Invalid, Reason: core.ReasonBadRequest}}
	// statusErrors: a status check answers why the service is not ok.
	statusErrors = []core.Error{{Kind: core.NotFound}, {Kind: core.NotImplemented}}
	// identityErrors: a query Conjur knows but keyward does not answer
	// (graph, memberships…) is 501.
	identityErrors = []core.Error{{Kind: core.NotImplemented}, {Kind: core.Invalid, Reason: core.ReasonBadRequest}}
	// k8sErrors: authn-k8s is not available.
	k8sErrors = []core.Error{{Kind: core.NotImplemented}}
)

// Security documents the credentials each route takes: Conjur's token
// header or a bearer token, and Basic where the route names an account or
// exchanges login:password (or login:API key) for the API key.
func (s *Surface) Security(rt api.Route) []string {
	switch rt.Pattern {
	case "/authn/{account}/login", "/authn-ldap/{service_id}/{account}/login":
		return []string{api.SchemeBasic}
	}
	if rt.Public {
		return nil
	}
	if rt.Account != "" && rt.SelfService {
		return []string{api.SchemeConjur, api.SchemeBearer, api.SchemeBasic}
	}
	return []string{api.SchemeConjur, api.SchemeBearer}
}

// Describe says what the surface is, for the OpenAPI document's tag.
func (s *Surface) Describe() string {
	return "CyberArk Conjur's authentication API (authn and the authn-* authenticators), answering as Conjur does; conjur-api-go works unchanged."
}
