// Package conjur is keyward's CyberArk Conjur authentication surface: Conjur's authn routes, every authenticator's routes, and Conjur's status codes and bodies, so Conjur clients work unchanged.
package conjur

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/model"
)

// coreAPI is the slice of the core this surface calls, named by the core
// service each part belongs to.
type coreAPI interface {
	api.Core                                                                    // the pipeline's: authentication and authorization
	Outranks(ctx context.Context, a *core.Access, target model.Principal) error // authorization, for Conjur's credentials rules
	CustomerSees(a *core.Access, p model.Principal) bool                        // a customer-limited key sees p (Conjur credentials rules)
	Whoami(ctx context.Context, a *core.Access) error                           // authentication
	IssueToken(s core.Session, format core.TokenFormat) (core.Token, error)     // tokens
	principalsAPI
	keysAPI
	authenticatorsAPI
	Version() string
}

// principalsAPI is the principals service: lookups and password change.
type principalsAPI interface {
	GetPrincipal(ctx context.Context, a *core.Access, id string) (model.Principal, error)
	FindPrincipalOfKind(ctx context.Context, account string, kind model.Kind, login string) (model.Principal, error)
	RoleExists(ctx context.Context, account, name string) (bool, error)
	ChangePassword(ctx context.Context, a *core.Access, password string) error
	ReadIdentity(ctx context.Context, a *core.Access, account, kind, name string) (core.Identity, error)
}

// keysAPI is the key service: a principal's Conjur API key.
type keysAPI interface {
	ConjurKey(ctx context.Context, caller core.Caller, s core.Session) (string, error)
	RotateConjurKey(ctx context.Context, a *core.Access, target model.Principal) (string, error)
	ConjurKeyRotatedAt(ctx context.Context, p model.Principal) (time.Time, error)
}

// authenticatorsAPI is the authenticator service.
type authenticatorsAPI interface {
	AuthenticatorStatus(ctx context.Context, a *core.Access, account, typ, serviceID string) error
	SetAuthenticatorEnabled(ctx context.Context, a *core.Access, typ, serviceID string, enabled bool) error
	AuthenticatorLists(ctx context.Context, account string) (configured, enabled []string, err error)
	OIDCProviders(ctx context.Context, account string) ([]core.OIDCProvider, error)
}

// Surface is the Conjur API.
type Surface struct {
	core           coreAPI
	log            *slog.Logger
	defaultAccount string
}

// New builds the Conjur surface; defaultAccount is the account whose
// authenticators the public GET /authenticators lists.
func New(c coreAPI, log *slog.Logger, defaultAccount string) *Surface {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Surface{core: c, log: log, defaultAccount: defaultAccount}
}

// Name names the surface.
func (s *Surface) Name() string { return "conjur" }

// Prefixes is what the Conjur API owns: an unknown route under one of its
// authenticators' paths answers in Conjur's format, and so does every path
// no other surface owns (the root: Conjur's API starts at /, and its
// clients must never meet a plain-text 404; see Unknown).
func (s *Surface) Prefixes() []string {
	ps := []string{"/"}
	for _, typ := range authenticators() {
		ps = append(ps, "/"+typ+"/")
	}
	return ps
}

// Wrap adds nothing: the Conjur API needs no middleware of its own.
func (s *Surface) Wrap(next http.Handler) http.Handler { return next }

// Extract takes Conjur's `Token token="<base64>"` (or a Bearer token) on
// every route, and HTTP Basic (login and password or API key of the route's
// account) where the route names an account, as Conjur's credentials
// routes do. A token proves core.LevelToken here.
func (s *Surface) Extract(r *http.Request) (core.Credential, bool, error) {
	account := r.PathValue("account")
	cred := core.Credential{Account: account, Conjur: true}
	h := r.Header.Get("Authorization")
	if h == "" {
		return cred, false, nil
	}
	if len(h) >= 6 && strings.EqualFold(h[:6], "basic ") {
		login, secret, err := api.ParseBasic(h)
		if err != nil || account == "" {
			return cred, true, errBasic
		}
		return core.Credential{Kind: core.CredPassword, Account: account, Login: roleLogin(login), Secret: secret,
			AcceptKey: true, Conjur: true}, true, nil
	}
	tok, ok, err := api.AccessToken(r)
	if !ok || err != nil {
		return cred, true, errBasic
	}
	return core.Credential{Kind: core.CredToken, Account: account, Secret: tok, Conjur: true}, true, nil
}

var errBasic = errors.New("malformed or unaccepted credentials")

