package core

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/crypto"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/netpolicy"
	"github.com/keyward/keyward/internal/store"
)

// InstalledAuthenticators lists every authenticator type keyward knows, as
// Conjur's GET /authenticators does.
func InstalledAuthenticators() []string {
	return []string{"authn", "authn-azure", "authn-gcp", "authn-iam", "authn-jwt", "authn-k8s", "authn-ldap", "authn-oidc"}
}

// secretConfigKeys are sealed at rest and never returned.
func secretConfigKey(k string) bool { return k == "client-secret" || k == "bind-password" }

// destinationKeys are the settings that decide where a service sends its secrets.
func destinationKeys() []string {
	return []string{"host", "port", "uri", "connect_type", "tls-ca-cert", "provider-uri", "client-id", "ca-cert", "redirect-uri"}
}

// Masked stands in for a secret configuration value in answers; sent back
// unchanged in a PUT, it keeps the stored secret.
const Masked = "*****"

// noServiceID reports types configured without a service id.
func noServiceID(typ string) bool { return typ == "authn-gcp" }

// AuthenticatorSpec is an authenticator service's wanted state.
type AuthenticatorSpec struct {
	Enabled bool
	Config  map[string]string
	Allowed []string
}

// AuthenticatorView is an authenticator service as answers show it: secret
// values masked, with its configuration status.
type AuthenticatorView struct {
	Type      string
	ServiceID string
	Enabled   bool
	Config    map[string]string
	Allowed   []string
	Status    string // "ok" or the configuration error
	UpdatedAt time.Time
}

// authnCache keeps built authenticators, rebuilt when their service changes.
type authnCache struct {
	mu sync.Mutex
	m  map[string]cachedAuthn
}

type cachedAuthn struct {
	updated time.Time
	a       authn.Authenticator
}

func newAuthnCache() *authnCache { return &authnCache{m: map[string]cachedAuthn{}} }

func serviceName(typ, serviceID string) string {
	if serviceID == "" {
		return typ
	}
	return typ + "/" + serviceID
}

func (c *Core) checkType(typ, serviceID string) error {
	if !slices.Contains(InstalledAuthenticators(), typ) || typ == "authn" {
		return &Error{Kind: NotFound, Reason: "AuthenticatorNotSupported", Field: "type", Msg: "authenticator type " + typ + " is not supported"}
	}
	if typ == "authn-k8s" {
		return &Error{Kind: NotImplemented, Reason: "not_implemented", Field: "type", Msg: "authn-k8s is not available in keyward"}
	}
	if noServiceID(typ) && serviceID != "" {
		return invalid("service_id", "%s takes no service id", typ)
	}
	if !noServiceID(typ) && serviceID == "" {
		return invalid("service_id", "%s needs a service id", typ)
	}
	if len(serviceID) > 128 || strings.ContainsAny(serviceID, " \t\r\n") {
		return invalid("service_id", "service id must be at most 128 characters without spaces")
	}
	if _, ok := c.factory[typ]; !ok {
		return &Error{Kind: NotImplemented, Msg: "authenticator type " + typ + " is not available in this build"}
	}
	return nil
}

// build makes an authenticator from a stored service, opening its secrets.
func (c *Core) build(svc model.AuthenticatorService) (authn.Authenticator, error) {
	vals := maps.Clone(svc.Config)
	if vals == nil {
		vals = map[string]string{}
	}
	for k, sealed := range svc.Secrets {
		v, err := c.sealer.Open(sealed, []byte(secretAAD(svc, k)))
		if err != nil {
			return nil, &Error{Kind: Internal, Msg: "authenticator secret cannot be read", Err: err}
		}
		vals[k] = string(v)
	}
	return c.factory[svc.Type](authn.Config{Account: svc.Account, Type: svc.Type, ServiceID: svc.ServiceID, Values: vals})
}

func secretAAD(svc model.AuthenticatorService, key string) string {
	return "authn:" + svc.Account + ":" + serviceName(svc.Type, svc.ServiceID) + ":" + key
}

