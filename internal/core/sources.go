package core

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/crypto"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

// A source is a user directory in PrivX's sense: an authenticator service
// authn-ldap/<id> or authn-oidc/<id> marked as a source. It is stored even
// when incomplete (its status says what is wrong), admits the users whose
// source is its id, and maps their groups to roles at each authentication.
const (
	sourceMarkKey     = sourceKeyPrefix + "source"       // "true" on a source
	sourceDocKey      = sourceKeyPrefix + "document"     // the surface's record of the source as sent, secrets left out
	sourceGroupsClaim = sourceKeyPrefix + "groups-claim" // the OIDC claim holding the groups
)

func isSource(svc model.AuthenticatorService) bool { return svc.Config[sourceMarkKey] == "true" }

// SourceSpec is a source's content: its authenticator type (authn-ldap or
// authn-oidc), enabled, the authenticator's configuration (a secret sent as
// Masked keeps the stored one unless a destination changes), the groups
// claim (OIDC) and the surface's document.
type SourceSpec struct {
	Type        string
	Enabled     bool
	Config      map[string]string
	GroupsClaim string
	Document    string
}

// SourceView is a stored source: secrets masked, Problem "" when its
// configuration builds.
type SourceView struct {
	ID, Type    string
	Enabled     bool
	Config      map[string]string
	GroupsClaim string
	Document    string
	Problem     string
	UpdatedAt   time.Time
}

func (c *authenticatorService) sourceView(svc model.AuthenticatorService) SourceView {
	v := SourceView{ID: svc.ServiceID, Type: svc.Type, Enabled: svc.Enabled, Config: map[string]string{},
		GroupsClaim: svc.Config[sourceGroupsClaim], Document: svc.Config[sourceDocKey], UpdatedAt: svc.UpdatedAt}
	for k, val := range serviceValues(svc.Config) {
		v.Config[k] = val
	}
	for k := range svc.Secrets {
		v.Config[k] = Masked
	}
	if _, err := c.authenticator(svc); err != nil {
		v.Problem = err.Error()
		if e := configError(err); e != nil {
			v.Problem = e.Msg
		}
	}
	return v
}

// findSource returns the source of that id, whichever its type.
func (c *authenticatorService) findSource(ctx context.Context, account, id string) (model.AuthenticatorService, error) {
	for _, typ := range []string{"authn-ldap", "authn-oidc"} {
		svc, err := c.st.GetAuthenticator(ctx, account, typ, id)
		if err == nil && isSource(svc) {
			return svc, nil
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return model.AuthenticatorService{}, wrapStore(err, "source "+id)
		}
	}
	return model.AuthenticatorService{}, &Error{Kind: NotFound, Msg: "source " + id + " not found"}
}

