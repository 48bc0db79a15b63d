package core

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/audit"

	"github.com/keyward/keyward/internal/crypto"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/netpolicy"
	"github.com/keyward/keyward/internal/store"
)

// RoleSpec is a role's content, for create and replace.
type RoleSpec struct {
	Name        string
	Description string
	Permissions []string
	Context     *model.RoleContext
	// ARN is an AWS IAM role ARN (arn:aws:iam::<12 digits>:role/<path>), or "".
	ARN string
	// SourceRules map outside sources' groups to the role; nil for none.
	SourceRules *model.SourceRules
}

var arnPattern = regexp.MustCompile(`^arn:aws:iam::[0-9]{12}:role/[\x21-\x7e]{1,512}$`)

func validateRoleMapping(spec RoleSpec) error {
	if spec.ARN != "" && !arnPattern.MatchString(spec.ARN) {
		return invalid("arn", "arn must be an AWS IAM role ARN: arn:aws:iam::<12 digits>:role/<path>")
	}
	if sr := spec.SourceRules; sr != nil {
		if sr.Match != model.MatchAny && sr.Match != model.MatchAll {
			return invalid("source_rules", "source_rules match must be ANY or ALL")
		}
		for _, r := range sr.Rules {
			if r.Source == "" || r.Group == "" || len(r.Group) > 1024 {
				return invalid("source_rules", "every source rule needs a source and a group (at most 1024 characters)")
			}
		}
	}
	return nil
}

func validateRole(spec RoleSpec) error {
	if spec.Name == "" || len(spec.Name) > 128 {
		return invalid("name", "name must be 1 to 128 characters")
	}
	if spec.Name == AdminRole {
		return invalid("name", "the role name admin is reserved for the built-in role")
	}
	all := AllPermissions()
	for _, p := range spec.Permissions {
		if !slices.Contains(all, p) {
			return invalid("permissions", "unknown permission %q", p)
		}
	}
	if rc := spec.Context; rc != nil {
		w := netpolicy.Window{Weekdays: rc.Weekdays, StartTime: rc.StartTime, EndTime: rc.EndTime, TimeZone: rc.TimeZone}
		if field, err := w.Validate(); err != nil {
			return invalid("context."+field, "%v", err)
		}
		if _, err := netpolicy.ParseCIDRs(rc.IPMasks); err != nil {
			return invalid("context.ip_masks", "%v", err)
		}
	}
	return validateRoleMapping(spec)
}

// checkRoleSpec authorizes a role write and validates and normalizes its
// content. Nobody writes a role granting what they do not hold.
func (c *principalService) checkRoleSpec(ctx context.Context, a *Access, spec *RoleSpec) error {
	if err := c.access.Require(ctx, a, PermRolesManage); err != nil {
		return err
	}
	if err := validateRole(*spec); err != nil {
		return err
	}
	if spec.Context != nil {
		spec.Context.IPMasks, _ = netpolicy.Normalize(spec.Context.IPMasks)
	}
	return c.access.covers(ctx, a, permsOf(spec.Permissions), "role grants a permission the caller does not hold")
}

// CreateRole stores a new role. A role is the account's, for every
// customer's users: a customer-limited key defines none (accountWide;
// ReplaceRole and DeleteRole refuse it as narrowed).
func (c *principalService) CreateRole(ctx context.Context, a *Access, spec RoleSpec) (model.Role, error) {
	if err := c.checkRoleSpec(ctx, a, &spec); err != nil {
		return model.Role{}, err
	}
	if err := c.access.accountWide(ctx, a, "change", "the roles"); err != nil {
		return model.Role{}, err
	}
	if spec.SourceRules != nil && len(spec.SourceRules.Rules) > 0 {
		// A role created with source rules is granted, PERMANENT, to every
		// user of the sources in the groups at their next login: as for a
		// grant (and ReplaceRole), the caller must hold its permissions
		// through PERMANENT grants, and a narrowed credential maps no role
		// (review r21 F7).
		if err := c.access.notNarrowed(ctx, a); err != nil {
			return model.Role{}, err
		}
		if p := a.durable.missing(permsOf(spec.Permissions)); p != "" {
			return model.Role{}, c.access.deny(ctx, a, ReasonEscalation, p, "a mapped role grants a permission the caller holds only for a while: "+p)
		}
	}
	now := c.now().UTC()
	r := model.Role{ID: crypto.NewID(), Account: a.Session.Account, Name: spec.Name, Description: spec.Description,
		Permissions: nonNil(spec.Permissions), Context: spec.Context, CreatedAt: now, UpdatedAt: now,
		ARN: spec.ARN, SourceRules: spec.SourceRules, Author: a.Session.PrincipalID, UpdatedBy: a.Session.PrincipalID}
	ev := c.audit.event(a.Caller, a.Session.Account, "role.create")
	ev.Actor, ev.Subject, ev.KeyID = a.Session.RoleID(), a.Session.Account+":role:"+r.Name, a.Session.KeyID
	ev.Detail = joinDetail("id "+r.ID, roleDetail(r))
	if err := c.st.CreateRole(ctx, r, ev); err != nil {
		return model.Role{}, roleStoreError(err, spec.Name)
	}
	return r, nil
}

