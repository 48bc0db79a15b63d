// Package native is keyward's own JSON API surface under /api/v1: tokens, users, roles, API keys, authenticators and audit.
package native

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/model"
)

// coreAPI is the slice of the core this surface calls, named by the core
// service each part belongs to.
type coreAPI interface {
	api.Core // the pipeline's: authentication and authorization
	authAPI
	tokensAPI
	principalsAPI
	keysAPI
	authenticatorsAPI
	mfaAPI
	apiRegsAPI
	ListAuditFiltered(ctx context.Context, a *core.Access, f core.AuditFilter, limit, offset int) ([]core.AuditRecord, int, error) // audit
}

// authAPI is what the native API asks of the core's authentication service.
type authAPI interface {
	Authenticate(ctx context.Context, caller core.Caller, cred core.Credential) (core.Session, error)
	VerifyKey(ctx context.Context, caller core.Caller, key string, vouch core.Vouch) (core.KeyCheck, []string, error)
}

// tokensAPI is the token service: issue, introspect, rotate signing keys.
type tokensAPI interface {
	IssueToken(s core.Session, format core.TokenFormat) (core.Token, error)
	Introspect(ctx context.Context, caller core.Caller, token string) (core.Introspection, error)
	RotateSigningKey(ctx context.Context, a *core.Access) error
}

// principalsAPI is the principals service: users, hosts, roles and grants.
type principalsAPI interface {
	ChangePassword(ctx context.Context, a *core.Access, password string) error
	CreatePrincipal(ctx context.Context, a *core.Access, spec core.PrincipalSpec) (model.Principal, string, error)
	GetPrincipal(ctx context.Context, a *core.Access, id string) (model.Principal, error)
	ListPrincipals(ctx context.Context, a *core.Access, page core.Page) ([]model.Principal, int, error)
	UpdatePrincipal(ctx context.Context, a *core.Access, id string, patch core.PrincipalPatch) (model.Principal, error)
	DeletePrincipal(ctx context.Context, a *core.Access, id string) error
	CreateRole(ctx context.Context, a *core.Access, spec core.RoleSpec) (model.Role, error)
	GetRole(ctx context.Context, a *core.Access, id string) (model.Role, error)
	ListRoles(ctx context.Context, a *core.Access, page core.Page) ([]model.Role, int, error)
	ReplaceRole(ctx context.Context, a *core.Access, id string, spec core.RoleSpec) (model.Role, error)
	DeleteRole(ctx context.Context, a *core.Access, id string) error
	SetGrants(ctx context.Context, a *core.Access, principalID string, specs []core.GrantSpec) ([]model.Grant, error)
	ListGrants(ctx context.Context, a *core.Access, principalID string) ([]model.Grant, error)
}

// mfaAPI is the MFA service: TOTP enrolment and recovery codes.
type mfaAPI interface {
	EnrollMFA(ctx context.Context, a *core.Access, id string) (core.MFAEnrollment, error)
	VerifyMFA(ctx context.Context, a *core.Access, id, code string) ([]string, error)
	DisableMFA(ctx context.Context, a *core.Access, id string) error
	NewRecoveryCodes(ctx context.Context, a *core.Access, id string) ([]string, error)
}

// keysAPI is the key service: API keys.
type keysAPI interface {
	CreateAPIKey(ctx context.Context, a *core.Access, principalID string, spec core.KeySpec) (model.APIKey, string, error)
	ListAPIKeys(ctx context.Context, a *core.Access, principalID string) ([]model.APIKey, error)
	RevokeAPIKey(ctx context.Context, a *core.Access, keyID string) error
	RotateAPIKey(ctx context.Context, a *core.Access, keyID string, grace time.Duration) (model.APIKey, string, error)
	MayChangeKey(ctx context.Context, a *core.Access, keyID string) error
}