func (c *Core) authenticator(svc model.AuthenticatorService) (authn.Authenticator, error) {
	name := svc.Account + "|" + serviceName(svc.Type, svc.ServiceID)
	c.authns.mu.Lock()
	ca, ok := c.authns.m[name]
	c.authns.mu.Unlock()
	if ok && ca.updated.Equal(svc.UpdatedAt) {
		return ca.a, nil
	}
	a, err := c.build(svc)
	if err != nil {
		return nil, err
	}
	c.authns.mu.Lock()
	c.authns.m[name] = cachedAuthn{updated: svc.UpdatedAt, a: a}
	c.authns.mu.Unlock()
	return a, nil
}

func configError(err error) *Error {
	var ces authn.ConfigErrors
	if errors.As(err, &ces) && len(ces) > 0 {
		return &Error{Kind: Invalid, Field: "config." + ces[0].Key, Msg: ces.Error(), Err: err}
	}
	var ce authn.ConfigError
	if errors.As(err, &ce) {
		return &Error{Kind: Invalid, Field: "config." + ce.Key, Msg: ce.Error(), Err: err}
	}
	return &Error{Kind: Invalid, Field: "config", Msg: err.Error(), Err: err}
}

func validateAllowed(allowed []string) error {
	for _, a := range allowed {
		kind, name, ok := strings.Cut(a, ":")
		if !ok || name == "" || (kind != "user" && kind != "host" && kind != "role") {
			return invalid("allowed", "allowed entries are user:<login>, host:<login> or role:<role name>; got %q", a)
		}
	}
	return nil
}

// PutAuthenticator creates or replaces an authenticator service. The
// configuration is checked by building the authenticator; nothing is stored
// unless every value is good.
func (c *Core) PutAuthenticator(ctx context.Context, s Session, caller Caller, typ, serviceID string, spec AuthenticatorSpec) (AuthenticatorView, error) {
	if err := c.Authorize(ctx, s, caller, PermAuthenticatorsManage); err != nil {
		return AuthenticatorView{}, err
	}
	if err := c.checkType(typ, serviceID); err != nil {
		return AuthenticatorView{}, err
	}
	if err := validateAllowed(spec.Allowed); err != nil {
		return AuthenticatorView{}, err
	}
	svc := model.AuthenticatorService{Account: s.Account, Type: typ, ServiceID: serviceID, Enabled: spec.Enabled,
		Config: map[string]string{}, Secrets: map[string][]byte{}, Allowed: spec.Allowed, UpdatedAt: c.now().UTC()}
	old, oldErr := c.st.GetAuthenticator(ctx, s.Account, typ, serviceID)
	vals := map[string]string{}
	for k, v := range spec.Config {
		if secretConfigKey(k) && v == Masked {
			// The stored secret is reused only where it would go: if the
			// service now points elsewhere, the secret must be given again,
			// or whoever may configure authenticators could aim it at a
			// listener of their own and read it.
			if oldErr != nil {
				return AuthenticatorView{}, invalid("config."+k, "%s is masked but no secret is stored; give its value", k)
			}
			for _, dk := range destinationKeys() {
				if spec.Config[dk] != old.Config[dk] {
					return AuthenticatorView{}, invalid("config."+k, "%s must be given again when %s changes", k, dk)
				}
			}
		}
		if secretConfigKey(k) && v == Masked && oldErr == nil {
			if sealed, ok := old.Secrets[k]; ok {
				plain, err := c.sealer.Open(sealed, []byte(secretAAD(old, k)))
				if err != nil {
					return AuthenticatorView{}, &Error{Kind: Internal, Msg: "stored secret cannot be read", Err: err}
				}
				v = string(plain)
			}
		}
		vals[k] = v
	}
	a, err := c.factory[typ](authn.Config{Account: s.Account, Type: typ, ServiceID: serviceID, Values: vals})
	if err != nil {
		return AuthenticatorView{}, configError(err)
	}
	for k, v := range vals {
		if secretConfigKey(k) {
			svc.Secrets[k] = c.sealer.Seal([]byte(v), []byte(secretAAD(svc, k)))
		} else {
			svc.Config[k] = v
		}
	}
	ev := c.event(caller, s.Account, "authenticator.put")
	ev.Actor, ev.Subject, ev.Authenticator = s.RoleID(), s.Account+":webservice:conjur/"+serviceName(typ, serviceID), serviceName(typ, serviceID)
	if err := c.st.PutAuthenticator(ctx, svc, ev); err != nil {
		return AuthenticatorView{}, wrapStore(err, "authenticator")
	}
	c.authns.mu.Lock()
	c.authns.m[s.Account+"|"+serviceName(typ, serviceID)] = cachedAuthn{updated: svc.UpdatedAt, a: a}
	c.authns.mu.Unlock()
	return c.view(ctx, svc, false), nil
}

