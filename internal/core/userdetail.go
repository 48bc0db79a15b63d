package core

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

// GrantInfo is one role a principal holds, by an explicit grant, a mapped
// one or both, and whether it is in effect now for the request (grant
// valid, role context holding for the request's client address).
type GrantInfo struct {
	Role model.Role
	// Grant is the explicit grant when there is one, else the mapped one.
	Grant              model.Grant
	Explicit, Implicit bool
	InEffect           bool
}

// UserDetail is a principal with every grant (in role-name order), the
// permissions in effect now (sorted) and its authorized SSH keys.
type UserDetail struct {
	Principal      model.Principal
	Grants         []GrantInfo
	Permissions    []string
	AuthorizedKeys []model.AuthorizedKey
}

// InEffect returns the grants in effect now.
func (d UserDetail) InEffect() []GrantInfo {
	out := make([]GrantInfo, 0, len(d.Grants))
	for _, g := range d.Grants {
		if g.InEffect {
			out = append(out, g)
		}
	}
	return out
}

// GetUserDetail returns principal id with its grants, the permissions in
// effect now for this request and its authorized keys: users-view, or the
// principal itself.
func (c *principalService) GetUserDetail(ctx context.Context, a *Access, id string) (UserDetail, error) {
	if id != a.Session.PrincipalID {
		if err := c.access.Require(ctx, a, PermUsersView); err != nil {
			return UserDetail{}, err
		}
	}
	p, err := c.access.principalIn(ctx, a, id)
	if err != nil {
		return UserDetail{}, err
	}
	return c.detail(ctx, a, p)
}

func (c *principalService) detail(ctx context.Context, a *Access, p model.Principal) (UserDetail, error) {
	d := UserDetail{Principal: p}
	gs, err := c.st.ListGrants(ctx, p.Account, p.ID)
	if err != nil {
		return UserDetail{}, wrapStore(err, "grants")
	}
	byRole := map[string]int{}
	var perms permSet
	for _, g := range gs {
		role, err := c.keys.role(ctx, p.Account, g.RoleID)
		if err != nil {
			continue
		}
		on := grantHolds(g, a.Now) && contextHolds(role.Context, a.Now, a.Caller.ClientIP)
		if on {
			perms |= rolePerms(role)
		}
		i, seen := byRole[g.RoleID]
		if !seen {
			i = len(d.Grants)
			byRole[g.RoleID] = i
			d.Grants = append(d.Grants, GrantInfo{Role: withAdminPerms(role), Grant: g})
		}
		gi := &d.Grants[i]
		if g.Source == model.GrantExplicit {
			gi.Explicit, gi.Grant = true, g
		} else {
			gi.Implicit = true
		}
		gi.InEffect = gi.InEffect || on
	}
	slices.SortFunc(d.Grants, func(x, y GrantInfo) int {
		if c := strings.Compare(strings.ToLower(x.Role.Name), strings.ToLower(y.Role.Name)); c != 0 {
			return c
		}
		return strings.Compare(x.Role.ID, y.Role.ID)
	})
	d.Permissions = perms.list()
	slices.Sort(d.Permissions) // the list is in bit order, new permissions last
	ks, err := c.st.ListAuthorizedKeys(ctx, p.Account, p.ID)
	if err != nil {
		return UserDetail{}, wrapStore(err, "authorized keys")
	}
	d.AuthorizedKeys = ks
	return d, nil
}

// UserQuery selects users: each keyword (whitespace-separated, any case)
// must occur in the login, email, full name or the first_name or last_name
// attribute; IDs (when not nil) and Source narrow. Criteria AND together.
type UserQuery struct {
	Keywords string
	IDs      []string
	Source   string
}

// UserPage orders and pages a user list: by login ignoring case (or
// creation time), ties by id; Limit 0 means all.
type UserPage struct {
	ByCreated, Desc bool
	Limit, Offset   int
}

// SearchUsers returns one page of the users matching q and how many match
// (users-view). A session constrained to customers sees only the users of
// its customers and itself (customerSees), as in every listing.
func (c *principalService) SearchUsers(ctx context.Context, a *Access, q UserQuery, pg UserPage) ([]model.Principal, int, error) {
	if err := c.access.Require(ctx, a, PermUsersView); err != nil {
		return nil, 0, err
	}
	return c.searchUsers(ctx, a, q, pg)
}

// RoleMembers returns one page of the users holding role id by any grant
// and how many do (roles-view).
func (c *principalService) RoleMembers(ctx context.Context, a *Access, id string, pg UserPage) ([]model.Principal, int, error) {
	if err := c.access.Require(ctx, a, PermRolesView); err != nil {
		return nil, 0, err
	}
	if _, err := c.st.GetRole(ctx, a.Session.Account, id); err != nil {
		return nil, 0, wrapStore(err, "role "+id)
	}
	ids, err := c.st.RoleHolders(ctx, a.Session.Account, id)
	if err != nil {
		return nil, 0, wrapStore(err, "role members")
	}
	if ids == nil {
		ids = []string{}
	}
	// Through the search index: only the page's rows are read by id.
	return c.searchUsers(ctx, a, UserQuery{IDs: ids}, pg)
}

// MemberCount is how many principals hold a role, by any grant and by an
// explicit one.
type MemberCount = store.MemberCount

// RoleMemberCounts counts each role's holders in the caller's account:
// numbers only, shown with every role object a caller may see (a user's
// own grants included), so it needs no permission. A customer-limited
// session gets none (every count zero): the account's counts include the
// holders of every customer.
func (c *principalService) RoleMemberCounts(ctx context.Context, a *Access) (map[string]MemberCount, error) {
	if len(a.Session.Customers) > 0 {
		return map[string]MemberCount{}, nil
	}
	m, err := c.st.RoleMemberCounts(ctx, a.Session.Account)
	return m, wrapStore(err, "role members")
}

// SetSettings stores a principal's settings verbatim: a JSON object. The
// principal itself may; another needs users-manage and to outrank it.
func (c *principalService) SetSettings(ctx context.Context, a *Access, id string, settings json.RawMessage) (model.Principal, error) {
	var target model.Principal
	var err error
	if id == a.Session.PrincipalID {
		target, err = c.access.principalIn(ctx, a, id)
	} else {
		target, err = c.access.managed(ctx, a, id)
	}
	if err != nil {
		return model.Principal{}, err
	}
	trimmed := bytes.TrimSpace(settings)
	if len(trimmed) == 0 || trimmed[0] != '{' || !json.Valid(trimmed) {
		return model.Principal{}, invalid("settings", "settings must be a JSON object")
	}
	now := c.now().UTC()
	ev := c.audit.event(a.Caller, a.Session.Account, "user.update")
	ev.Actor, ev.Subject, ev.KeyID, ev.Detail = a.Session.RoleID(), target.RoleID(), a.Session.KeyID, "fields settings"
	p, err := c.st.UpdatePrincipal(ctx, a.Session.Account, id, func(p model.Principal) (model.Principal, error) {
		p.Settings = append(json.RawMessage(nil), trimmed...)
		p.UpdatedAt, p.UpdatedBy = now, a.Session.PrincipalID
		return p, nil
	}, ev)
	if err != nil {
		return model.Principal{}, wrapStore(err, "principal "+id)
	}
	c.keys.forgetPrincipal(a.Session.Account, id, false)
	return p, nil
}