// authenticatorsAPI is the authenticator service: outside authenticators.
type authenticatorsAPI interface {
	PutAuthenticator(ctx context.Context, a *core.Access, typ, serviceID string, spec core.AuthenticatorSpec) (core.AuthenticatorView, error)
	GetAuthenticator(ctx context.Context, a *core.Access, typ, serviceID string) (core.AuthenticatorView, error)
	ListAuthenticators(ctx context.Context, a *core.Access) ([]core.AuthenticatorView, error)
	DeleteAuthenticator(ctx context.Context, a *core.Access, typ, serviceID string) error
}

// Surface is the native API.
type Surface struct {
	core           coreAPI
	log            *slog.Logger
	defaultAccount string
}

// New builds the native surface; defaultAccount is used when a token
// request names none.
func New(c coreAPI, log *slog.Logger, defaultAccount string) *Surface {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Surface{core: c, log: log, defaultAccount: defaultAccount}
}

// Name names the surface.
func (s *Surface) Name() string { return "native" }

// Prefixes is what the native API owns.
func (s *Surface) Prefixes() []string { return []string{"/api/v1/"} }

// Wrap adds nothing: the native API needs no middleware of its own.
func (s *Surface) Wrap(next http.Handler) http.Handler { return next }

// Extract takes an access token (Bearer or Conjur's Token token=) or, for
// scripts and the CLI, an API key as the bearer value. Its routes name no
// account, so refusals are recorded in the default account.
func (s *Surface) Extract(r *http.Request) (core.Credential, bool, error) {
	cred := core.Credential{Account: s.defaultAccount}
	tok, ok, err := api.AccessToken(r)
	if !ok || err != nil {
		return cred, ok, err
	}
	if len(tok) > 3 && tok[:3] == "kw_" {
		return core.Credential{Kind: core.CredAPIKey, Secret: tok}, true, nil
	}
	return core.Credential{Kind: core.CredToken, Account: s.defaultAccount, Secret: tok}, true, nil
}

// Documented errors beyond those a route's shape implies (api.Route.Errors).
var (
	// authnErrors: a token exchange refuses the credential (401), a principal
	// or source the core does not admit (403), or throttles (429).
	authnErrors = []core.Error{{Kind: core.Unauthenticated}, {Kind: core.Forbidden}, {Kind: core.RateLimited}}
	// mfaErrors: too many wrong codes lock the factor for a while.
	mfaErrors = []core.Error{{Kind: core.RateLimited}}
)

// pageQuery documents the query of the paged lists.
type pageQuery struct {
	Limit  int    `query:"limit" doc:"items per page"`
	Offset int    `query:"offset" doc:"items to skip"`
	Search string `query:"search" doc:"substring to match"`
}

// auditQuery documents the query of the audit listing.
type auditQuery struct {
	Limit    int    `query:"limit" doc:"records per page"`
	Offset   int    `query:"offset" doc:"records to skip"`
	Event    string `query:"event" doc:"only records of this event (exact)"`
	Outcome  string `query:"outcome" doc:"only records with this outcome (exact)"`
	Actor    string `query:"actor" doc:"only records of this actor role id (exact)"`
	KeyID    string `query:"key_id" doc:"only records naming this key id (exact)"`
	ClientIP string `query:"client_ip" doc:"only records from this client address (exact)"`
	Since    string `query:"since" doc:"RFC 3339 time, inclusive"`
	Until    string `query:"until" doc:"RFC 3339 time, exclusive"`
}

// introspectForm is the body of token introspection (RFC 7662).
type introspectForm struct {
	Token string `json:"token"`
}

// Routes is the native route table.
func (s *Surface) Routes() []api.Route {
	return append(s.baseRoutes(), s.apiRegRoutes()...)
}

