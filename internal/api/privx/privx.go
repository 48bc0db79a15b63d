// Package privx is a PrivX-compatible role-store surface under /role-store/api/v1 (users, roles, grants, MFA, authorized keys, sources) with PrivX's OAuth token route; github.com/SSHcom/privx-sdk-go/v2 works unchanged.
package privx

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/model"
)

// coreAPI is the slice of the core this surface calls, named by the core
// service each part belongs to.
type coreAPI interface {
	api.Core // the pipeline's: authentication and authorization
	IssueToken(s core.Session, format core.TokenFormat) (core.Token, error)
	principalsAPI
	mfaAPI
	sourcesAPI
}

// principalsAPI is the principals service: users, roles, grants, keys.
type principalsAPI interface {
	GetPrincipal(ctx context.Context, a *core.Access, id string) (model.Principal, error)
	GetUserDetail(ctx context.Context, a *core.Access, id string) (core.UserDetail, error)
	SearchUsers(ctx context.Context, a *core.Access, q core.UserQuery, pg core.UserPage) ([]model.Principal, int, error)
	SetSettings(ctx context.Context, a *core.Access, id string, settings json.RawMessage) (model.Principal, error)
	CreateRole(ctx context.Context, a *core.Access, spec core.RoleSpec) (model.Role, error)
	GetRole(ctx context.Context, a *core.Access, id string) (model.Role, error)
	ListRoles(ctx context.Context, a *core.Access, page core.Page) ([]model.Role, int, error)
	ReplaceRole(ctx context.Context, a *core.Access, id string, spec core.RoleSpec) (model.Role, error)
	DeleteRole(ctx context.Context, a *core.Access, id string) error
	RoleMembers(ctx context.Context, a *core.Access, id string, pg core.UserPage) ([]model.Principal, int, error)
	RoleMemberCounts(ctx context.Context, a *core.Access) (map[string]core.MemberCount, error)
	SetGrants(ctx context.Context, a *core.Access, principalID string, specs []core.GrantSpec) ([]model.Grant, error)
	CreateAuthorizedKey(ctx context.Context, a *core.Access, principalID string, spec core.AuthorizedKeySpec) (model.AuthorizedKey, error)
	ListAuthorizedKeys(ctx context.Context, a *core.Access, principalID string) ([]model.AuthorizedKey, error)
	GetAuthorizedKey(ctx context.Context, a *core.Access, principalID, keyID string) (model.AuthorizedKey, error)
	ReplaceAuthorizedKey(ctx context.Context, a *core.Access, principalID, keyID string, spec core.AuthorizedKeySpec) (model.AuthorizedKey, error)
	DeleteAuthorizedKey(ctx context.Context, a *core.Access, principalID, keyID string) error
}

// mfaAPI is the MFA service.
type mfaAPI interface {
	SetMFA(ctx context.Context, a *core.Access, action string, ids []string) error
	MFASeed(ctx context.Context, a *core.Access, p model.Principal) (core.MFAEnrollment, bool, error)
}

// Surface is the PrivX role-store.
type Surface struct {
	core           coreAPI
	log            *slog.Logger
	defaultAccount string
}

// New builds the PrivX surface; its tokens name their account, and
// refusals without one are recorded in defaultAccount.
func New(c coreAPI, log *slog.Logger, defaultAccount string) *Surface {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Surface{core: c, log: log, defaultAccount: defaultAccount}
}

// Name names the surface.
func (s *Surface) Name() string { return "privx" }

const (
	prefix     = "/role-store/api/v1/"
	oauthPath  = "/auth/api/v1/oauth/token"
	authPrefix = "/auth/api/v1/"
)

// Prefixes is what the PrivX surface owns.
func (s *Surface) Prefixes() []string { return []string{prefix, authPrefix} }

// Wrap adds nothing.
func (s *Surface) Wrap(next http.Handler) http.Handler { return next }