// PutSource creates (create) or replaces source id; it is never contacted
// here. authenticators-manage.
func (c *authenticatorService) PutSource(ctx context.Context, a *Access, id string, spec SourceSpec, create bool) (SourceView, error) {
	if err := c.access.Require(ctx, a, PermAuthenticatorsManage); err != nil {
		return SourceView{}, err
	}
	// A source is an authenticator: the native authenticator checks, no
	// fewer. A narrowed key (roles, sources, customers) does not define
	// who may log in as whom.
	if err := c.access.notNarrowed(ctx, a); err != nil {
		return SourceView{}, err
	}
	if spec.Type != "authn-ldap" && spec.Type != "authn-oidc" {
		return SourceView{}, invalid("type", "a source is LDAP or OIDC")
	}
	if create && id == "" {
		id = crypto.NewID()
	}
	if id == "local" {
		return SourceView{}, invalid("id", "the local source cannot be changed")
	}
	if err := c.checkType(spec.Type, id); err != nil {
		return SourceView{}, err
	}
	account := a.Session.Account
	old, oldErr := c.findSource(ctx, account, id)
	switch {
	case create && oldErr == nil:
		return SourceView{}, &Error{Kind: Conflict, Field: "id", Msg: "source " + id + " exists"}
	case !create && oldErr != nil:
		return SourceView{}, oldErr
	}
	// Whoever points the source at a directory or IdP can log in as every
	// user it admits: the caller must outrank each of them (mayAdmit). The
	// roles its users' groups map to are checked at each login against the
	// source's author (authorOutranks, with the mapped roles).
	if err := c.mayAdmitSource(ctx, a, id); err != nil {
		return SourceView{}, err
	}
	config := maps.Clone(spec.Config)
	if config == nil {
		config = map[string]string{}
	}
	for k := range config {
		if strings.HasPrefix(k, sourceKeyPrefix) {
			delete(config, k)
		}
	}
	if oldErr == nil && old.Type != spec.Type {
		// Another type: nothing of the old configuration carries over.
		oldErr = store.ErrNotFound
	}
	vals, err := c.openMasked(config, old, oldErr)
	if err != nil {
		return SourceView{}, err
	}
	vals[sourceMarkKey], vals[sourceDocKey], vals[sourceGroupsClaim] = "true", spec.Document, spec.GroupsClaim
	svc := model.AuthenticatorService{Account: account, Type: spec.Type, ServiceID: id, Enabled: spec.Enabled,
		Config: map[string]string{}, Secrets: map[string][]byte{}, UpdatedAt: c.now().UTC(), DefinedBy: a.Session.PrincipalID}
	c.sealInto(&svc, vals)
	ev := c.audit.event(a.Caller, account, "source.put")
	ev.Actor, ev.Subject, ev.Authenticator, ev.KeyID = a.Session.RoleID(), serviceSubject(account, spec.Type, id), serviceName(spec.Type, id), a.Session.KeyID
	ev.Detail = sourceDetail(spec, config, old, oldErr == nil)
	if oldErr == nil && old.Type != spec.Type {
		if err := c.st.DeleteAuthenticator(ctx, account, old.Type, id, ev); err != nil {
			return SourceView{}, wrapStore(err, "source "+id)
		}
	}
	if err := c.st.PutAuthenticator(ctx, svc, ev); err != nil {
		return SourceView{}, wrapStore(err, "source "+id)
	}
	return c.sourceView(svc), nil
}

// mayAdmitSource checks that the access outranks every user of source id
// (whom the source admits whatever its allowed list says).
func (c *authenticatorService) mayAdmitSource(ctx context.Context, a *Access, id string) error {
	users, _, err := c.st.SearchPrincipals(ctx, a.Session.Account, store.PrincipalQuery{Kind: model.KindUser, Source: id})
	if err != nil {
		return wrapStore(err, "users of source "+id)
	}
	for _, p := range users {
		if err := c.access.outranks(ctx, a, p); err != nil {
			return err
		}
	}
	return nil
}

// GetSource returns source id (authenticators-manage). A source is an
// authenticator of the whole account: a customer-limited key reads none, as
// GetAuthenticator (accountWide).
func (c *authenticatorService) GetSource(ctx context.Context, a *Access, id string) (SourceView, error) {
	if err := c.access.Require(ctx, a, PermAuthenticatorsManage); err != nil {
		return SourceView{}, err
	}
	if err := c.access.accountWide(ctx, a, "read", "the sources"); err != nil {
		return SourceView{}, err
	}
	svc, err := c.findSource(ctx, a.Session.Account, id)
	if err != nil {
		return SourceView{}, err
	}
	return c.sourceView(svc), nil
}

