package core

import (
	"context"
	"math/bits"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/netpolicy"
	"github.com/keyward/keyward/internal/store"
)

// accessService is authorization: what a session may do now (effective),
// what a principal could ever do (potential), the access snapshot, and the
// checks operations run on it (Require, covers, outranks, mayMint), each
// refusal audited. It reads grants and roles through the hot-path cache.
type accessService struct {
	st    store.Store
	now   func() time.Time
	keys  *keyring
	audit *auditor
}

// Permissions a role can hold. Every native route declares one of them (or
// says it is public); the built-in admin role holds them all.
const (
	PermAPIKeysManage          = "api-keys-manage"
	PermAPIKeysVerify          = "api-keys-verify" // a resource server's: verify honours the client address it passes
	PermAuditView              = "audit-view"
	PermAuthenticatorsManage   = "authenticators-manage"
	PermRolesManage            = "roles-manage"
	PermRolesView              = "roles-view"
	PermSigningKeysManage      = "signing-keys-manage"
	PermUsersManage            = "users-manage"
	PermUsersView              = "users-view"
	PermAPIRegistrationsManage = "api-registrations-manage"
)

// allPerms is every permission (sorted, then those added later); a permission's bit in a permSet is
// its index here.
var allPerms = [...]string{PermAPIKeysManage, PermAPIKeysVerify, PermAuditView, PermAuthenticatorsManage, PermRolesManage,
	PermRolesView, PermSigningKeysManage, PermUsersManage, PermUsersView, PermAPIRegistrationsManage}

// AllPermissions lists every permission.
func AllPermissions() []string { return slices.Clone(allPerms[:]) }

// AdminRole is the name of each account's built-in role holding every permission.
const AdminRole = "admin"

// permSet is a set of permissions as bits: computing, comparing and
// checking them allocates nothing.
type permSet uint32

const allPermSet = permSet(1)<<len(allPerms) - 1

func permBit(p string) permSet {
	for i, q := range allPerms {
		if q == p {
			return 1 << i
		}
	}
	return 0
}

func permsOf(ps []string) permSet {
	var s permSet
	for _, p := range ps {
		s |= permBit(p)
	}
	return s
}

func (s permSet) has(p string) bool { b := permBit(p); return b != 0 && s&b == b }

// missing is the first permission of want that s lacks, or "".
func (s permSet) missing(want permSet) string {
	if d := want &^ s; d != 0 {
		return allPerms[bits.TrailingZeros32(uint32(d))]
	}
	return ""
}

func (s permSet) list() []string {
	out := make([]string, 0, bits.OnesCount32(uint32(s)))
	for i, p := range allPerms {
		if s&(1<<i) != 0 {
			out = append(out, p)
		}
	}
	return out
}

// rolePerms is what a role grants: everything for the built-in admin.
func rolePerms(r model.Role) permSet {
	if r.BuiltIn && r.Name == AdminRole {
		return allPermSet
	}
	return permsOf(r.Permissions)
}

// rolePermissions is rolePerms as a list, for answers.
func rolePermissions(r model.Role) []string {
	if r.BuiltIn && r.Name == AdminRole {
		return AllPermissions()
	}
	return r.Permissions
}

// MappedGrantLife is how long a mapped grant (a role a source's groups
// map to) holds after the source login that last confirmed it: the
// directory or IdP decides group membership, and it is asked only at
// logins through the source, so a grant it confirmed long ago is not
// taken on trust (a user removed from the group loses the role within
// this time, whatever credential they use meanwhile). Each source login
// confirms the grants again.
const MappedGrantLife = 12 * time.Hour

