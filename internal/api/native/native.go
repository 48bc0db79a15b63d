// Package native is keyward's own JSON API surface under /api/v1: tokens, users, roles, API keys, authenticators and audit.
package native

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

// coreAPI is the slice of the core this surface calls.
type coreAPI interface {
	api.Authorizer
	VerifyToken(ctx context.Context, caller core.Caller, token string) (core.Session, error)
	AuthenticateKey(ctx context.Context, caller core.Caller, req core.LoginRequest, key string) (core.Session, error)
	AuthenticatePassword(ctx context.Context, caller core.Caller, req core.LoginRequest, password string, acceptKey bool) (core.Session, model.Principal, error)
	IssueToken(s core.Session, ttl time.Duration, format core.TokenFormat) (core.Token, error)
	Introspect(ctx context.Context, caller core.Caller, token string) core.Introspection
	VerifyKey(ctx context.Context, caller core.Caller, key string) (core.KeyCheck, []string, error)
	CreatePrincipal(ctx context.Context, s core.Session, caller core.Caller, spec core.PrincipalSpec) (model.Principal, string, error)
	GetPrincipal(ctx context.Context, s core.Session, caller core.Caller, id string) (model.Principal, error)
	ListPrincipals(ctx context.Context, s core.Session, caller core.Caller, page store.Page) ([]model.Principal, int, error)
	UpdatePrincipal(ctx context.Context, s core.Session, caller core.Caller, id string, patch core.PrincipalPatch) (model.Principal, error)
	DeletePrincipal(ctx context.Context, s core.Session, caller core.Caller, id string) error
	CreateRole(ctx context.Context, s core.Session, caller core.Caller, spec core.RoleSpec) (model.Role, error)
	GetRole(ctx context.Context, s core.Session, caller core.Caller, id string) (model.Role, error)
	ListRoles(ctx context.Context, s core.Session, caller core.Caller, page store.Page) ([]model.Role, int, error)
	ReplaceRole(ctx context.Context, s core.Session, caller core.Caller, id string, spec core.RoleSpec) (model.Role, error)
	DeleteRole(ctx context.Context, s core.Session, caller core.Caller, id string) error
	SetGrants(ctx context.Context, s core.Session, caller core.Caller, principalID string, specs []core.GrantSpec) ([]model.Grant, error)
	ListGrants(ctx context.Context, s core.Session, caller core.Caller, principalID string) ([]model.Grant, error)
	CreateAPIKey(ctx context.Context, s core.Session, caller core.Caller, principalID string, spec core.KeySpec) (model.APIKey, string, error)
	ListAPIKeys(ctx context.Context, s core.Session, caller core.Caller, principalID string) ([]model.APIKey, error)
	RevokeAPIKey(ctx context.Context, s core.Session, caller core.Caller, keyID string) error
	RotateAPIKey(ctx context.Context, s core.Session, caller core.Caller, keyID string, grace time.Duration) (model.APIKey, string, error)
	MayChangeKey(ctx context.Context, s core.Session, caller core.Caller, keyID string) error
	ListAudit(ctx context.Context, s core.Session, caller core.Caller, limit, offset int) ([]audit.Record, int, error)
	RotateSigningKey(ctx context.Context, s core.Session, caller core.Caller) error
	PutAuthenticator(ctx context.Context, s core.Session, caller core.Caller, typ, serviceID string, spec core.AuthenticatorSpec) (core.AuthenticatorView, error)
	GetAuthenticator(ctx context.Context, s core.Session, caller core.Caller, typ, serviceID string) (core.AuthenticatorView, error)
	ListAuthenticators(ctx context.Context, s core.Session, caller core.Caller) ([]core.AuthenticatorView, error)
	DeleteAuthenticator(ctx context.Context, s core.Session, caller core.Caller, typ, serviceID string) error
	Permissions(ctx context.Context, s core.Session, caller core.Caller) ([]string, error)
}

// Surface is the native API.
type Surface struct {
	core           coreAPI
	log            *slog.Logger
	defaultAccount string
	writeErr       func(http.ResponseWriter, *http.Request, error)
}

// New builds the native surface; defaultAccount is used when a token
// request names none.
func New(c coreAPI, log *slog.Logger, defaultAccount string) *Surface {
	return &Surface{core: c, log: log, defaultAccount: defaultAccount, writeErr: writeError(log)}
}

// WriteError renders an error in the native format.
func (s *Surface) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	s.writeErr(w, r, err)
}

// AccountOf names the account of a request before authentication: the
// native API's routes carry none, so it is the default account.
func (s *Surface) AccountOf(*http.Request) string { return s.defaultAccount }

// Authenticate accepts an access token (Bearer or Conjur's Token token=) or,
// for scripts and the CLI, an API key as the bearer value.
func (s *Surface) Authenticate(r *http.Request, caller core.Caller) (core.Session, bool, error) {
	tok, ok, err := api.AccessToken(r)
	if !ok {
		return core.Session{}, false, nil
	}
	if err != nil {
		s.core.RecordAuthnFailure(r.Context(), caller, s.defaultAccount, "", "authn", "", "malformed_credentials")
		return core.Session{}, true, &core.Error{Kind: core.Unauthenticated, Reason: "malformed_credentials"}
	}
	if len(tok) > 3 && tok[:3] == "kw_" {
		sess, err := s.core.AuthenticateKey(r.Context(), caller, core.LoginRequest{Event: "authn", Authenticator: "authn"}, tok)
		return sess, true, err
	}
	sess, err := s.core.VerifyToken(r.Context(), caller, tok)
	if err != nil {
		s.core.RecordAuthnFailure(r.Context(), caller, s.defaultAccount, "", "authn", "", core.AsError(err).Reason)
	}
	return sess, true, err
}

