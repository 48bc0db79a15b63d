package core

import (
	"context"
	"fmt"

	"github.com/keyward/keyward/internal/crypto"
	"github.com/keyward/keyward/internal/model"
)

// Initialized reports whether any account exists.
func (c *principalService) Initialized(ctx context.Context) (bool, error) {
	as, err := c.st.ListAccounts(ctx)
	if err != nil {
		return false, fmt.Errorf("list accounts: %w", err)
	}
	return len(as) > 0, nil
}

// Bootstrap creates an account with its built-in admin role, an admin user
// holding it and its first token signing key, and returns the admin's API
// key. An account that exists already is a Conflict and nothing changes.
func (c *principalService) Bootstrap(ctx context.Context, caller Caller, account string) (string, error) {
	if err := ValidateLogin(account); err != nil || len(account) > 64 {
		return "", invalid("account", "account names are 1 to 64 letters, digits and / @ . - _")
	}
	now := c.now().UTC()
	ev := c.audit.event(caller, account, "account.create")
	ev.Actor = account + ":user:admin"
	ev.Subject = ev.Actor
	if err := c.st.CreateAccount(ctx, model.Account{Name: account, CreatedAt: now}, ev); err != nil {
		return "", wrapStore(err, "account "+account)
	}
	role := model.Role{ID: crypto.NewID(), Account: account, Name: AdminRole, Description: "Built-in: every permission",
		Permissions: AllPermissions(), BuiltIn: true, CreatedAt: now, UpdatedAt: now}
	rev := ev
	rev.Event = "role.create"
	rev.Subject = account + ":role:admin"
	if err := c.st.CreateRole(ctx, role, rev); err != nil {
		return "", wrapStore(err, "role admin")
	}
	admin, err := c.newPrincipal(ctx, account, PrincipalSpec{Login: "admin", Kind: "user", DisplayName: "Administrator"})
	if err != nil {
		return "", err
	}
	key, k := c.newConjurKey(admin)
	uev := ev
	uev.Event, uev.KeyID = "user.create", k.ID
	if err := c.st.CreatePrincipal(ctx, admin, &k, uev); err != nil {
		return "", wrapStore(err, "admin user")
	}
	gev := ev
	gev.Event = "grant.set"
	grant := model.Grant{Account: account, PrincipalID: admin.ID, RoleID: role.ID, Source: model.GrantExplicit, Type: model.GrantPermanent, CreatedAt: now}
	if err := c.st.SetGrants(ctx, account, admin.ID, model.GrantExplicit, []model.Grant{grant}, gev); err != nil {
		return "", wrapStore(err, "admin grant")
	}
	c.keys.refreshKey(ctx, k.ID)
	if err := c.tokenSvc.createSigningKey(ctx, ev); err != nil {
		return "", err
	}
	return key, nil
}

// RecoverAdmin gives an account's built-in admin a new API key in place of
// its Conjur API key (the one init printed), for an operator who lost it:
// keyward admin recover, run on the store with no server holding it. The
// old key stops working at once. Audited as admin.recover by "operator".
func (c *keyService) RecoverAdmin(ctx context.Context, caller Caller, account string) (string, error) {
	admin, err := c.st.GetPrincipalByLogin(ctx, account, model.KindUser, "admin")
	if err != nil {
		return "", wrapStore(err, "account "+account+"'s admin")
	}
	k, err := c.st.GetConjurKey(ctx, account, admin.ID)
	if err != nil {
		return "", wrapStore(err, "admin API key")
	}
	ev := c.audit.event(caller, account, "admin.recover")
	ev.Actor, ev.Subject, ev.KeyID = "operator", admin.RoleID(), k.ID
	_, key, err := c.rotate(ctx, k.ID, 0, ev, "")
	return key, err
}