func nonNil(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}

// GetRole returns one role.
func (c *principalService) GetRole(ctx context.Context, a *Access, id string) (model.Role, error) {
	if err := c.access.Require(ctx, a, PermRolesView); err != nil {
		return model.Role{}, err
	}
	r, err := c.st.GetRole(ctx, a.Session.Account, id)
	return withAdminPerms(r), wrapStore(err, "role "+id)
}

func withAdminPerms(r model.Role) model.Role {
	r.Permissions = rolePermissions(r)
	return r
}

// ListRoles returns one page of roles and the total.
func (c *principalService) ListRoles(ctx context.Context, a *Access, page Page) ([]model.Role, int, error) {
	if err := c.access.Require(ctx, a, PermRolesView); err != nil {
		return nil, 0, err
	}
	page, err := normalizePage(page)
	if err != nil {
		return nil, 0, err
	}
	rs, total, err := c.st.ListRoles(ctx, a.Session.Account, page)
	for i := range rs {
		rs[i] = withAdminPerms(rs[i])
	}
	return rs, total, wrapStore(err, "roles")
}

// ReplaceRole replaces a role's content. The built-in admin role is fixed.
// The caller must hold every permission of the role as it is and as it
// will be: widening a role one holds, filling an empty one, or loosening
// the context of one holding a permission one lacks would each give more
// than the caller has.
func (c *principalService) ReplaceRole(ctx context.Context, a *Access, id string, spec RoleSpec) (model.Role, error) {
	if err := c.access.Require(ctx, a, PermRolesManage); err != nil {
		return model.Role{}, err
	}
	if old, err := c.st.GetRole(ctx, a.Session.Account, id); err == nil && old.BuiltIn {
		return model.Role{}, invalid("id", "the built-in role %s cannot be changed", old.Name)
	}
	if err := c.checkRoleSpec(ctx, a, &spec); err != nil {
		return model.Role{}, err
	}
	old, err := c.st.GetRole(ctx, a.Session.Account, id)
	if err != nil {
		return model.Role{}, wrapStore(err, "role "+id)
	}
	if err := c.access.covers(ctx, a, rolePerms(old), "role holds a permission the caller does not"); err != nil {
		return model.Role{}, err
	}
	// Changing a role is granting to every holder at once: as for a grant,
	// the caller must hold what the role gives through PERMANENT grants, and
	// a narrowed credential changes no role.
	if err := c.access.notNarrowed(ctx, a); err != nil {
		return model.Role{}, err
	}
	if p := a.durable.missing(rolePerms(old) | permsOf(spec.Permissions)); p != "" {
		return model.Role{}, c.access.deny(ctx, a, ReasonEscalation, p, "role holds a permission the caller holds only for a while: "+p)
	}
	now := c.now().UTC()
	ev := c.audit.event(a.Caller, a.Session.Account, "role.update")
	ev.Actor, ev.Subject, ev.KeyID = a.Session.RoleID(), a.Session.Account+":role:"+spec.Name, a.Session.KeyID
	r, err := c.st.UpdateRole(ctx, a.Session.Account, id, func(r model.Role) (model.Role, error) {
		if r.BuiltIn {
			return r, invalid("id", "the built-in role %s cannot be changed", r.Name)
		}
		if rolePerms(r)&^rolePerms(old) != 0 {
			// Changed since it was checked: the permissions checked are no
			// longer the ones replaced.
			return r, &Error{Kind: Conflict, Msg: "role " + id + " changed meanwhile; try again"}
		}
		r.Name, r.Description, r.Permissions, r.Context, r.UpdatedAt = spec.Name, spec.Description, nonNil(spec.Permissions), spec.Context, now
		r.ARN, r.SourceRules, r.UpdatedBy = spec.ARN, spec.SourceRules, a.Session.PrincipalID
		return r, nil
	}, withDetail(ev, joinDetail("id "+id, "was "+old.Name+": "+roleDetail(old), "now "+roleDetail(model.Role{Permissions: nonNil(spec.Permissions), Context: spec.Context, ARN: spec.ARN, SourceRules: spec.SourceRules}))))
	if err != nil {
		return model.Role{}, roleStoreError(err, id)
	}
	c.keys.forgetRoles()
	return r, nil
}