func (c *Core) view(ctx context.Context, svc model.AuthenticatorService, check bool) AuthenticatorView {
	v := AuthenticatorView{Type: svc.Type, ServiceID: svc.ServiceID, Enabled: c.enabled(svc), Config: maps.Clone(svc.Config),
		Allowed: svc.Allowed, Status: "ok", UpdatedAt: svc.UpdatedAt}
	if v.Config == nil {
		v.Config = map[string]string{}
	}
	if v.Allowed == nil {
		v.Allowed = []string{}
	}
	for k := range svc.Secrets {
		v.Config[k] = Masked
	}
	if check {
		if err := c.configStatus(ctx, svc); err != nil {
			v.Status = err.Error()
		}
	}
	return v
}

// configStatus builds the service and runs its status check, if it has one.
func (c *Core) configStatus(ctx context.Context, svc model.AuthenticatorService) error {
	a, err := c.authenticator(svc)
	if err != nil {
		return err
	}
	if sc, ok := a.(authn.StatusChecker); ok {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return sc.Status(ctx)
	}
	return nil
}

// GetAuthenticator returns one service with its configuration status.
func (c *Core) GetAuthenticator(ctx context.Context, s Session, caller Caller, typ, serviceID string) (AuthenticatorView, error) {
	if err := c.Authorize(ctx, s, caller, PermAuthenticatorsManage); err != nil {
		return AuthenticatorView{}, err
	}
	svc, err := c.st.GetAuthenticator(ctx, s.Account, typ, serviceID)
	if err != nil {
		return AuthenticatorView{}, wrapStore(err, "authenticator "+serviceName(typ, serviceID))
	}
	return c.view(ctx, svc, true), nil
}

// ListAuthenticators returns the account's services with their status.
func (c *Core) ListAuthenticators(ctx context.Context, s Session, caller Caller) ([]AuthenticatorView, error) {
	if err := c.Authorize(ctx, s, caller, PermAuthenticatorsManage); err != nil {
		return nil, err
	}
	svcs, err := c.st.ListAuthenticators(ctx, s.Account)
	if err != nil {
		return nil, wrapStore(err, "authenticators")
	}
	out := make([]AuthenticatorView, 0, len(svcs))
	for _, svc := range svcs {
		out = append(out, c.view(ctx, svc, true))
	}
	return out, nil
}

// DeleteAuthenticator removes a service.
func (c *Core) DeleteAuthenticator(ctx context.Context, s Session, caller Caller, typ, serviceID string) error {
	if err := c.Authorize(ctx, s, caller, PermAuthenticatorsManage); err != nil {
		return err
	}
	ev := c.event(caller, s.Account, "authenticator.delete")
	ev.Actor, ev.Subject, ev.Authenticator = s.RoleID(), s.Account+":webservice:conjur/"+serviceName(typ, serviceID), serviceName(typ, serviceID)
	if err := c.st.DeleteAuthenticator(ctx, s.Account, typ, serviceID, ev); err != nil {
		return wrapStore(err, "authenticator "+serviceName(typ, serviceID))
	}
	c.authns.mu.Lock()
	delete(c.authns.m, s.Account+"|"+serviceName(typ, serviceID))
	c.authns.mu.Unlock()
	return nil
}