func (s *Surface) baseRoutes() []api.Route {
	return []api.Route{
		{Method: "POST", Pattern: "/api/v1/token", Public: true, Summary: "Exchange an API key or password for an access token", Request: tokenRequest{}, Response: tokenResponse{}, Errors: authnErrors, Handler: s.token},
		{Method: "POST", Pattern: "/api/v1/token/introspect", Public: true, Summary: "RFC 7662 token introspection (form token=…)", Request: api.Media{"application/x-www-form-urlencoded": introspectForm{}}, Response: introspection{}, Handler: s.introspect},
		{Method: "POST", Pattern: "/api/v1/api-keys/verify", Public: true, OptionalAuth: true, Summary: "Verify an API key (resource servers' hot path)", Request: verifyRequest{}, Response: verifyResponse{}, Handler: s.verify},
		{Method: "POST", Pattern: "/api/v1/users", Permission: core.PermUsersManage, Summary: "Create a user or host", Request: userCreate{}, Status: 201, Response: CreatedUser{}, Handler: s.createUser},
		{Method: "GET", Pattern: "/api/v1/users", Permission: core.PermUsersView, Summary: "List users and hosts", Response: List[User]{}, Query: pageQuery{}, Handler: s.listUsers},
		{Method: "GET", Pattern: "/api/v1/users/{id}", Permission: core.PermUsersView, Self: "id", Summary: "Show a user", Response: User{}, Handler: s.getUser},
		{Method: "PUT", Pattern: "/api/v1/users/{id}/password", Permission: core.PermUsersManage, Self: "id", Summary: "Set a user's password; one's own needs no permission (not with a narrowed key)", Request: passwordChange{}, Status: 204, Handler: s.setPassword},
		{Method: "PATCH", Pattern: "/api/v1/users/{id}", Permission: core.PermUsersManage, Summary: "Update a user", Request: userPatch{}, Response: User{}, Handler: s.patchUser},
		{Method: "DELETE", Pattern: "/api/v1/users/{id}", Permission: core.PermUsersManage, Summary: "Delete a user with its keys and grants", Status: 204, Handler: s.deleteUser},
		{Method: "PUT", Pattern: "/api/v1/users/{id}/roles", Permission: core.PermUsersManage, Summary: "Set a user's explicit role grants", Request: grantsRequest{}, Response: grantsResponse{}, Handler: s.setGrants},
		{Method: "GET", Pattern: "/api/v1/users/{id}/roles", Permission: core.PermUsersView, Self: "id", Summary: "List a user's role grants", Response: grantsResponse{}, Handler: s.listGrants},
		{Method: "POST", Pattern: "/api/v1/users/{id}/mfa", Permission: core.PermUsersManage, Self: "id", Summary: "Start (or reset) TOTP enrolment: seed, otpauth URL and QR code, shown once; your own needs a password session", Status: 201, Response: MFAEnrollment{}, Handler: s.enrollMFA},
		{Method: "POST", Pattern: "/api/v1/users/{id}/mfa/verify", Permission: core.PermUsersManage, Self: "id", Summary: "Enable MFA with a code from the app; answers the first recovery codes, shown once", Request: MFAVerifyRequest{}, Response: MFAVerified{}, Errors: mfaErrors, Handler: s.verifyMFA},
		{Method: "DELETE", Pattern: "/api/v1/users/{id}/mfa", Permission: core.PermUsersManage, Self: "id", Summary: "Disable MFA and destroy the seed", Status: 204, Handler: s.disableMFA},
		{Method: "POST", Pattern: "/api/v1/users/{id}/mfa/recovery-codes", Permission: core.PermUsersManage, Self: "id", Summary: "Replace the recovery codes with a new set, shown once", Response: RecoveryCodes{}, Handler: s.recoveryCodes},
		{Method: "POST", Pattern: "/api/v1/users/{id}/api-keys", Permission: core.PermAPIKeysManage, Self: "id", Summary: "Create an API key", Request: keyCreate{}, Status: 201, Response: NewAPIKey{}, Handler: s.createKey},
		{Method: "GET", Pattern: "/api/v1/users/{id}/api-keys", Permission: core.PermAPIKeysManage, Self: "id", Summary: "List a user's API keys (no secrets)", Response: List[APIKey]{}, Handler: s.listKeys},
		{Method: "DELETE", Pattern: "/api/v1/api-keys/{id}", Permission: core.PermAPIKeysManage, SelfService: true, PreCheck: s.mayChangeKey, Summary: "Revoke an API key", Status: 204, Handler: s.revokeKey},
		{Method: "POST", Pattern: "/api/v1/api-keys/{id}/rotate", Permission: core.PermAPIKeysManage, SelfService: true, PreCheck: s.mayChangeKey, Summary: "Rotate an API key", Request: rotateRequest{}, Response: NewAPIKey{}, Handler: s.rotateKey},
		{Method: "POST", Pattern: "/api/v1/roles", Permission: core.PermRolesManage, Summary: "Create a role", Request: roleBody{}, Status: 201, Response: Role{}, Handler: s.createRole},
		{Method: "GET", Pattern: "/api/v1/roles", Permission: core.PermRolesView, Summary: "List roles", Response: List[Role]{}, Query: pageQuery{}, Handler: s.listRoles},
		{Method: "GET", Pattern: "/api/v1/roles/{id}", Permission: core.PermRolesView, Summary: "Show a role", Response: Role{}, Handler: s.getRole},
		{Method: "PUT", Pattern: "/api/v1/roles/{id}", Permission: core.PermRolesManage, Summary: "Replace a role", Request: roleBody{}, Response: Role{}, Handler: s.putRole},
		{Method: "DELETE", Pattern: "/api/v1/roles/{id}", Permission: core.PermRolesManage, Summary: "Delete a role and its grants", Status: 204, Handler: s.deleteRole},
		{Method: "GET", Pattern: "/api/v1/audit", Permission: core.PermAuditView, Summary: "List audit records, newest first; filters event, outcome, actor, key_id, client_ip (exact), since (inclusive), until (exclusive), RFC 3339", Response: List[AuditRecord]{}, Query: auditQuery{}, Handler: s.listAudit},
		{Method: "POST", Pattern: "/api/v1/signing-keys/rotate", Permission: core.PermSigningKeysManage, Summary: "Rotate the token signing key of the caller's account", Status: 204, Handler: s.rotateSigningKey},
		{Method: "GET", Pattern: "/api/v1/authenticators", Permission: core.PermAuthenticatorsManage, Summary: "List authenticator services", Response: List[Authenticator]{}, Handler: s.listAuthenticators},
		{Method: "PUT", Pattern: "/api/v1/authenticators/{type}", Permission: core.PermAuthenticatorsManage, Summary: "Define an authenticator without a service id", Request: authenticatorBody{}, Response: Authenticator{}, Handler: s.putAuthenticator},
		{Method: "GET", Pattern: "/api/v1/authenticators/{type}", Permission: core.PermAuthenticatorsManage, Summary: "Show an authenticator without a service id", Response: Authenticator{}, Handler: s.getAuthenticator},
		{Method: "DELETE", Pattern: "/api/v1/authenticators/{type}", Permission: core.PermAuthenticatorsManage, Summary: "Delete an authenticator without a service id", Status: 204, Handler: s.deleteAuthenticator},
		{Method: "PUT", Pattern: "/api/v1/authenticators/{type}/{service_id}", Permission: core.PermAuthenticatorsManage, Summary: "Define an authenticator service", Request: authenticatorBody{}, Response: Authenticator{}, Handler: s.putAuthenticator},
		{Method: "GET", Pattern: "/api/v1/authenticators/{type}/{service_id}", Permission: core.PermAuthenticatorsManage, Summary: "Show an authenticator service", Response: Authenticator{}, Handler: s.getAuthenticator},
		{Method: "DELETE", Pattern: "/api/v1/authenticators/{type}/{service_id}", Permission: core.PermAuthenticatorsManage, Summary: "Delete an authenticator service", Status: 204, Handler: s.deleteAuthenticator},
	}
}

// Security documents the credentials native routes take: an access token
// or an API key, both as the bearer credential.
func (s *Surface) Security(rt api.Route) []string {
	if rt.Public && !rt.OptionalAuth {
		return nil
	}
	return []string{api.SchemeBearer, api.SchemeAPIKey}
}

// Describe says what the surface is, for the OpenAPI document's tag.
func (s *Surface) Describe() string {
	return "keyward's own JSON API under /api/v1: tokens, API keys, users and hosts, roles and grants, MFA, audit, authenticators."
}