// ListSources returns the account's sources by id (authenticators-manage);
// refused to a customer-limited key, as GetSource.
func (c *authenticatorService) ListSources(ctx context.Context, a *Access) ([]SourceView, error) {
	if err := c.access.Require(ctx, a, PermAuthenticatorsManage); err != nil {
		return nil, err
	}
	if err := c.access.accountWide(ctx, a, "read", "the sources"); err != nil {
		return nil, err
	}
	svcs, err := c.st.ListAuthenticators(ctx, a.Session.Account)
	if err != nil {
		return nil, wrapStore(err, "sources")
	}
	var out []SourceView
	for _, svc := range svcs {
		if isSource(svc) {
			out = append(out, c.sourceView(svc))
		}
	}
	slices.SortFunc(out, func(x, y SourceView) int { return strings.Compare(x.ID, y.ID) })
	return out, nil
}

// DeleteSource removes source id (authenticators-manage).
func (c *authenticatorService) DeleteSource(ctx context.Context, a *Access, id string) error {
	if err := c.access.Require(ctx, a, PermAuthenticatorsManage); err != nil {
		return err
	}
	if id == "local" {
		return invalid("id", "the local source cannot be deleted")
	}
	// DeleteAuthenticator refuses a narrowed key; refusing it before the
	// lookup tells it nothing of which sources exist (review r25d D1).
	if err := c.access.notNarrowed(ctx, a); err != nil {
		return err
	}
	svc, err := c.findSource(ctx, a.Session.Account, id)
	if err != nil {
		return err
	}
	return c.DeleteAuthenticator(ctx, a, svc.Type, id)
}

// SourceTypes maps the account's source ids to their authenticator types,
// for rendering users (no permission: types only).
func (c *authenticatorService) SourceTypes(ctx context.Context, account string) (map[string]string, error) {
	svcs, err := c.st.ListAuthenticators(ctx, account)
	if err != nil {
		return nil, wrapStore(err, "sources")
	}
	out := map[string]string{}
	for _, svc := range svcs {
		if isSource(svc) {
			out[svc.ServiceID] = svc.Type
		}
	}
	return out, nil
}

// sourceGroups are the groups an identity proven through source svc has:
// the directory's group DNs, or the OIDC groups claim's values.
func sourceGroups(svc model.AuthenticatorService, groups []string, claims map[string]any) []string {
	if svc.Type == "authn-ldap" {
		return groups
	}
	name := svc.Config[sourceGroupsClaim]
	if name == "" {
		name = "groups"
	}
	switch v := claims[name].(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return v
	}
	return nil
}

// rulesMatch reports whether a role's rules for source match groups
// (compared without regard to case): any of them, or all of them; a role
// with no rule for the source does not match.
func rulesMatch(sr *model.SourceRules, source string, groups []string) bool {
	if sr == nil {
		return false
	}
	has := func(g string) bool {
		return slices.ContainsFunc(groups, func(x string) bool { return asciiEqualFold(x, g) })
	}
	n, hits := 0, 0
	for _, r := range sr.Rules {
		if r.Source != source {
			continue
		}
		n++
		if has(r.Group) {
			hits++
		}
	}
	if n == 0 {
		return false
	}
	if sr.Match == model.MatchAll {
		return hits == n
	}
	return hits > 0
}

// roleMapping is what a login through a source would make a user's mapped
// grants: the roles (sorted ids), the permissions they give, and whether
// they differ from the stored ones. Nothing is stored until every check of
// the login passed (storeMapping).
type roleMapping struct {
	want    []string
	perms   permSet
	changed bool
}

