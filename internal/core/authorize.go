package core

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/netpolicy"
)

// Permissions a role can hold. Every native route declares one of them (or
// says it is public); the built-in admin role holds them all.
const (
	PermUsersView            = "users-view"
	PermUsersManage          = "users-manage"
	PermRolesView            = "roles-view"
	PermRolesManage          = "roles-manage"
	PermAPIKeysManage        = "api-keys-manage"
	PermAuditView            = "audit-view"
	PermAuthenticatorsManage = "authenticators-manage"
	PermSigningKeysManage    = "signing-keys-manage"
)

// AllPermissions lists every permission, sorted.
func AllPermissions() []string {
	return []string{PermAPIKeysManage, PermAuditView, PermAuthenticatorsManage, PermRolesManage,
		PermRolesView, PermSigningKeysManage, PermUsersManage, PermUsersView}
}

// AdminRole is the name of each account's built-in role holding every permission.
const AdminRole = "admin"

// grantHolds reports whether a grant is valid at now.
func grantHolds(g model.Grant, now time.Time) bool {
	switch g.Type {
	case model.GrantTimeRestricted:
		for _, p := range g.Periods {
			if !now.Before(p.Start) && now.Before(p.End) {
				return true
			}
		}
		return false
	case model.GrantFloating:
		// A floating grant holds for FloatingLength hours from its first use.
		if g.ActivatedAt == nil {
			return true
		}
		return now.Before(g.ActivatedAt.Add(time.Duration(g.FloatingLength) * time.Hour))
	}
	return true
}

// contextHolds reports whether a role's context allows use at now from addr.
func contextHolds(rc *model.RoleContext, now time.Time, addr netip.Addr) bool {
	if rc == nil {
		return true
	}
	inWindow := netpolicy.Window{Weekdays: rc.Weekdays, StartTime: rc.StartTime, EndTime: rc.EndTime, TimeZone: rc.TimeZone}.Holds(now)
	masks, _ := netpolicy.ParseCIDRs(rc.IPMasks)
	inNet := netpolicy.Allowed(masks, addr)
	if rc.Block {
		// A blocking context denies inside its window and masks.
		return !(inWindow && inNet)
	}
	return inWindow && inNet
}

// Permissions returns the session's effective permissions now, from caller's
// address: grants valid now, of roles whose context holds, narrowed by the
// credential's scope.
func (c *Core) Permissions(ctx context.Context, s Session, caller Caller) ([]string, error) {
	grants, err := c.keys.grantsOf(ctx, s.Account, s.PrincipalID)
	if err != nil {
		return nil, wrapStore(err, "grants")
	}
	now := c.now()
	out := make([]string, 0, 8)
	for _, g := range grants {
		if len(s.Scope) > 0 && !slices.Contains(s.Scope, g.RoleID) {
			continue
		}
		if !grantHolds(g, now) {
			continue
		}
		role, err := c.keys.role(ctx, s.Account, g.RoleID)
		if err != nil {
			continue // a role deleted under us grants nothing
		}
		if !contextHolds(role.Context, now, caller.ClientIP) {
			continue
		}
		if g.Type == model.GrantFloating && g.ActivatedAt == nil {
			if err := c.st.ActivateGrant(ctx, s.Account, s.PrincipalID, g.RoleID, now); err == nil {
				c.keys.forgetPrincipal(s.PrincipalID, false)
			}
		}
		for _, p := range rolePermissions(role) {
			if !slices.Contains(out, p) { // a handful of permissions: a scan beats a map
				out = append(out, p)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// Authorize checks that the session holds perm now; a denial is audited.
func (c *Core) Authorize(ctx context.Context, s Session, caller Caller, perm string) error {
	perms, err := c.Permissions(ctx, s, caller)
	if err != nil {
		return err
	}
	if slices.Contains(perms, perm) {
		return nil
	}
	return c.deny(ctx, s, caller, "missing_permission", perm, "permission "+perm+" is required")
}

// deny audits an authorization refusal of the session and returns the
// Forbidden error for it; detail (a permission) goes to the record only.
func (c *Core) deny(ctx context.Context, s Session, caller Caller, reason, detail, msg string) error {
	ev := fail(c.event(caller, s.Account, "authorize"), reason)
	ev.Actor, ev.Detail, ev.KeyID = s.RoleID(), detail, s.KeyID
	ev.Subject = ev.Actor
	c.recordFailure(ctx, ev)
	return forbidden(reason, msg)
}

// can reports whether the session holds perm, without auditing (for
// self-service routes, where lacking it only narrows what is visible).
func (c *Core) can(ctx context.Context, s Session, caller Caller, perm string) bool {
	perms, err := c.Permissions(ctx, s, caller)
	return err == nil && slices.Contains(perms, perm)
}

// grantedPermissions is every permission a principal's grants give now,
// regardless of role context and of any key's scope: what it could do at
// its most privileged.
func (c *Core) grantedPermissions(ctx context.Context, account, principalID string) ([]string, error) {
	grants, err := c.keys.grantsOf(ctx, account, principalID)
	if err != nil {
		return nil, wrapStore(err, "grants")
	}
	now := c.now()
	var out []string
	for _, g := range grants {
		if !grantHolds(g, now) {
			continue
		}
		role, err := c.keys.role(ctx, account, g.RoleID)
		if err != nil {
			continue
		}
		for _, p := range rolePermissions(role) {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// rolePermissions is what a role grants: everything for the built-in admin.
func rolePermissions(r model.Role) []string {
	if r.BuiltIn && r.Name == AdminRole {
		return AllPermissions()
	}
	return r.Permissions
}

// outranks checks that the session holds, now, every permission that
// principal target could hold, so managing users or keys cannot be turned
// into taking over someone more privileged (resetting an admin's password,
// minting an admin's key). A refusal is audited.
func (c *Core) outranks(ctx context.Context, s Session, caller Caller, target string) error {
	if target == s.PrincipalID {
		return nil
	}
	theirs, err := c.grantedPermissions(ctx, s.Account, target)
	if err != nil {
		return err
	}
	return c.coversAll(ctx, s, caller, theirs, "principal holds permissions the caller does not")
}

// coversAll checks that the session holds every permission in perms.
func (c *Core) coversAll(ctx context.Context, s Session, caller Caller, perms []string, why string) error {
	mine, err := c.Permissions(ctx, s, caller)
	if err != nil {
		return err
	}
	for _, p := range perms {
		if !slices.Contains(mine, p) {
			return c.deny(ctx, s, caller, "privilege_escalation", p, why+": "+p)
		}
	}
	return nil
}

// mayMint lets a session create, rotate or revoke credentials of
// principal target: its own, unless its credential was narrowed (a scoped
// or source-bound key must not mint an unbounded one for its owner, whatever
// permissions it holds); another's with api-keys-manage and every
// permission the other could hold.
func (c *Core) mayMint(ctx context.Context, s Session, caller Caller, target string) error {
	if target == s.PrincipalID {
		if s.Narrowed {
			return c.deny(ctx, s, caller, "narrowed_credential", "", "a key limited by roles or sources cannot create or change credentials")
		}
		return nil
	}
	if err := c.Authorize(ctx, s, caller, PermAPIKeysManage); err != nil {
		return err
	}
	return c.outranks(ctx, s, caller, target)
}