// Routes is the native route table.
func (s *Surface) Routes() []api.Route {
	return []api.Route{
		{Method: "POST", Pattern: "/api/v1/token", Public: true, Summary: "Exchange an API key or password for an access token", Request: tokenRequest{}, Handler: s.token},
		{Method: "POST", Pattern: "/api/v1/token/introspect", Public: true, Summary: "RFC 7662 token introspection (form token=…)", Handler: s.introspect},
		{Method: "POST", Pattern: "/api/v1/api-keys/verify", Public: true, Summary: "Verify an API key (resource servers' hot path)", Request: verifyRequest{}, Handler: s.verify},
		{Method: "POST", Pattern: "/api/v1/users", Permission: core.PermUsersManage, Summary: "Create a user or host", Request: userCreate{}, Status: 201, Handler: s.createUser},
		{Method: "GET", Pattern: "/api/v1/users", Permission: core.PermUsersView, Summary: "List users and hosts", Handler: s.listUsers},
		{Method: "GET", Pattern: "/api/v1/users/{id}", Permission: core.PermUsersView, Self: "id", Summary: "Show a user", Handler: s.getUser},
		{Method: "PATCH", Pattern: "/api/v1/users/{id}", Permission: core.PermUsersManage, Summary: "Update a user", Request: userPatch{}, Handler: s.patchUser},
		{Method: "DELETE", Pattern: "/api/v1/users/{id}", Permission: core.PermUsersManage, Summary: "Delete a user with its keys and grants", Status: 204, Handler: s.deleteUser},
		{Method: "PUT", Pattern: "/api/v1/users/{id}/roles", Permission: core.PermUsersManage, Summary: "Set a user's explicit role grants", Request: grantsRequest{}, Handler: s.setGrants},
		{Method: "GET", Pattern: "/api/v1/users/{id}/roles", Permission: core.PermUsersView, Self: "id", Summary: "List a user's role grants", Handler: s.listGrants},
		{Method: "POST", Pattern: "/api/v1/users/{id}/api-keys", Permission: core.PermAPIKeysManage, Self: "id", Summary: "Create an API key", Request: keyCreate{}, Status: 201, Handler: s.createKey},
		{Method: "GET", Pattern: "/api/v1/users/{id}/api-keys", Permission: core.PermAPIKeysManage, Self: "id", Summary: "List a user's API keys (no secrets)", Handler: s.listKeys},
		{Method: "DELETE", Pattern: "/api/v1/api-keys/{id}", Permission: core.PermAPIKeysManage, SelfService: true, Summary: "Revoke an API key", Status: 204, Handler: s.revokeKey},
		{Method: "POST", Pattern: "/api/v1/api-keys/{id}/rotate", Permission: core.PermAPIKeysManage, SelfService: true, Summary: "Rotate an API key", Request: rotateRequest{}, Handler: s.rotateKey},
		{Method: "POST", Pattern: "/api/v1/roles", Permission: core.PermRolesManage, Summary: "Create a role", Request: roleBody{}, Status: 201, Handler: s.createRole},
		{Method: "GET", Pattern: "/api/v1/roles", Permission: core.PermRolesView, Summary: "List roles", Handler: s.listRoles},
		{Method: "GET", Pattern: "/api/v1/roles/{id}", Permission: core.PermRolesView, Summary: "Show a role", Handler: s.getRole},
		{Method: "PUT", Pattern: "/api/v1/roles/{id}", Permission: core.PermRolesManage, Summary: "Replace a role", Request: roleBody{}, Handler: s.putRole},
		{Method: "DELETE", Pattern: "/api/v1/roles/{id}", Permission: core.PermRolesManage, Summary: "Delete a role and its grants", Status: 204, Handler: s.deleteRole},
		{Method: "GET", Pattern: "/api/v1/audit", Permission: core.PermAuditView, Summary: "List audit records, newest first", Handler: s.listAudit},
		{Method: "POST", Pattern: "/api/v1/signing-keys/rotate", Permission: core.PermSigningKeysManage, Summary: "Rotate the token signing key", Status: 204, Handler: s.rotateSigningKey},
		{Method: "GET", Pattern: "/api/v1/authenticators", Permission: core.PermAuthenticatorsManage, Summary: "List authenticator services", Handler: s.listAuthenticators},
		{Method: "PUT", Pattern: "/api/v1/authenticators/{type}", Permission: core.PermAuthenticatorsManage, Summary: "Define an authenticator without a service id", Request: authenticatorBody{}, Handler: s.putAuthenticator},
		{Method: "GET", Pattern: "/api/v1/authenticators/{type}", Permission: core.PermAuthenticatorsManage, Summary: "Show an authenticator without a service id", Handler: s.getAuthenticator},
		{Method: "DELETE", Pattern: "/api/v1/authenticators/{type}", Permission: core.PermAuthenticatorsManage, Summary: "Delete an authenticator without a service id", Status: 204, Handler: s.deleteAuthenticator},
		{Method: "PUT", Pattern: "/api/v1/authenticators/{type}/{service_id}", Permission: core.PermAuthenticatorsManage, Summary: "Define an authenticator service", Request: authenticatorBody{}, Handler: s.putAuthenticator},
		{Method: "GET", Pattern: "/api/v1/authenticators/{type}/{service_id}", Permission: core.PermAuthenticatorsManage, Summary: "Show an authenticator service", Handler: s.getAuthenticator},
		{Method: "DELETE", Pattern: "/api/v1/authenticators/{type}/{service_id}", Permission: core.PermAuthenticatorsManage, Summary: "Delete an authenticator service", Status: 204, Handler: s.deleteAuthenticator},
	}
}
