package core

import (
	"context"
	"errors"
	"slices"

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
	return nil
}

// checkRoleSpec authorizes a role write and validates and normalizes its content.
func (c *Core) checkRoleSpec(ctx context.Context, s Session, caller Caller, spec *RoleSpec) error {
	if err := c.Authorize(ctx, s, caller, PermRolesManage); err != nil {
		return err
	}
	if err := validateRole(*spec); err != nil {
		return err
	}
	if spec.Context != nil {
		spec.Context.IPMasks, _ = netpolicy.Normalize(spec.Context.IPMasks)
	}
	return nil
}

// CreateRole stores a new role.
func (c *Core) CreateRole(ctx context.Context, s Session, caller Caller, spec RoleSpec) (model.Role, error) {
	if err := c.checkRoleSpec(ctx, s, caller, &spec); err != nil {
		return model.Role{}, err
	}
	now := c.now().UTC()
	r := model.Role{ID: crypto.NewID(), Account: s.Account, Name: spec.Name, Description: spec.Description,
		Permissions: nonNil(spec.Permissions), Context: spec.Context, CreatedAt: now, UpdatedAt: now}
	ev := c.event(caller, s.Account, "role.create")
	ev.Actor, ev.Subject, ev.Detail = s.RoleID(), s.Account+":role:"+r.Name, r.ID
	if err := c.st.CreateRole(ctx, r, ev); err != nil {
		return model.Role{}, wrapStore(err, "role "+spec.Name)
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
func (c *Core) GetRole(ctx context.Context, s Session, caller Caller, id string) (model.Role, error) {
	if err := c.Authorize(ctx, s, caller, PermRolesView); err != nil {
		return model.Role{}, err
	}
	r, err := c.st.GetRole(ctx, s.Account, id)
	return withAdminPerms(r), wrapStore(err, "role "+id)
}

func withAdminPerms(r model.Role) model.Role {
	r.Permissions = rolePermissions(r)
	return r
}

// ListRoles returns one page of roles and the total.
func (c *Core) ListRoles(ctx context.Context, s Session, caller Caller, page store.Page) ([]model.Role, int, error) {
	if err := c.Authorize(ctx, s, caller, PermRolesView); err != nil {
		return nil, 0, err
	}
	page, err := normalizePage(page)
	if err != nil {
		return nil, 0, err
	}
	rs, total, err := c.st.ListRoles(ctx, s.Account, page)
	for i := range rs {
		rs[i] = withAdminPerms(rs[i])
	}
	return rs, total, wrapStore(err, "roles")
}

// ReplaceRole replaces a role's content. The built-in admin role is fixed.
func (c *Core) ReplaceRole(ctx context.Context, s Session, caller Caller, id string, spec RoleSpec) (model.Role, error) {
	if err := c.checkRoleSpec(ctx, s, caller, &spec); err != nil {
		return model.Role{}, err
	}
	now := c.now().UTC()
	ev := c.event(caller, s.Account, "role.update")
	ev.Actor, ev.Subject, ev.Detail = s.RoleID(), s.Account+":role:"+spec.Name, id
	r, err := c.st.UpdateRole(ctx, s.Account, id, func(r model.Role) (model.Role, error) {
		if r.BuiltIn {
			return r, invalid("id", "the built-in role %s cannot be changed", r.Name)
		}
		r.Name, r.Description, r.Permissions, r.Context, r.UpdatedAt = spec.Name, spec.Description, nonNil(spec.Permissions), spec.Context, now
		return r, nil
	}, ev)
	if err != nil {
		return model.Role{}, wrapStore(err, "role "+id)
	}
	c.keys.forgetRoles()
	return r, nil
}

// DeleteRole removes a role and every grant of it.
func (c *Core) DeleteRole(ctx context.Context, s Session, caller Caller, id string) error {
	if err := c.Authorize(ctx, s, caller, PermRolesManage); err != nil {
		return err
	}
	r, err := c.st.GetRole(ctx, s.Account, id)
	if err != nil {
		return wrapStore(err, "role "+id)
	}
	if r.BuiltIn {
		return invalid("id", "the built-in role %s cannot be deleted", r.Name)
	}
	ev := c.event(caller, s.Account, "role.delete")
	ev.Actor, ev.Subject, ev.Detail = s.RoleID(), s.Account+":role:"+r.Name, id
	if err := c.st.DeleteRole(ctx, s.Account, id, ev); err != nil {
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

// SetGrants makes a principal's explicit grants exactly these.
func (c *Core) SetGrants(ctx context.Context, s Session, caller Caller, principalID string, specs []GrantSpec) ([]model.Grant, error) {
	if err := c.Authorize(ctx, s, caller, PermUsersManage); err != nil {
		return nil, err
	}
	p, err := c.st.GetPrincipal(ctx, s.Account, principalID)
	if err != nil {
		return nil, wrapStore(err, "principal "+principalID)
	}
	if err := c.outranks(ctx, s, caller, principalID); err != nil {
		return nil, err
	}
	now := c.now().UTC()
	seen := map[string]bool{}
	gs := make([]model.Grant, 0, len(specs))
	for _, sp := range specs {
		if seen[sp.RoleID] {
			return nil, invalid("roles", "role %s is listed twice", sp.RoleID)
		}
		seen[sp.RoleID] = true
		role, err := c.st.GetRole(ctx, s.Account, sp.RoleID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, &Error{Kind: Invalid, Field: "roles", Msg: "role " + sp.RoleID + " does not exist", Err: err}
		}
		if err != nil {
			return nil, wrapStore(err, "role "+sp.RoleID)
		}
		// Nobody grants what they do not hold: users-manage is not admin.
		if err := c.coversAll(ctx, s, caller, rolePermissions(role), "role "+role.Name+" holds a permission the caller does not"); err != nil {
			return nil, err
		}
		g := model.Grant{Account: s.Account, PrincipalID: principalID, RoleID: sp.RoleID, Source: model.GrantExplicit, Type: sp.Type, CreatedAt: now}
		switch sp.Type {
		case "", model.GrantPermanent:
			g.Type = model.GrantPermanent
		case model.GrantTimeRestricted:
			if len(sp.Periods) == 0 {
				return nil, invalid("periods", "a TIME_RESTRICTED grant needs at least one period")
			}
			for _, per := range sp.Periods {
				if !per.End.After(per.Start) {
					return nil, invalid("periods", "a period must end after it starts")
				}
			}
			g.Periods = sp.Periods
		case model.GrantFloating:
			if sp.FloatingLength <= 0 || sp.FloatingLength > 24*366 {
				return nil, invalid("floating_length", "a FLOATING grant needs floating_length in hours, 1 to 8784")
			}
			g.FloatingLength = sp.FloatingLength
		default:
			return nil, invalid("type", "type must be PERMANENT, TIME_RESTRICTED or FLOATING")
		}
		gs = append(gs, g)
	}
	ev := c.event(caller, s.Account, "grant.set")
	ev.Actor, ev.Subject = s.RoleID(), p.RoleID()
	if err := c.st.SetGrants(ctx, s.Account, principalID, model.GrantExplicit, gs, ev); err != nil {
		return nil, wrapStore(err, "grants")
	}
	c.keys.forgetRoles()
	return gs, nil
}

// ListGrants returns a principal's grants.
func (c *Core) ListGrants(ctx context.Context, s Session, caller Caller, principalID string) ([]model.Grant, error) {
	if principalID != s.PrincipalID {
		if err := c.Authorize(ctx, s, caller, PermUsersView); err != nil {
			return nil, err
		}
	}
	gs, err := c.st.ListGrants(ctx, s.Account, principalID)
	return gs, wrapStore(err, "grants")
}