// SetAuthenticatorEnabled enables or disables a defined service (Conjur's
// PATCH). An undefined service is NotFound.
func (c *Core) SetAuthenticatorEnabled(ctx context.Context, s Session, caller Caller, typ, serviceID string, enabled bool) error {
	if err := c.Authorize(ctx, s, caller, PermAuthenticatorsManage); err != nil {
		return err
	}
	if _, err := c.st.GetAuthenticator(ctx, s.Account, typ, serviceID); err != nil {
		return wrapStore(err, "authenticator "+serviceName(typ, serviceID))
	}
	svc, err := c.st.GetAuthenticator(ctx, s.Account, typ, serviceID)
	if err != nil {
		return wrapStore(err, "authenticator")
	}
	svc.Enabled, svc.UpdatedAt = enabled, c.now().UTC()
	ev := c.event(caller, s.Account, "authenticator.enable")
	if !enabled {
		ev.Event = "authenticator.disable"
	}
	ev.Actor, ev.Subject, ev.Authenticator = s.RoleID(), s.Account+":webservice:conjur/"+serviceName(typ, serviceID), serviceName(typ, serviceID)
	return wrapStore(c.st.PutAuthenticator(ctx, svc, ev), "authenticator")
}

// enabled decides whether a service is enabled: the environment's list
// overrides the store, as CONJUR_AUTHENTICATORS does.
func (c *Core) enabled(svc model.AuthenticatorService) bool {
	if c.envAuthn != nil {
		return slices.Contains(c.envAuthn, serviceName(svc.Type, svc.ServiceID))
	}
	return svc.Enabled
}

// BasicAuthnEnabled reports whether the built-in authn is enabled.
func (c *Core) BasicAuthnEnabled() bool {
	return c.envAuthn == nil || slices.Contains(c.envAuthn, "authn")
}