// planMapping computes the mapped grants of p, a user of source svc who
// authenticates through it: exactly the roles whose rules for the source
// match its groups.
func (c *authService) planMapping(ctx context.Context, svc model.AuthenticatorService, p model.Principal, groups []string) (roleMapping, error) {
	var roles []model.Role
	for {
		rs, total, err := c.st.ListRoles(ctx, p.Account, store.Page{Limit: 1000, Offset: len(roles)})
		if err != nil {
			return roleMapping{}, wrapStore(err, "roles")
		}
		roles = append(roles, rs...)
		if len(rs) == 0 || len(roles) >= total {
			break
		}
	}
	var m roleMapping
	for _, r := range roles {
		if rulesMatch(r.SourceRules, svc.ServiceID, groups) {
			m.want = append(m.want, r.ID)
			m.perms |= rolePerms(r)
		}
	}
	cur, err := c.st.ListGrants(ctx, p.Account, p.ID)
	if err != nil {
		return roleMapping{}, wrapStore(err, "grants")
	}
	var have []string
	for _, g := range cur {
		if g.Source == model.GrantMapped {
			have = append(have, g.RoleID)
		}
	}
	slices.Sort(m.want)
	slices.Sort(have)
	m.changed = !slices.Equal(m.want, have)
	return m, nil
}

// storeMapping makes p's mapped grants m's roles, confirmed now (each
// holds for MappedGrantLife from here), in one store write, recorded as
// grant.map when the roles change and as grant.confirm otherwise.
func (c *authService) storeMapping(ctx context.Context, caller Caller, svc model.AuthenticatorService, p model.Principal, m roleMapping) error {
	if len(m.want) == 0 && !m.changed {
		return nil
	}
	now := c.now().UTC()
	gs := make([]model.Grant, 0, len(m.want))
	for _, id := range m.want {
		gs = append(gs, model.Grant{Account: p.Account, PrincipalID: p.ID, RoleID: id, Source: model.GrantMapped, Type: model.GrantPermanent, CreatedAt: now})
	}
	ev := c.audit.event(caller, p.Account, "grant.map")
	ev.Actor, ev.Subject, ev.Authenticator = p.RoleID(), p.RoleID(), serviceName(svc.Type, svc.ServiceID)
	ev.Detail = "roles [" + strings.Join(m.want, ",") + "] from groups of source " + svc.ServiceID
	if !m.changed {
		ev.Event = "grant.confirm"
	}
	if err := c.st.SetGrants(ctx, p.Account, p.ID, model.GrantMapped, gs, ev); err != nil {
		return wrapStore(err, "mapped grants")
	}
	c.keys.forgetRoles()
	return nil
}

// DirectoryUser is a user found in a source's directory.
type DirectoryUser struct {
	Source string
	authn.DirectoryEntry
}

// SearchDirectories searches every enabled LDAP source live for users
// whose login, name or email hold every keyword (users-view; not for a key
// limited to customers), at most 1000
// per source. A source that cannot be searched is Unavailable.
func (c *authenticatorService) SearchDirectories(ctx context.Context, a *Access, keywords string, source string) ([]DirectoryUser, error) {
	if err := c.access.Require(ctx, a, PermUsersView); err != nil {
		return nil, err
	}
	// A directory spans every customer (its entries are no keyward users
	// yet, or users of any customer): no read for a customer-limited key.
	if err := c.access.accountWide(ctx, a, "read", "the sources' directories"); err != nil {
		return nil, err
	}
	svcs, err := c.st.ListAuthenticators(ctx, a.Session.Account)
	if err != nil {
		return nil, wrapStore(err, "sources")
	}
	var out []DirectoryUser
	for _, svc := range svcs {
		if !isSource(svc) || svc.Type != "authn-ldap" || !c.enabled(svc) || source != "" && svc.ServiceID != source {
			continue
		}
		au, err := c.authenticator(svc)
		if err != nil {
			return nil, &Error{Kind: Unavailable, Msg: "source " + svc.ServiceID + " is misconfigured", Err: err}
		}
		dir, ok := au.(authn.Directory)
		if !ok {
			continue
		}
		entries, err := dir.SearchUsers(ctx, strings.Fields(keywords), 1000)
		if err != nil {
			return nil, &Error{Kind: Unavailable, Msg: "source " + svc.ServiceID + " could not be searched", Err: err}
		}
		for _, e := range entries {
			out = append(out, DirectoryUser{Source: svc.ServiceID, DirectoryEntry: e})
		}
	}
	return out, nil
}
