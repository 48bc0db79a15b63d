package core

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/crypto"
	"github.com/keyward/keyward/internal/model"
)

// review23Manager adds mgr, a principal whose only permission is
// api-registrations-manage, and returns its session. It does not outrank
// the admin, nor anyone given more than that permission.
func review23Manager(t *testing.T, e *psEnv) Session {
	t.Helper()
	ctx := context.Background()
	now := e.clk.now().UTC()
	p := model.Principal{ID: crypto.NewID(), Account: "acme", Login: "mgr", Kind: model.KindUser, Status: model.StatusActive,
		Source: "local", CreatedAt: now, UpdatedAt: now}
	if err := e.c.st.CreatePrincipal(ctx, p, nil); err != nil {
		t.Fatal(err)
	}
	r, err := e.c.CreateRole(ctx, acc(e.c, e.admin), RoleSpec{Name: "regmgr", Permissions: []string{PermAPIRegistrationsManage}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.SetGrants(ctx, acc(e.c, e.admin), p.ID, []GrantSpec{{RoleID: r.ID, Type: model.GrantPermanent}}); err != nil {
		t.Fatal(err)
	}
	e.ids["mgr"] = p.ID
	return Session{Account: "acme", PrincipalID: p.ID, Login: "mgr", Kind: "user", Level: LevelPassword}
}

func review23AdminRole(t *testing.T, e *psEnv) string {
	t.Helper()
	r, err := e.c.st.GetRoleByName(context.Background(), "acme", AdminRole)
	if err != nil {
		t.Fatal(err)
	}
	return r.ID
}

func review23WantForbidden(t *testing.T, what string, err error) {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) || ce.Kind != Forbidden {
		t.Errorf("%s: err = %v, want Forbidden (the caller does not outrank a principal the registration admits)", what, err)
	}
}

// Finding 1: a registration manager who does not outrank the principals an
// existing registration admits must not read its key, rotate it, loosen its
// rules or options: each hands them a sign-in as that principal.
func TestReview23ManagingAnotherRegistrationNeedsOutrank(t *testing.T) {
	e := newPSEnv(t)
	ctx := context.Background()
	mgr := review23Manager(t, e)
	// The admin's own registrations: one admitting the admin, one running as it.
	g, _ := e.reg(APIRegSpec{Allowed: &[]string{"user:admin"}, Rules: rules(RuleIP, "10.9.9.9"),
		PasswordRequired: ptrTo(true), ClientCertRequired: ptrTo(true)})
	ap, _, err := e.c.CreateAPIRegistration(ctx, acc(e.c, e.admin), APIRegSpec{Name: ptrTo("admin-oauth"),
		Type: model.APIAccessPolicy, RunAs: ptrTo("admin"), Rules: rules(RuleIP, "127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	m := func() *Access { return acc(e.c, mgr) }
	_, err = e.c.ShowAPIRegistrationKey(ctx, m(), g.ID)
	review23WantForbidden(t, "show-key of a registration admitting the admin", err)
	_, err = e.c.RotateAPIRegistrationKey(ctx, m(), g.ID)
	review23WantForbidden(t, "rotate a registration admitting the admin", err)
	_, err = e.c.RotatePSRUNSecret(ctx, m(), g.ID)
	review23WantForbidden(t, "rotate the PSRUN secret of a registration admitting the admin", err)
	_, err = e.c.UpdateAPIRegistration(ctx, m(), g.ID, APIRegSpec{Rules: rules(RuleIP, "0.0.0.0/0"),
		PasswordRequired: ptrTo(false), ClientCertRequired: ptrTo(false), EnforceMFA: ptrTo(false)})
	review23WantForbidden(t, "PATCH rules/options of a registration admitting the admin", err)
	_, err = e.c.ShowAPIRegistrationKey(ctx, m(), ap.ID)
	review23WantForbidden(t, "show-key of an access policy running as the admin", err)
	_, err = e.c.RotateAPIRegistrationKey(ctx, m(), ap.ID)
	review23WantForbidden(t, "rotate an access policy running as the admin", err)
	_, err = e.c.UpdateAPIRegistration(ctx, m(), ap.ID, APIRegSpec{AccessTokenMinutes: ptrTo(1440)})
	review23WantForbidden(t, "PATCH an access policy running as the admin", err)

	// What the manager outranks stays theirs to manage (carol holds no role).
	own, _ := e.reg(APIRegSpec{Allowed: &[]string{"user:carol"}})
	if _, err := e.c.ShowAPIRegistrationKey(ctx, m(), own.ID); err != nil {
		t.Errorf("show-key of a registration admitting only carol: %v", err)
	}
	if _, err := e.c.UpdateAPIRegistration(ctx, m(), own.ID, APIRegSpec{Rules: rules(RuleIP, "127.0.0.2")}); err != nil {
		t.Errorf("PATCH of a registration admitting only carol: %v", err)
	}
}

// Finding 2: allowed/run_as are checked against the manager only when
// written. A principal admitted then and given more since (or created later
// under an admitted name, or a role's later holder) must not be signed in
// through the manager's registration: authenticators keep DefinedBy and check
// authorOutranks at every sign-in; registrations must too.
func TestReview23SignInNeedsAuthorOutranks(t *testing.T) {
	e := newPSEnv(t)
	ctx := context.Background()
	lo := from("127.0.0.1")
	mgr := review23Manager(t, e)
	g, sec, err := e.c.CreateAPIRegistration(ctx, acc(e.c, mgr), APIRegSpec{Name: ptrTo("mgr-reg"), EnforceMFA: ptrTo(false),
		Allowed: &[]string{"user:carol", "user:ghost"}, Rules: rules(RuleIP, "127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	_ = g
	adminRole := review23AdminRole(t, e)
	// carol (enabled, no role at creation) is made an administrator later.
	if _, err := e.c.UpdatePrincipal(ctx, acc(e.c, e.admin), e.ids["carol"], PrincipalPatch{Status: ptrTo(model.StatusActive)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.SetGrants(ctx, acc(e.c, e.admin), e.ids["carol"], []GrantSpec{{RoleID: adminRole, Type: model.GrantPermanent}}); err != nil {
		t.Fatal(err)
	}
	// ghost did not exist when the registration was written.
	now := e.clk.now().UTC()
	ghost := model.Principal{ID: crypto.NewID(), Account: "acme", Login: "ghost", Kind: model.KindUser, Status: model.StatusActive,
		Source: "local", CreatedAt: now, UpdatedAt: now}
	if err := e.c.st.CreatePrincipal(ctx, ghost, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.SetGrants(ctx, acc(e.c, e.admin), ghost.ID, []GrantSpec{{RoleID: adminRole, Type: model.GrantPermanent}}); err != nil {
		t.Fatal(err)
	}
	for _, who := range []string{"carol", "ghost"} {
		in, err := e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: who})
		if err == nil {
			t.Errorf("the manager's key signed in as %s, now an administrator the manager does not outrank (UserName %q)", who, in.UserName)
		}
	}
}

// Finding 3: a session ends when its principal is disabled, even if the
// cookie is not used while the principal is disabled.
// Finding 5: pwd= at SignAppin is a password check like any other: it
// counts toward the login's throttle and is refused while the login is
// throttled (else a registration key is an unthrottled password oracle).
func TestReview23PSAuthPasswordThrottled(t *testing.T) {
	e := newPSEnv(t)
	ctx := context.Background()
	lo := from("127.0.0.1")
	_, sec := e.reg(APIRegSpec{EnforceMFA: ptrTo(false), PasswordRequired: ptrTo(true)})
	for i := 0; i < throttleFailures+2; i++ {
		_, _ = e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "bob", Password: "wrong-" + time.Duration(i).String()})
	}
	if _, err := e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "bob", Password: "bob-secret-1"}); err == nil {
		t.Error("PS-Auth accepted the right password after a run of wrong ones (no throttle)")
	}
	_, err := e.c.Authenticate(ctx, lo, Credential{Kind: CredPassword, Account: "acme", Login: "bob", Secret: "bob-secret-1"})
	var ce *Error
	if !errors.As(err, &ce) || ce.Kind != RateLimited {
		t.Errorf("native password login after %d wrong PS-Auth passwords: err = %v, want RateLimited", throttleFailures+2, err)
	}
}

// Finding 6 (low): a sign-in admitted only through a FLOATING grant is a
func TestReview23SessionEndsOnDisableUnused(t *testing.T) {
	e := newPSEnv(t)
	ctx := context.Background()
	lo := from("127.0.0.1")
	_, sec := e.reg(APIRegSpec{EnforceMFA: ptrTo(false)})
	in, err := e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []string{model.StatusDisabled, model.StatusActive} {
		if _, err := e.c.UpdatePrincipal(ctx, acc(e.c, e.admin), e.ids["bob"], PrincipalPatch{Status: ptrTo(st)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.c.Authenticate(ctx, lo, Credential{Kind: CredPSSession, Account: "acme", Secret: in.Cookie}); err == nil {
		t.Error("a session begun before its principal was disabled still works after it is enabled again")
	}
}
