package psauth

import (
	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
)

// What the route table documents beyond the handlers' own types, for the
// OpenAPI document.

// tokenForm is the OAuth client-credentials form of Auth/connect/token.
type tokenForm struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	GrantType    string `json:"grant_type"`
}

// signinErrors: a sign-in refuses the credential (401) or the principal or
// source (403), a malformed request (400), and throttles (429).
var signinErrors = []core.Error{{Kind: core.Unauthenticated}, {Kind: core.Forbidden}, {Kind: core.RateLimited},
	{Kind: core.Invalid, Reason: core.ReasonBadRequest}}

// Security documents the credentials each route takes: SignAppin a PS-Auth
// header or an OAuth bearer token, the rest the session cookie it sets.
func (s *Surface) Security(rt api.Route) []string {
	switch rt.Pattern {
	case Base + "Auth/SignAppin":
		return []string{api.SchemePSAuth, api.SchemeBearer}
	case Base + "Auth/connect/token", Base + "Auth/Signout":
		return nil
	}
	return []string{api.SchemePSSession}
}

// Describe says what the surface is, for the OpenAPI document's tag.
func (s *Surface) Describe() string {
	return "BeyondTrust Password Safe's PS-Auth sign-in (PS-Auth header, PSRUN signatures, OAuth client credentials) and its session cookie."
}
