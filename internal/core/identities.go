package core

import (
	"context"
	"errors"
	"sort"

	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

// Identity is one user, host or role read by name, with what a caller may
// see of it: a principal, or a role (Conjur's group) with the principals
// holding it by any grant.
type Identity struct {
	Principal model.Principal // set for KindUser and KindHost
	Role      *model.Role     // set for a role
	Holders   []model.Principal
}

// KindRole names a role where identities are read by kind (Conjur's group).
const KindRole = "role"

// ReadIdentity reads a user, host or role by account, kind and name for the
// caller, seeing only what the native API would show it: a principal needs
// users-view, unless it is the caller itself; a role needs roles-view and,
// since its holders are principals, users-view. Anything the caller may not
// see answers exactly as what does not exist (NotFound, ReasonNotVisible),
// decided before anything is looked up, so neither the answer nor its time
// tells whether it exists; each such refusal is audited. Another account is
// not visible either. A customer-limited session sees only principals of
// its customers (and itself): another is answered as missing (audited
// customer_not_allowed), and a role's holders are filtered alike.
func (c *principalService) ReadIdentity(ctx context.Context, a *Access, account, kind, name string) (Identity, error) {
	s := a.Session
	hidden := func(detail string) (Identity, error) {
		ev := fail(c.audit.event(a.Caller, s.Account, "identity.read"), ReasonNotVisible)
		ev.Actor, ev.Subject, ev.KeyID, ev.Detail = s.RoleID(), account+":"+kind+":"+name, s.KeyID, detail
		c.audit.recordFailure(ctx, ev)
		return Identity{}, notVisible()
	}
	if account != s.Account {
		return hidden("another account")
	}
	switch kind {
	case string(model.KindUser), string(model.KindHost):
		self := kind == s.Kind && name == bareLogin(s.Login)
		if !self && !a.Has(PermUsersView) {
			return hidden("needs " + PermUsersView)
		}
		p, err := c.st.GetPrincipalByLogin(ctx, account, model.Kind(kind), name)
		if err != nil {
			return Identity{}, lookupErr(err, "principal")
		}
		if err := c.access.customerAllows(ctx, a, p); err != nil {
			return Identity{}, notVisible() // audited as customer_not_allowed, answered as missing
		}
		return Identity{Principal: p}, nil
	case KindRole:
		if !a.Has(PermRolesView) || !a.Has(PermUsersView) {
			return hidden("needs " + PermRolesView + " and " + PermUsersView)
		}
		r, err := c.st.GetRoleByName(ctx, account, name)
		if err != nil {
			return Identity{}, lookupErr(err, "role")
		}
		ids, err := c.st.RoleHolders(ctx, account, r.ID)
		if err != nil {
			return Identity{}, wrapStore(err, "role holders")
		}
		out := Identity{Role: &r}
		for _, id := range ids {
			p, err := c.st.GetPrincipal(ctx, account, id)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return Identity{}, wrapStore(err, "principal")
			}
			out.Holders = append(out.Holders, p)
		}
		out.Holders = customerFiltered(a, out.Holders)
		sort.Slice(out.Holders, func(i, j int) bool { return out.Holders[i].RoleID() < out.Holders[j].RoleID() })
		return out, nil
	}
	return Identity{}, &Error{Kind: NotImplemented, Reason: ReasonNotImplemented, Msg: "keyward holds users, hosts and roles, not " + kind + "s"}
}

// bareLogin is a session's login without Conjur's host/ prefix.
func bareLogin(login string) string {
	_, bare := splitLogin(login)
	return bare
}

func notVisible() *Error {
	return &Error{Kind: NotFound, Reason: ReasonNotVisible, Msg: "not found"}
}

// lookupErr is a lookup's error: a missing object is NotFound, exactly as a
// hidden one.
func lookupErr(err error, what string) error {
	if errors.Is(err, store.ErrNotFound) {
		return notVisible()
	}
	return wrapStore(err, what)
}