// roleStoreError is wrapStore for role writes: a taken name is a Conflict
// naming the field.
func roleStoreError(err error, what string) error {
	e := wrapStore(err, "role "+what)
	if ce, ok := e.(*Error); ok && errors.Is(err, store.ErrAlreadyExists) {
		ce.Field, ce.Msg = "name", "a role of that name already exists"
	}
	return e
}

func withDetail(ev audit.Event, detail string) audit.Event {
	ev.Detail = detail
	return ev
}

// roleDetail renders a role's permissions and context for audit records.
func roleDetail(r model.Role) string {
	out := "permissions [" + strings.Join(r.Permissions, ",") + "]"
	if rc := r.Context; rc != nil {
		out += fmt.Sprintf("; context block=%t weekdays=%v time=%s-%s tz=%s ip_masks=[%s]", rc.Block, rc.Weekdays,
			rc.StartTime, rc.EndTime, rc.TimeZone, strings.Join(rc.IPMasks, ","))
	} else {
		out += "; no context"
	}
	// A mapping is a grant to a directory's group, the ARN an outside
	// role: both are recorded (review r21 F10).
	if r.ARN != "" {
		out += "; arn " + r.ARN
	}
	if sr := r.SourceRules; sr != nil && len(sr.Rules) > 0 {
		rules := make([]string, 0, len(sr.Rules))
		for _, rule := range sr.Rules {
			rules = append(rules, fmt.Sprintf("%s:%q", rule.Source, rule.Group))
		}
		out += "; source_rules " + sr.Match + " [" + strings.Join(rules, ",") + "]"
	} else {
		out += "; no source_rules"
	}
	return out
}

// DeleteRole removes a role and every grant of it. As for ReplaceRole, a
// narrowed credential (a key limited by roles, sources or customers)
// deletes no role: it would strip holders outside its limits, e.g. users
// of another customer (review r22b R2).
func (c *principalService) DeleteRole(ctx context.Context, a *Access, id string) error {
	if err := c.access.Require(ctx, a, PermRolesManage); err != nil {
		return err
	}
	if err := c.access.notNarrowed(ctx, a); err != nil {
		return err
	}
	r, err := c.st.GetRole(ctx, a.Session.Account, id)
	if err != nil {
		return wrapStore(err, "role "+id)
	}
	if r.BuiltIn {
		return invalid("id", "the built-in role %s cannot be deleted", r.Name)
	}
	// Deleting a role strips its holders of what made them outrank others.
	if err := c.access.covers(ctx, a, rolePerms(r), "role holds a permission the caller does not"); err != nil {
		return err
	}
	ev := c.audit.event(a.Caller, a.Session.Account, "role.delete")
	ev.Actor, ev.Subject, ev.KeyID, ev.Detail = a.Session.RoleID(), a.Session.Account+":role:"+r.Name, a.Session.KeyID, "id "+id
	if err := c.st.DeleteRole(ctx, a.Session.Account, id, ev); err != nil {
		return wrapStore(err, "role "+id)
	}
	c.keys.forgetRoles()
	return nil
}

// GrantSpec is one role given to a principal.
type GrantSpec struct {
	RoleID         string
	Type           string
	Periods        []model.Period
	FloatingLength int
}

// SetGrants makes a principal's explicit grants exactly these. The target
// is resolved in the caller's account first, then outranked; nobody grants
// a role holding a permission they lack; and nobody lengthens or widens
// their own grants (ownGrantsOK).
func (c *principalService) SetGrants(ctx context.Context, a *Access, principalID string, specs []GrantSpec) ([]model.Grant, error) {
	if err := c.access.notNarrowed(ctx, a); err != nil {
		return nil, err
	}
	p, err := c.access.managed(ctx, a, principalID)
	if err != nil {
		return nil, err
	}
	now := c.now().UTC()
	seen := map[string]bool{}
	gs := make([]model.Grant, 0, len(specs))
	names := make([]string, 0, len(specs))
	for _, sp := range specs {
		if seen[sp.RoleID] {
			return nil, invalid("roles", "role %s is listed twice", sp.RoleID)
		}
		seen[sp.RoleID] = true
		role, err := c.st.GetRole(ctx, a.Session.Account, sp.RoleID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, &Error{Kind: Invalid, Field: "roles", Msg: "role " + sp.RoleID + " does not exist", Err: err}
		}
		if err != nil {
			return nil, wrapStore(err, "role "+sp.RoleID)
		}
		// Nobody grants what they do not hold: users-manage is not admin.
		// And nobody hands on for good what they hold for a while only.
		if err := c.access.covers(ctx, a, rolePerms(role), "role "+role.Name+" holds a permission the caller does not"); err != nil {
			return nil, err
		}
		if p := a.durable.missing(rolePerms(role)); p != "" {
			return nil, c.access.deny(ctx, a, ReasonEscalation, p, "role "+role.Name+" holds a permission the caller holds only for a while: "+p)
		}
		g, err := newGrant(a.Session.Account, principalID, sp, now)
		if err != nil {
			return nil, err
		}
		gs = append(gs, g)
		names = append(names, role.Name+"("+role.ID+") "+g.Type)
	}
	if p.ID == a.Session.PrincipalID {
		if err := c.ownGrantsOK(ctx, a, gs); err != nil {
			return nil, err
		}
	}
	ev := c.audit.event(a.Caller, a.Session.Account, "grant.set")
	ev.Actor, ev.Subject, ev.KeyID = a.Session.RoleID(), p.RoleID(), a.Session.KeyID
	ev.Detail = "roles [" + strings.Join(names, ", ") + "]"
	if err := c.st.SetGrants(ctx, a.Session.Account, principalID, model.GrantExplicit, gs, ev); err != nil {
		return nil, wrapStore(err, "grants")
	}
	c.keys.forgetRoles()
	return gs, nil
}