// AuthenticatorLists answers Conjur's GET /authenticators: configured
// services of every account, and the enabled ones (every entry of the
// environment list counts as enabled, defined or not).
func (c *Core) AuthenticatorLists(ctx context.Context) (configured, enabled []string, err error) {
	accounts, err := c.st.ListAccounts(ctx)
	if err != nil {
		return nil, nil, wrapStore(err, "accounts")
	}
	conf, en := map[string]bool{"authn": true}, map[string]bool{}
	if c.BasicAuthnEnabled() {
		en["authn"] = true
	}
	for _, e := range c.envAuthn {
		en[e] = true
	}
	for _, a := range accounts {
		svcs, err := c.st.ListAuthenticators(ctx, a.Name)
		if err != nil {
			return nil, nil, wrapStore(err, "authenticators")
		}
		for _, svc := range svcs {
			name := serviceName(svc.Type, svc.ServiceID)
			conf[name] = true
			if c.enabled(svc) {
				en[name] = true
			}
		}
	}
	return sortedKeys(conf), sortedKeys(en), nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// AuthnAttempt is one authentication through an outside authenticator.
type AuthnAttempt struct {
	Account, Type, ServiceID string
	// Login is the route's login, Conjur-style, or "".
	Login                     string
	Credential                string
	Code, CodeVerifier, Nonce string
}

// AuthenticateVia authenticates through a configured service: the service
// must be defined and enabled, the credential good, the principal allowed
// by the service (else Forbidden, as Conjur's 403), its annotations must
// agree with the credential, and its restriction must admit the caller.
// Every attempt is audited. The session's TTL field is the service's token
// lifetime, where it sets one.
func (c *Core) AuthenticateVia(ctx context.Context, caller Caller, at AuthnAttempt) (Session, time.Duration, error) {
	name := serviceName(at.Type, at.ServiceID)
	ev := c.event(caller, at.Account, "authn")
	ev.Authenticator = name
	ev.Actor = subjectRoleID(at.Account, at.Login)
	if at.Login == "" {
		ev.Actor = at.Account + ":user:unknown"
	}
	ev.Subject = ev.Actor
	refuse := func(reason string, err error) (Session, time.Duration, error) {
		c.recordFailure(ctx, fail(ev, reason))
		return Session{}, 0, err
	}
	if _, err := c.st.GetAccount(ctx, at.Account); err != nil {
		return refuse("unknown_account", unauthenticated("unknown_account"))
	}
	svc, err := c.st.GetAuthenticator(ctx, at.Account, at.Type, at.ServiceID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return refuse("undefined_authenticator", unauthenticated("undefined_authenticator"))
		}
		return refuse("store_error", wrapStore(err, "authenticator"))
	}
	if !c.enabled(svc) {
		return refuse("authenticator_disabled", unauthenticated("authenticator_disabled"))
	}
	a, err := c.authenticator(svc)
	if err != nil {
		return refuse("configuration_error", &Error{Kind: Unavailable, Msg: "authenticator is misconfigured", Err: err})
	}
	id, outcome, err := a.Verify(ctx, authn.Request{Account: at.Account, ServiceID: at.ServiceID, Login: at.Login,
		Credential: at.Credential, Code: at.Code, CodeVerifier: at.CodeVerifier, Nonce: at.Nonce, ClientIP: caller.ClientIP, Now: c.now()})
	if err != nil {
		return refuse("authenticator_unavailable", &Error{Kind: Unavailable, Msg: "authenticator could not decide", Err: err})
	}
	if id.Login != "" {
		ev.Actor = subjectRoleID(at.Account, id.Login)
		ev.Subject = ev.Actor
	}
	if outcome != authn.OK {
		reason := outcome.String()
		if id.Reason != "" {
			reason += ": " + id.Reason
		}
		if outcome == authn.Forbidden {
			return refuse(reason, forbidden("not_allowed", "role is not authorized to use this authenticator"))
		}
		return refuse(reason, unauthenticated(outcome.String()))
	}
	p, err := c.findPrincipal(ctx, at.Account, id.Login)
	if err != nil {
		return refuse("unknown_login", unauthenticated("unknown_login"))
	}
	ev.Actor = p.RoleID()
	ev.Subject = ev.Actor
	if !c.allowedBy(ctx, svc, p) {
		return refuse("not_allowed", forbidden("not_allowed", "role is not authorized to use this authenticator"))
	}
	if ac, ok := a.(authn.AnnotationChecker); ok {
		if o, why := ac.CheckAnnotations(id, string(p.Kind), p.Annotations); o != authn.OK {
			return refuse(o.String()+": "+why, unauthenticated(o.String()))
		}
	}
	restricted, _ := netpolicy.ParseCIDRs(p.RestrictedTo)
	switch {
	case p.Status == model.StatusDisabled:
		return refuse("disabled", unauthenticated("disabled"))
	case !netpolicy.Allowed(restricted, caller.ClientIP):
		return refuse("source_not_allowed", unauthenticated("source_not_allowed"))
	}
	if err := c.audit.record(ctx, ev); err != nil {
		return Session{}, 0, err
	}
	var ttl time.Duration
	if pr, ok := a.(authn.Provider); ok && at.Code != "" {
		ttl = pr.TokenTTL()
	}
	return Session{Account: p.Account, PrincipalID: p.ID, Login: p.ConjurLogin(), Kind: string(p.Kind),
		Level: LevelKey, Authenticator: name}, ttl, nil
}

// allowedBy reports whether the service's allowed list admits p: by its
// login, or by a role it holds now.
func (c *Core) allowedBy(ctx context.Context, svc model.AuthenticatorService, p model.Principal) bool {
	if slices.Contains(svc.Allowed, string(p.Kind)+":"+p.Login) {
		return true
	}
	grants, err := c.keys.grantsOf(ctx, p.Account, p.ID)
	if err != nil {
		return false
	}
	now := c.now()
	for _, g := range grants {
		if !grantHolds(g, now) {
			continue
		}
		r, err := c.keys.role(ctx, p.Account, g.RoleID)
		if err == nil && slices.Contains(svc.Allowed, "role:"+r.Name) {
			return true
		}
	}
	return false
}

// OIDCProvider is one code-flow service as Conjur's providers list shows it.
type OIDCProvider struct {
	ServiceID, Name, Nonce, CodeVerifier, RedirectURI string
}