// authenticators lists the authenticator types whose routes are mounted:
// keyward's, and authn-cert, which Conjur clients know but keyward does not
// install (its status answers AuthenticatorNotSupported). Go's ServeMux
// cannot match "authn-*", and a root wildcard would collide with other
// surfaces, so each name gets its own patterns.
func authenticators() []string {
	return append(core.InstalledAuthenticators(), "authn-cert")
}

// Routes is the Conjur route table.
func (s *Surface) Routes() []api.Route {
	rs := []api.Route{
		{Method: "GET", Pattern: "/{$}", Public: true, Summary: "Status page (HTML, or {\"version\"} for JSON)", Response: api.Media{"text/html": "", "application/json": rootBody{}}, Handler: s.root},
		{Method: "GET", Pattern: "/whoami", SelfService: true, Summary: "Who the access token belongs to", Response: whoamiBody{}, Handler: s.whoami},
		{Method: "GET", Pattern: "/roles/{account}/{kind}/{id...}", SelfService: true, Summary: "A user, host or group (keyward role) the caller may see; 404 otherwise", Response: roleBody{}, Errors: identityErrors, Handler: s.role},
		{Method: "GET", Pattern: "/resources/{account}/{kind}/{id...}", SelfService: true, Summary: "A user or host the caller may see, as a Conjur resource; 404 otherwise", Response: resourceBody{}, Errors: identityErrors, Handler: s.resource},
		// Without these, ServeMux would redirect /roles/{account}/{kind}
		// (307, HTML) to the empty id of the routes above, and any path
		// whose trailing-slash form matches them (%2F-encoded ones
		// included) to its decoded, cleaned form.
		{Method: "GET", Pattern: "/roles/{account}/{kind}", SelfService: true, Summary: "No role id (404, as Conjur)", Status: 404, Handler: s.noRoleID},
		{Method: "GET", Pattern: "/resources/{account}/{kind}", SelfService: true, Summary: "Conjur's resource list (not served: 501)", Status: 501, Errors: k8sErrors, Handler: s.unserved},
		{Method: "GET", Pattern: "/authenticators", Public: true, Summary: "Installed, configured and enabled authenticators", Response: authenticatorLists{}, Handler: s.listAuthenticators},
		{Method: "GET", Pattern: "/authn/{account}/login", Public: true, Summary: "Exchange Basic login:password for the API key", Response: api.Media{"text/plain": ""}, Errors: authnErrors, Handler: s.login},
		{Method: "POST", Pattern: "/authn/{account}/{login}/authenticate", Public: true, Summary: "Exchange an API key for an access token", Request: api.Media{"text/plain": ""}, Response: tokenMedia, Errors: authnErrors, Handler: s.authenticate},
		{Method: "PUT", Pattern: "/authn/{account}/password", SelfService: true, Account: "account", Summary: "Change one's password (Basic)", Status: 204, Request: api.Media{"text/plain": ""}, Errors: basicErrors, Handler: s.password},
		{Method: "PUT", Pattern: "/authn/{account}/api_key", SelfService: true, Account: "account", Permission: core.PermUsersManage, Summary: "Rotate an API key (own with Basic, another's with a token)", Query: roleQuery{}, Response: api.Media{"text/plain": ""}, Errors: basicErrors, Handler: s.rotateKey},
		{Method: "GET", Pattern: "/authn/{account}/api_key", SelfService: true, Account: "account", Permission: core.PermUsersManage, Summary: "When an API key was last rotated", Query: roleQuery{}, Response: rotation{}, Errors: basicErrors, Handler: s.keyRotation},
		{Method: "GET", Pattern: "/authn-oidc/{account}/providers", Public: true, Summary: "OIDC providers for the authorization-code flow", Response: []provider{}, Handler: s.providers},
		{Method: "GET", Pattern: "/authn-ldap/{service_id}/{account}/login", Public: true, Summary: "Exchange LDAP credentials (Basic) for the API key", Response: api.Media{"text/plain": ""}, Errors: authnErrors, Handler: s.ldapLogin},
		{Method: "POST", Pattern: "/authn-ldap/{service_id}/{account}/{login}/authenticate", Public: true, Summary: "Authenticate with an LDAP password", Request: api.Media{"text/plain": ""}, Response: tokenMedia, Errors: authnErrors, Handler: s.via("authn-ldap", bodyRaw)},
		{Method: "POST", Pattern: "/authn-jwt/{service_id}/{account}/authenticate", Public: true, Summary: "Authenticate with a JWT (form jwt=…)", Request: api.Media{"application/x-www-form-urlencoded": jwtForm{}}, Response: tokenMedia, Errors: authnErrors, Handler: s.via("authn-jwt", bodyForm("jwt"))},
		{Method: "POST", Pattern: "/authn-jwt/{service_id}/{account}/{login}/authenticate", Public: true, Summary: "Authenticate with a JWT for the login in the path", Request: api.Media{"application/x-www-form-urlencoded": jwtForm{}}, Response: tokenMedia, Errors: authnErrors, Handler: s.via("authn-jwt", bodyForm("jwt"))},
		{Method: "POST", Pattern: "/authn-oidc/{service_id}/{account}/authenticate", Public: true, Summary: "Authenticate with an OIDC id token (form id_token=…, or Bearer with an empty body)", Request: api.Media{"application/x-www-form-urlencoded": idTokenForm{}}, Response: tokenMedia, Errors: authnErrors, Handler: s.via("authn-oidc", idToken)},
		{Method: "POST", Pattern: "/authn-oidc/{account}/authenticate", Public: true, Summary: "authn-oidc without a service id (401, as Conjur)", Status: 401, Errors: authnErrors, Handler: s.oidcNoService},
		{Method: "GET", Pattern: "/authn-oidc/{service_id}/{account}/authenticate", Public: true, Summary: "Authenticate with an OIDC authorization code (code, nonce, code_verifier)", Query: codeQuery{}, Response: tokenMedia, Errors: authnErrors, Handler: s.oidcCode},
		{Method: "POST", Pattern: "/authn-gcp/{account}/authenticate", Public: true, Summary: "Authenticate with a Google identity token (form jwt=…)", Request: api.Media{"application/x-www-form-urlencoded": jwtForm{}}, Response: tokenMedia, Errors: authnErrors, Handler: s.via("authn-gcp", bodyForm("jwt"))},
		{Method: "POST", Pattern: "/authn-azure/{service_id}/{account}/{login}/authenticate", Public: true, Summary: "Authenticate with an Azure managed-identity token (form jwt=…)", Request: api.Media{"application/x-www-form-urlencoded": jwtForm{}}, Response: tokenMedia, Errors: authnErrors, Handler: s.via("authn-azure", bodyForm("jwt"))},
		{Method: "POST", Pattern: "/authn-iam/{service_id}/{account}/{login}/authenticate", Public: true, Summary: "Authenticate with a signed AWS STS GetCallerIdentity request", Request: api.Media{"text/plain": ""}, Response: tokenMedia, Errors: authnErrors, Handler: s.via("authn-iam", bodyRaw)},
		{Method: "POST", Pattern: "/authn-k8s/{service_id}/{account}/{login}/authenticate", Public: true, Summary: "authn-k8s (not available: 501)", Status: 501, Errors: k8sErrors, Handler: s.k8s},
		{Method: "POST", Pattern: "/authn-k8s/{service_id}/inject_client_cert", Public: true, Summary: "authn-k8s (not available: 501)", Status: 501, Errors: k8sErrors, Handler: s.k8s},
	}
	for _, typ := range authenticators() {
		if typ != "authn" {
			rs = append(rs,
				api.Route{Method: "PATCH", Pattern: "/" + typ + "/{account}", Permission: core.PermAuthenticatorsManage, Account: "account",
					Summary: "Enable or disable " + typ + " (no service id)", Status: 204, Request: enableMedia, Handler: s.enable(typ)},
				api.Route{Method: "PATCH", Pattern: "/" + typ + "/{service_id}/{account}", Permission: core.PermAuthenticatorsManage, Account: "account",
					Summary: "Enable or disable a " + typ + " service", Status: 204, Request: enableMedia, Handler: s.enable(typ)},
				api.Route{Method: "GET", Pattern: "/" + typ + "/{service_id}/{account}/status", SelfService: true,
					Summary: "Status of a " + typ + " service", Response: statusBody{}, Errors: statusErrors, Handler: s.status(typ)})
		}
		rs = append(rs, api.Route{Method: "GET", Pattern: "/" + typ + "/{account}/status", SelfService: true,
			Summary: "Status of " + typ + " (no service id)", Response: statusBody{}, Errors: statusErrors, Handler: s.status(typ)})
	}
	return rs
}

// roleLogin reads a login as Conjur does: host/… names a host, and anything
// else a user (user/alice or alice). A bare login never reaches a host here,
// unlike the native API where hosts log in with their bare login.
func roleLogin(login string) string {
	if strings.HasPrefix(login, "host/") || strings.HasPrefix(login, "user/") {
		return login
	}
	return "user/" + login
}