// grantHolds reports whether a grant is valid at now. A mapped grant holds
// for MappedGrantLife from its last confirmation (its CreatedAt), on top of
// its type's rule.
func grantHolds(g model.Grant, now time.Time) bool {
	if g.Source == model.GrantMapped && !now.Before(g.CreatedAt.Add(MappedGrantLife)) {
		return false
	}
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

// grantCanHold reports whether a grant holds now or may hold later: a
// period not yet ended, a floating grant not activated or still running.
// Outranking counts these, so a grant that starts in an hour cannot be
// used to take over its holder meanwhile.
func grantCanHold(g model.Grant, now time.Time) bool {
	if g.Type == model.GrantTimeRestricted {
		for _, p := range g.Periods {
			if now.Before(p.End) {
				return true
			}
		}
		return false
	}
	return grantHolds(g, now)
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

// eachGrant is the one walk over a principal's grants, with each grant's
// role (a role deleted under us grants nothing and is skipped). What holds
// is the caller's filter: now (effective), ever again (potential), or a
// role name (authenticators' allowed lists).
func (c *accessService) eachGrant(ctx context.Context, account, principalID string, fn func(g model.Grant, r model.Role)) error {
	grants, err := c.keys.grantsOf(ctx, account, principalID)
	if err != nil {
		return wrapStore(err, "grants")
	}
	for _, g := range grants {
		role, err := c.keys.role(ctx, account, g.RoleID)
		if err != nil {
			continue
		}
		fn(g, role)
	}
	return nil
}

// effective is what the session may do now from caller's address: grants
// valid now, of roles whose context holds, narrowed by the credential's
// scope. It is pure: floating grants it counts that were never used are
// returned for Access to activate.
func (c *accessService) effective(ctx context.Context, s Session, caller Caller, now time.Time) (permSet, []string, error) {
	set, _, pending, err := c.effectiveDurable(ctx, s, caller, now)
	return set, pending, err
}

// effectiveDurable is effective, and the part of it held through
// PERMANENT grants.
func (c *accessService) effectiveDurable(ctx context.Context, s Session, caller Caller, now time.Time) (set, durable permSet, pending []string, err error) {
	err = c.eachGrant(ctx, s.Account, s.PrincipalID, func(g model.Grant, r model.Role) {
		if len(s.Scope) > 0 && !slices.Contains(s.Scope, g.RoleID) || !grantHolds(g, now) || !contextHolds(r.Context, now, caller.ClientIP) {
			return
		}
		if g.Type == model.GrantFloating && g.ActivatedAt == nil {
			pending = append(pending, g.RoleID)
		}
		set |= rolePerms(r)
		if g.Type == model.GrantPermanent {
			durable |= rolePerms(r)
		}
	})
	return set, durable, pending, err
}

// activate starts the clock of floating grants used for the first time:
// an audited write, apart from the (pure) permission computation.
func (c *accessService) activate(ctx context.Context, s Session, caller Caller, pending []string, now time.Time) error {
	for _, roleID := range pending {
		ev := c.audit.event(caller, s.Account, "grant.activate")
		ev.Actor, ev.Subject, ev.KeyID, ev.Detail = s.RoleID(), s.RoleID(), s.KeyID, "role "+roleID
		if err := c.st.ActivateGrant(ctx, s.Account, s.PrincipalID, roleID, now.UTC(), ev); err != nil {
			return wrapStore(err, "grant activation")
		}
		c.keys.forgetPrincipal(s.Account, s.PrincipalID, false)
	}
	return nil
}

// potential is every permission a principal's grants could give, now or
// later, regardless of role context and of any key's scope: what it could
// do at its most privileged.
func (c *accessService) potential(ctx context.Context, account, principalID string, now time.Time) (permSet, error) {
	var set permSet
	err := c.eachGrant(ctx, account, principalID, func(g model.Grant, r model.Role) {
		if grantCanHold(g, now) {
			set |= rolePerms(r)
		}
	})
	return set, err
}

// Access is what one request may do, computed once by the pipeline after
// authentication: the session, the caller, the time of the decision and
// the effective permissions. Core methods check against it and never
// compute permissions again.
type Access struct {
	Session Session
	Caller  Caller
	Now     time.Time
	perms   permSet
	// durable is what the session holds through PERMANENT grants (within
	// its scope): what it may hand on to others for good. A permission
	// held for a while only is not one to grant PERMANENT to a sock puppet.
	durable permSet
	pending []string // floating grants counted but never used: Begin activates them
	// usersOnly makes every principal the access acts on or reads a user:
	// a host's id is answered as one that exists nowhere (UsersOnly).
	usersOnly bool
}

// UsersOnly limits the access to users, for a surface that knows no hosts
// (PrivX): principalIn, the one way to a principal acted on, answers a
// host's id NotFound before any check or change (review r21 F13).
func (a *Access) UsersOnly() { a.usersOnly = true }

// Has reports whether the access holds perm.
func (a *Access) Has(perm string) bool { return a.perms.has(perm) }

// Permissions lists the access's permissions, sorted.
func (a *Access) Permissions() []string { return a.perms.list() }

// Access computes a session's access snapshot, purely: the floating grants
// it counts that were never used are activated by Begin, once the route
// admits the request.
func (c *accessService) Access(ctx context.Context, caller Caller, s Session) (*Access, error) {
	now := c.now()
	set, durable, pending, err := c.effectiveDurable(ctx, s, caller, now)
	if err != nil {
		return nil, err
	}
	return &Access{Session: s, Caller: caller, Now: now, perms: set, durable: durable, pending: pending}, nil
}

// Begin marks the access as used once the route admitted it: the first use
// of a floating grant starts its clock, an audited write. A request refused
// by the route's checks uses nothing.
func (c *accessService) Begin(ctx context.Context, a *Access) error {
	if len(a.pending) == 0 {
		return nil
	}
	if a.Session.Authenticator == psAuthenticator {
		// A PS-Auth session uses only the grants that admitted it (the
		// session use starts those itself): its routes need no
		// permission, so it starts no other floating grant.
		a.pending = nil
		return nil
	}
	err := c.activate(ctx, a.Session, a.Caller, a.pending, a.Now)
	a.pending = nil
	return err
}

// Require checks that the access holds perm; a denial is audited.
func (c *accessService) Require(ctx context.Context, a *Access, perm string) error {
	if a.perms.has(perm) {
		return nil
	}
	return c.deny(ctx, a, ReasonMissingPermission, perm, "permission "+perm+" is required")
}

// Refuse audits a refusal decided by a surface's own rules (event names
// the operation, subject its object) and returns err.
func (c *accessService) Refuse(ctx context.Context, a *Access, event, subject string, err *Error) error {
	ev := fail(c.audit.event(a.Caller, a.Session.Account, event), err.Reason)
	ev.Actor, ev.Subject, ev.KeyID, ev.Authenticator = a.Session.RoleID(), subject, a.Session.KeyID, "authn"
	c.audit.recordFailure(ctx, ev)
	return err
}

// deny audits an authorization refusal and returns the Forbidden error for
// it; detail (a permission) goes to the record only.
func (c *accessService) deny(ctx context.Context, a *Access, reason Reason, detail, msg string) error {
	ev := fail(c.audit.event(a.Caller, a.Session.Account, "authorize"), reason)
	ev.Actor, ev.Detail, ev.KeyID = a.Session.RoleID(), detail, a.Session.KeyID
	ev.Subject = ev.Actor
	c.audit.recordFailure(ctx, ev)
	return forbidden(reason, msg)
}

// covers checks that the access holds every permission in want.
func (c *accessService) covers(ctx context.Context, a *Access, want permSet, why string) error {
	if p := a.perms.missing(want); p != "" {
		return c.deny(ctx, a, ReasonEscalation, p, why+": "+p)
	}
	return nil
}

// outranks checks that the access holds, now, every permission that
// principal target could hold now or later, so managing users or keys cannot
// be turned into taking over someone more privileged (resetting an admin's
// password, minting an admin's key, even one whose admin grant starts in an
// hour). target must already be resolved in the session's account. A
// refusal is audited.
func (c *accessService) outranks(ctx context.Context, a *Access, target model.Principal) error {
	if target.ID == a.Session.PrincipalID && target.Account == a.Session.Account {
		return nil
	}
	theirs, err := c.potential(ctx, target.Account, target.ID, a.Now)
	if err != nil {
		return err
	}
	return c.covers(ctx, a, theirs, "principal holds permissions the caller does not")
}

// mayMint lets an access create, rotate or revoke credentials of principal
// target: its own, unless its credential was narrowed (a scoped or
// source-bound key must not mint an unbounded one for its owner, whatever
// permissions it holds); another's with api-keys-manage and every
// permission the other could hold.
func (c *accessService) mayMint(ctx context.Context, a *Access, target model.Principal) error {
	if err := c.notNarrowed(ctx, a); err != nil {
		return err
	}
	if target.ID == a.Session.PrincipalID {
		return nil
	}
	if err := c.Require(ctx, a, PermAPIKeysManage); err != nil {
		return err
	}
	return c.outranks(ctx, a, target)
}

// managed resolves principal id for a users-manage operation: the
// permission, the principal in the access's account (a foreign id is a
// missing one), and outranking it. Every refusal is audited.
func (c *accessService) managed(ctx context.Context, a *Access, id string) (model.Principal, error) {
	if err := c.Require(ctx, a, PermUsersManage); err != nil {
		return model.Principal{}, err
	}
	target, err := c.principalIn(ctx, a, id)
	if err != nil {
		return model.Principal{}, err
	}
	return target, c.outranks(ctx, a, target)
}

// notNarrowed refuses, audited, a session from a key narrowed by roles or
// sources (or a token minted from one): such a session uses what it was
// given but never makes a credential, a password or a grant, for its owner
// or anyone else, which would shed its limits through a second principal.
func (c *accessService) notNarrowed(ctx context.Context, a *Access) error {
	if a.Session.Narrowed {
		return c.deny(ctx, a, ReasonNarrowedCredential, "", "a key limited by roles or sources cannot create or change credentials or grants")
	}
	return nil
}

// principalIn resolves a principal id in the access's account. An id of
// another account is answered exactly as one that exists nowhere, before
// any outranking or minting check looks at it. It is the one way to a
// principal a session acts on, so a key constrained to customers is
// refused here (audited) for a principal of none of them.
func (c *accessService) principalIn(ctx context.Context, a *Access, id string) (model.Principal, error) {
	p, err := c.st.GetPrincipal(ctx, a.Session.Account, id)
	if err == nil && (p.Account != a.Session.Account || a.usersOnly && p.Kind != model.KindUser) {
		return model.Principal{}, &Error{Kind: NotFound, Msg: "principal " + id + " not found"}
	}
	if err != nil {
		return p, wrapStore(err, "principal "+id)
	}
	return p, c.customerAllows(ctx, a, p)
}

// The customer scope of a session whose key is constrained to customers
// (sessionConstraints.customer, or a token minted from such a key) lives
// here, for every surface: customerSees is the rule, customerAllows applies
// it to a principal acted on or read (principalIn, ReadIdentity),
// customerPage to a listing of principals, customerFiltered to a list
// already read (a role's holders), and accountWide refuses what is about
// the whole account (the audit log).

// customerSees says whether the session may act on or see principal p: no
// customer constraint, p is the session's own principal, or p's customer
// is listed (a principal without a customer is in no list).
func customerSees(a *Access, p model.Principal) bool {
	return len(a.Session.Customers) == 0 || p.ID == a.Session.PrincipalID && p.Account == a.Session.Account ||
		p.Customer != "" && slices.Contains(a.Session.Customers, p.Customer)
}

// CustomerSees reports whether the access may see principal p under its
// key's customer limit (always, without one). For a surface that must
// answer a principal the session may not see exactly as a missing one; it
// audits nothing (the surface's refusal, through Refuse, does).
func (c *accessService) CustomerSees(a *Access, p model.Principal) bool { return customerSees(a, p) }

// customerPage limits a listing of principals to what the session sees.
func customerPage(a *Access, page store.Page) store.Page {
	if len(a.Session.Customers) > 0 {
		page.Customers, page.Self = slices.Clone(a.Session.Customers), a.Session.PrincipalID
	}
	return page
}

// customerFiltered keeps the principals the session sees.
func customerFiltered(a *Access, ps []model.Principal) []model.Principal {
	return slices.DeleteFunc(ps, func(p model.Principal) bool { return !customerSees(a, p) })
}

// accountWide refuses, audited, a customer-limited session an action (verb:
// "read", "rotate", "change") on something of the whole account (what, e.g.
// "the audit log", the audit detail): it spans every customer.
func (c *accessService) accountWide(ctx context.Context, a *Access, verb, what string) error {
	if len(a.Session.Customers) == 0 {
		return nil
	}
	return c.deny(ctx, a, ReasonCustomer, what, "a key limited to customers cannot "+verb+" "+what)
}

// customerAllows refuses, audited, a session whose key is constrained to
// customers acting on a principal that belongs to none of them (a
// principal without a customer is in no list); acting on itself is always
// allowed.
func (c *accessService) customerAllows(ctx context.Context, a *Access, p model.Principal) error {
	if customerSees(a, p) {
		return nil
	}
	ev := fail(c.audit.event(a.Caller, a.Session.Account, "authorize"), ReasonCustomer)
	ev.Actor, ev.Subject, ev.KeyID, ev.Detail = a.Session.RoleID(), p.RoleID(), a.Session.KeyID, "customer "+p.Customer
	c.audit.recordFailure(ctx, ev)
	return forbidden(ReasonCustomer, "the key may act only on users of its customers")
}

// customerAssign refuses, audited, a customer-limited session setting a
// principal's customer to one it is not limited to, or to none: assigning
// a customer decides that customer's membership, which only a session of
// that customer (or an unlimited one) may (UpdatePrincipal, CreatePrincipal).
func (c *accessService) customerAssign(ctx context.Context, a *Access, customer string) error {
	if len(a.Session.Customers) == 0 || customer != "" && slices.Contains(a.Session.Customers, customer) {
		return nil
	}
	return c.deny(ctx, a, ReasonCustomer, "customer "+customer,
		"a key limited to customers can set a user's customer only to one of its own")
}

// joinDetail renders a short, secret-free audit detail.
func joinDetail(parts ...string) string { return strings.Join(parts, "; ") }

// Outranks is outranks for the surfaces whose own rules act on a principal
// (Conjur's credentials routes): a refusal is audited.
func (c *accessService) Outranks(ctx context.Context, a *Access, target model.Principal) error {
	return c.outranks(ctx, a, target)
}