// OIDCProviders lists an account's enabled code-flow OIDC services, each
// with a fresh nonce and PKCE verifier and the provider's authorization URL.
func (c *Core) OIDCProviders(ctx context.Context, account string) ([]OIDCProvider, error) {
	if _, err := c.st.GetAccount(ctx, account); err != nil {
		return nil, wrapStore(err, "account "+account)
	}
	svcs, err := c.st.ListAuthenticators(ctx, account)
	if err != nil {
		return nil, wrapStore(err, "authenticators")
	}
	out := []OIDCProvider{}
	for _, svc := range svcs {
		if svc.Type != "authn-oidc" || !c.enabled(svc) {
			continue
		}
		a, err := c.authenticator(svc)
		if err != nil {
			continue
		}
		pr, ok := a.(authn.Provider)
		if !ok {
			continue
		}
		nonce, verifier := crypto.NewID()+crypto.NewID(), crypto.NewID()+crypto.NewID()+crypto.NewID()
		sum := sha256.Sum256([]byte(verifier))
		u, err := pr.AuthorizationURL(ctx, nonce, "", base64.RawURLEncoding.EncodeToString(sum[:]))
		if err != nil {
			continue
		}
		nm := svc.Config["name"]
		if nm == "" {
			nm = svc.ServiceID
		}
		out = append(out, OIDCProvider{ServiceID: svc.ServiceID, Name: nm, Nonce: nonce, CodeVerifier: verifier, RedirectURI: u})
	}
	return out, nil
}

// StatusError is an authenticator status failure in Conjur's terms.
type StatusError struct {
	Kind  Kind
	Class string // Conjur's error class
	Code  string // CONJ code
	Msg   string
}

// AuthenticatorStatus runs Conjur's status check for an authenticator
// service, in Conjur's order: a supported type, a status check it has, the
// account, the webservice, the caller's access, then the configuration.
func (c *Core) AuthenticatorStatus(ctx context.Context, s Session, caller Caller, account, typ, serviceID string) *StatusError {
	if !slices.Contains(InstalledAuthenticators(), typ) {
		return &StatusError{Kind: NotFound, Class: "Errors::Authentication::AuthenticatorNotSupported", Code: "CONJ00001E", Msg: "Authenticator '" + typ + "' is not supported in Conjur"}
	}
	switch typ {
	case "authn-jwt", "authn-oidc", "authn-gcp", "authn-azure":
	default:
		return &StatusError{Kind: NotImplemented, Class: "Errors::Authentication::StatusNotSupported", Code: "CONJ00056E", Msg: "Status check not supported for authenticator '" + typ + "'"}
	}
	if _, err := c.st.GetAccount(ctx, account); err != nil {
		return &StatusError{Kind: NotFound, Class: "Errors::Authentication::Security::AccountNotDefined", Code: "CONJ00008E", Msg: "Account '" + account + "' is not defined in Conjur"}
	}
	wsID := account + ":webservice:conjur/" + serviceName(typ, serviceID)
	svc, err := c.st.GetAuthenticator(ctx, account, typ, serviceID)
	if err != nil {
		return &StatusError{Kind: NotFound, Class: "Errors::Authentication::Security::WebserviceNotFound", Code: "CONJ00005E", Msg: "Webservice '" + serviceName(typ, serviceID) + "' not found"}
	}
	if s.Account != account || (!c.can(ctx, s, caller, PermAuthenticatorsManage) && !c.allowedByID(ctx, svc, s)) {
		ev := fail(c.event(caller, account, "authenticator.status"), "missing_permission")
		ev.Actor, ev.Subject, ev.Authenticator = s.RoleID(), wsID, serviceName(typ, serviceID)
		c.recordFailure(ctx, ev)
		return &StatusError{Kind: Forbidden, Class: "Errors::Authentication::Security::RoleNotAuthorizedOnResource", Code: "CONJ00006E",
			Msg: "'" + s.RoleID() + "' does not have 'read' privilege on " + wsID + "/status"}
	}
	if err := c.configStatus(ctx, svc); err != nil {
		return &StatusError{Kind: Internal, Class: "Errors::Authentication::AuthnJwt::InvalidConfiguration", Code: "CONJ00118E", Msg: err.Error()}
	}
	return nil
}

func (c *Core) allowedByID(ctx context.Context, svc model.AuthenticatorService, s Session) bool {
	pe, err := c.keys.principal(ctx, s.Account, s.PrincipalID)
	return err == nil && c.allowedBy(ctx, svc, pe.p)
}
