package core

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

// VerifyConjurToken turns a presented Conjur access token into a session
// whose Level is LevelToken, whatever credential the token was issued for:
// Conjur lets a token act, but never change its own credentials ("Credential
// strength is insufficient"), so the Conjur surface must know the session
// came from a token.
func (c *Core) VerifyConjurToken(ctx context.Context, caller Caller, token string) (Session, error) {
	s, err := c.VerifyToken(ctx, caller, token)
	if err != nil {
		return Session{}, err
	}
	s.Level = LevelToken
	return s, nil
}

// ConjurRole is a Conjur role id (account:kind:id) resolved in keyward: a
// user or host (an actor, with credentials), or a keyward role named by a
// Conjur group, layer or policy id (no credentials).
type ConjurRole struct {
	ID        string // account:kind:id
	Account   string
	Principal model.Principal
	Actor     bool
}

// Reasons of the Conjur credentials refusals, for the surface's error table.
const (
	ReasonRoleNotFound   = "role_not_found"
	ReasonNotApplicable  = "not_applicable"
	ReasonForeignRole    = "foreign_role"
	ReasonCredStrength   = "credential_strength"
	credentialStrengthMs = "Credential strength is insufficient"
)

// notFoundConjur is Conjur's CONJ00123E answer: the same for a role that
// does not exist and one the caller may not see.
func notFoundConjur(resource, requester string) *Error {
	return &Error{Kind: NotFound, Reason: ReasonRoleNotFound,
		Msg: "CONJ00123E Resource '" + resource + "' requested by role '" + requester + "' not found"}
}

// FindConjurRole resolves the role parameter of Conjur's credentials routes:
// kind:id, or account:kind:id (account defaults to the route's). A role
// that does not exist is NotFound with Conjur's CONJ00123E message naming
// the parameter as given and the session's role.
func (c *Core) FindConjurRole(ctx context.Context, s Session, account, param string) (ConjurRole, error) {
	parts := strings.Split(param, ":")
	var acct, kind, id string
	switch len(parts) {
	case 2:
		acct, kind, id = account, parts[0], parts[1]
	case 3:
		acct, kind, id = parts[0], parts[1], parts[2]
	default:
		return ConjurRole{}, notFoundConjur(param, s.RoleID())
	}
	if acct == "" || id == "" {
		return ConjurRole{}, notFoundConjur(param, s.RoleID())
	}
	full := acct + ":" + kind + ":" + id
	switch kind {
	case string(model.KindUser), string(model.KindHost):
		p, err := c.st.GetPrincipalByLogin(ctx, acct, model.Kind(kind), id)
		if errors.Is(err, store.ErrNotFound) {
			return ConjurRole{}, notFoundConjur(param, s.RoleID())
		}
		if err != nil {
			return ConjurRole{}, wrapStore(err, "role "+full)
		}
		return ConjurRole{ID: full, Account: acct, Principal: p, Actor: true}, nil
	case "group", "layer", "policy":
		_, err := c.st.GetRoleByName(ctx, acct, id)
		if errors.Is(err, store.ErrNotFound) {
			return ConjurRole{}, notFoundConjur(param, s.RoleID())
		}
		if err != nil {
			return ConjurRole{}, wrapStore(err, "role "+full)
		}
		return ConjurRole{ID: full, Account: acct}, nil
	}
	return ConjurRole{}, notFoundConjur(param, s.RoleID())
}

// SelfRole is the session's own role, for credentials requests naming none.
func (c *Core) SelfRole(ctx context.Context, s Session) (ConjurRole, error) {
	p, err := c.st.GetPrincipal(ctx, s.Account, s.PrincipalID)
	if err != nil {
		return ConjurRole{}, wrapStore(err, "role "+s.RoleID())
	}
	return ConjurRole{ID: p.RoleID(), Account: p.Account, Principal: p, Actor: true}, nil
}

// CredentialOp is what a Conjur credentials request does to its target.
type CredentialOp int

// Credential operations.
const (
	OpRotate       CredentialOp = iota // PUT api_key
	OpReadRotation                     // GET api_key
	OpPassword                         // PUT password
)

// AuthorizeConjurCredentials applies Conjur's credentials-controller rules,
// in its order, to session s acting on target:
//   - a token acting on its own role: Unauthenticated, "Credential strength
//     is insufficient" (only a password or API key may change credentials);
//   - the password route acts only on the caller itself, and Basic
//     credentials only on themselves: Unauthenticated (foreign role);
//   - a token acting on another role must see it (users-view or
//     users-manage for users and hosts, roles-view or roles-manage for
//     roles), else NotFound with CONJ00123E; a role it may only read without
//     credentials, or an actor it may not update (users-manage), is
//     Forbidden;
//   - a role without credentials is not applicable (Invalid, reason
//     not_applicable, Conjur's 405 CONJ00126E).
//
// Every refusal is audited.
func (c *Core) AuthorizeConjurCredentials(ctx context.Context, s Session, caller Caller, target ConjurRole, op CredentialOp) error {
	self := target.Actor && target.Principal.ID == s.PrincipalID && target.Account == s.Account
	token := s.Level == LevelToken
	ev := c.event(caller, s.Account, map[CredentialOp]string{OpRotate: "rotate", OpReadRotation: "apikey.rotation", OpPassword: "password"}[op])
	ev.Actor, ev.Subject, ev.Authenticator = s.RoleID(), target.ID, "authn"
	refuse := func(reason string, err *Error) error {
		c.recordFailure(ctx, fail(ev, reason))
		return err
	}
	if token && self {
		return refuse(ReasonCredStrength, &Error{Kind: Unauthenticated, Reason: ReasonCredStrength, Msg: credentialStrengthMs})
	}
	if !self && (op == OpPassword || !token) {
		return refuse(ReasonForeignRole, &Error{Kind: Unauthenticated, Reason: ReasonForeignRole, Msg: "operation attempted against foreign role"})
	}
	if !self {
		perms, err := c.Permissions(ctx, s, caller)
		if err != nil {
			return err
		}
		has := func(p string) bool { return slices.Contains(perms, p) }
		read, update := has(PermUsersView), has(PermUsersManage)
		if !target.Actor {
			read, update = has(PermRolesView), has(PermRolesManage)
		}
		switch {
		case target.Account != s.Account, !read && !update:
			return refuse("not_visible", notFoundConjur(target.ID, s.RoleID()))
		case !target.Actor && read:
			return refuse("missing_permission", forbidden("missing_permission", "role may only read "+target.ID))
		case !update:
			return refuse("missing_permission", forbidden("missing_permission", "role may not update "+target.ID))
		}
		if target.Actor {
			if err := c.outranks(ctx, s, caller, target.Principal.ID); err != nil {
				return err
			}
		}
	}
	if !target.Actor {
		return refuse(ReasonNotApplicable, &Error{Kind: Invalid, Reason: ReasonNotApplicable,
			Msg: "CONJ00126E Role '" + target.ID + "' is not applicable for key rotation"})
	}
	return nil
}

// ConjurKeyRotatedAt returns when a principal's Conjur API key last
// changed (its rotation, else its creation): Conjur's "last rotated" time.
func (c *Core) ConjurKeyRotatedAt(ctx context.Context, p model.Principal) (time.Time, error) {
	k, err := c.st.GetConjurKey(ctx, p.Account, p.ID)
	if err != nil {
		return time.Time{}, wrapStore(err, "API key")
	}
	if k.RotatedAt != nil {
		return k.RotatedAt.UTC(), nil
	}
	return k.CreatedAt.UTC(), nil
}