// newGrant validates one grant spec.
func newGrant(account, principalID string, sp GrantSpec, now time.Time) (model.Grant, error) {
	g := model.Grant{Account: account, PrincipalID: principalID, RoleID: sp.RoleID, Source: model.GrantExplicit, Type: sp.Type, CreatedAt: now}
	switch sp.Type {
	case "", model.GrantPermanent:
		g.Type = model.GrantPermanent
	case model.GrantTimeRestricted:
		if len(sp.Periods) == 0 {
			return g, invalid("periods", "a TIME_RESTRICTED grant needs at least one period")
		}
		for _, per := range sp.Periods {
			if !per.End.After(per.Start) {
				return g, invalid("periods", "a period must end after it starts")
			}
		}
		g.Periods = sp.Periods
	case model.GrantFloating:
		if sp.FloatingLength <= 0 || sp.FloatingLength > 24*366 {
			return g, invalid("floating_length", "a FLOATING grant needs floating_length in hours, 1 to 8784")
		}
		g.FloatingLength = sp.FloatingLength
	default:
		return g, invalid("type", "type must be PERMANENT, TIME_RESTRICTED or FLOATING")
	}
	return g, nil
}

// ownGrantsOK refuses a change of one's own grants that gives more time or
// more roles than one has: a role one does not hold explicitly, a grant
// made PERMANENT, a period ending later or added, a floating length raised.
// Dropping grants or narrowing them is allowed.
func (c *principalService) ownGrantsOK(ctx context.Context, a *Access, next []model.Grant) error {
	cur, err := c.st.ListGrants(ctx, a.Session.Account, a.Session.PrincipalID)
	if err != nil {
		return wrapStore(err, "grants")
	}
	for _, g := range next {
		i := slices.IndexFunc(cur, func(o model.Grant) bool { return o.RoleID == g.RoleID && o.Source == model.GrantExplicit })
		if i < 0 {
			return c.access.deny(ctx, a, ReasonOwnGrantExtension, g.RoleID, "a principal cannot give itself a role")
		}
		if !grantWithin(g, cur[i]) {
			return c.access.deny(ctx, a, ReasonOwnGrantExtension, g.RoleID, "a principal cannot lengthen its own grant")
		}
	}
	return nil
}

// grantWithin reports whether grant g gives no more time than old.
func grantWithin(g, old model.Grant) bool {
	switch old.Type {
	case model.GrantPermanent:
		return true
	case model.GrantTimeRestricted:
		if g.Type != model.GrantTimeRestricted {
			return false
		}
		for _, p := range g.Periods {
			if !slices.ContainsFunc(old.Periods, func(o model.Period) bool { return !p.Start.Before(o.Start) && !p.End.After(o.End) }) {
				return false
			}
		}
		return true
	case model.GrantFloating:
		return g.Type == model.GrantFloating && g.FloatingLength <= old.FloatingLength
	}
	return false
}

// ListGrants returns a principal's grants.
func (c *principalService) ListGrants(ctx context.Context, a *Access, principalID string) ([]model.Grant, error) {
	if principalID != a.Session.PrincipalID {
		if err := c.access.Require(ctx, a, PermUsersView); err != nil {
			return nil, err
		}
	}
	if _, err := c.access.principalIn(ctx, a, principalID); err != nil {
		return nil, err
	}
	gs, err := c.st.ListGrants(ctx, a.Session.Account, principalID)
	return gs, wrapStore(err, "grants")
}

// RoleExists reports whether a role of that name exists in the account.
func (c *principalService) RoleExists(ctx context.Context, account, name string) (bool, error) {
	_, err := c.st.GetRoleByName(ctx, account, name)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, wrapStore(err, "role "+name)
}