// Extract takes a bearer access token (from the native token route or the
// OAuth route).
func (s *Surface) Extract(r *http.Request) (core.Credential, bool, error) {
	cred := core.Credential{Account: s.defaultAccount}
	tok, ok, err := api.AccessToken(r)
	if !ok || err != nil {
		return cred, ok, err
	}
	return core.Credential{Kind: core.CredToken, Account: s.defaultAccount, Secret: tok}, true, nil
}

// Routes is the PrivX route table. Routes under users/current act on the
// caller only and need nothing but a token (SelfService); the others name
// their permission, checked before the body or the id is read.
func (s *Surface) Routes() []api.Route {
	const p = "/role-store/api/v1/"
	view, manage := core.PermUsersView, core.PermUsersManage
	rs := []api.Route{
		{Method: "POST", Pattern: oauthPath, Public: true, Summary: "OAuth2 password grant: username the API key id, password the API key", Handler: s.oauthToken},

		{Method: "GET", Pattern: p + "users/current", SelfService: true, Summary: "The caller's user object with its settings", Handler: s.currentUser},
		{Method: "GET", Pattern: p + "users/current/settings", SelfService: true, Summary: "The caller's settings", Handler: s.getSettings},
		{Method: "PUT", Pattern: p + "users/current/settings", SelfService: true, Summary: "Store the caller's settings", Handler: s.putSettings},
		{Method: "GET", Pattern: p + "users/current/awsroles", SelfService: true, Summary: "The caller's AWS roles in effect", Handler: s.awsRoles},
		{Method: "GET", Pattern: p + "users/current/authorizedkeys", SelfService: true, Summary: "The caller's authorized keys", Handler: s.listKeys},
		{Method: "POST", Pattern: p + "users/current/authorizedkeys", SelfService: true, Summary: "Add an authorized key of the caller", Status: 201, Handler: s.createKey},
		{Method: "GET", Pattern: p + "users/current/authorizedkeys/{key_id}", SelfService: true, Summary: "One of the caller's authorized keys", Handler: s.getKey},
		{Method: "PUT", Pattern: p + "users/current/authorizedkeys/{key_id}", SelfService: true, Summary: "Replace one of the caller's authorized keys", Handler: s.putKey},
		{Method: "DELETE", Pattern: p + "users/current/authorizedkeys/{key_id}", SelfService: true, Summary: "Delete one of the caller's authorized keys", Handler: s.deleteKey},

		{Method: "POST", Pattern: p + "users/search", Permission: view, Summary: "Search users by keywords, ids and source", Handler: s.searchUsers},
		{Method: "POST", Pattern: p + "users/search/external", Permission: view, Summary: "Search enabled LDAP sources", Handler: s.searchExternal},
		{Method: "POST", Pattern: p + "users/mfa/enable", Permission: manage, Summary: "Start MFA enrolment of users without MFA", Handler: s.mfa(core.MFAActionEnable)},
		{Method: "POST", Pattern: p + "users/mfa/disable", Permission: manage, Summary: "Turn MFA off", Handler: s.mfa(core.MFAActionDisable)},
		{Method: "POST", Pattern: p + "users/mfa/reset", Permission: manage, Summary: "Restart MFA enrolment with a new seed", Handler: s.mfa(core.MFAActionReset)},
		{Method: "GET", Pattern: p + "users/{id}", Permission: view, Self: "id", Summary: "A user with every grant", Handler: s.getUser},
		{Method: "GET", Pattern: p + "users/{id}/settings", Permission: view, Self: "id", Summary: "A user's settings", Handler: s.getSettings},
		{Method: "PUT", Pattern: p + "users/{id}/settings", Permission: manage, Summary: "Store a user's settings", Handler: s.putSettings},
		{Method: "GET", Pattern: p + "users/{id}/roles", Permission: view, Self: "id", Summary: "A user's grants", Handler: s.userRoles},
		{Method: "PUT", Pattern: p + "users/{id}/roles", Permission: manage, Summary: "Set a user's explicit grants", Handler: s.putUserRoles},
		{Method: "GET", Pattern: p + "users/{id}/resolve", Permission: view, Self: "id", Summary: "A user with the grants in effect now", Handler: s.resolveUser},
		{Method: "GET", Pattern: p + "users/{id}/authorizedkeys", Permission: view, Self: "id", Summary: "A user's authorized keys", Handler: s.listKeys},
		{Method: "POST", Pattern: p + "users/{id}/authorizedkeys", Permission: manage, Summary: "Add an authorized key", Status: 201, Handler: s.createKey},
		{Method: "GET", Pattern: p + "users/{id}/authorizedkeys/{key_id}", Permission: view, Self: "id", Summary: "One authorized key", Handler: s.getKey},
		{Method: "PUT", Pattern: p + "users/{id}/authorizedkeys/{key_id}", Permission: manage, Summary: "Replace an authorized key", Handler: s.putKey},
		{Method: "DELETE", Pattern: p + "users/{id}/authorizedkeys/{key_id}", Permission: manage, Summary: "Delete an authorized key", Handler: s.deleteKey},

		{Method: "GET", Pattern: p + "sources", Permission: core.PermAuthenticatorsManage, Summary: "List sources (local first)", Handler: s.listSources},
		{Method: "POST", Pattern: p + "sources", Permission: core.PermAuthenticatorsManage, Summary: "Create an LDAP or OIDC source", Status: 201, Handler: s.createSource},
		{Method: "GET", Pattern: p + "sources/{id}", Permission: core.PermAuthenticatorsManage, Summary: "A source", Handler: s.getSource},
		{Method: "PUT", Pattern: p + "sources/{id}", Permission: core.PermAuthenticatorsManage, Summary: "Replace a source", Handler: s.putSource},
		{Method: "DELETE", Pattern: p + "sources/{id}", Permission: core.PermAuthenticatorsManage, Summary: "Delete a source", Handler: s.deleteSource},

		{Method: "GET", Pattern: p + "roles", Permission: core.PermRolesView, Summary: "List roles", Handler: s.listRoles},
		{Method: "POST", Pattern: p + "roles", Permission: core.PermRolesManage, Summary: "Create a role", Status: 201, Handler: s.createRole},
		{Method: "GET", Pattern: p + "roles/{id}", Permission: core.PermRolesView, Summary: "A role", Handler: s.getRole},
		{Method: "PUT", Pattern: p + "roles/{id}", Permission: core.PermRolesManage, Summary: "Replace a role", Handler: s.putRole},
		{Method: "DELETE", Pattern: p + "roles/{id}", Permission: core.PermRolesManage, Summary: "Delete a role and its grants", Handler: s.deleteRole},
		{Method: "GET", Pattern: p + "roles/{id}/members", Permission: core.PermRolesView, Summary: "Users holding a role", Handler: s.roleMembers},
	}
	for i := range rs {
		document(&rs[i])
		rs[i].Handler = usersOnly(rs[i].Handler)
	}
	return rs
}

// usersOnly runs h with an access limited to users: PrivX knows no hosts,
// so the core answers a host's id as a missing one before acting on it.
func usersOnly(h func(http.ResponseWriter, *http.Request, *api.Ctx) error) func(http.ResponseWriter, *http.Request, *api.Ctx) error {
	return func(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
		if rc.Access != nil {
			rc.Access.UsersOnly()
		}
		return h(w, r, rc)
	}
}

// userID is the route's user: the caller on users/current routes.
func userID(r *http.Request, rc *api.Ctx) string {
	if strings.HasPrefix(r.URL.Path, prefix+"users/current") {
		return rc.Session().PrincipalID
	}
	return r.PathValue("id")
}

// empty answers 200 with an empty body.
func empty(w http.ResponseWriter) {
	w.Header()["Cache-Control"] = []string{"no-store"}
	w.WriteHeader(http.StatusOK)
}
