package core

import (
	"context"
	"errors"
	"testing"

	"github.com/keyward/keyward/internal/crypto"
	"github.com/keyward/keyward/internal/model"
)

// TestFix23bSessionUseChecksXFF: a registration with an xff rule checks
// the X-Forwarded-For lines of every session use too (review r23b, B).
func TestFix23bSessionUseChecksXFF(t *testing.T) {
	e := newPSEnv(t)
	ctx := context.Background()
	lo := from("127.0.0.1")
	_, sec := e.reg(APIRegSpec{EnforceMFA: ptrTo(false), Rules: rules(RuleIP, "127.0.0.1", RuleXFF, "192.0.2.0/24")})
	in, err := e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "bob", XFF: []string{"192.0.2.7"}})
	if err != nil {
		t.Fatal(err)
	}
	use := func(xff ...string) error {
		_, err := e.c.Authenticate(ctx, lo, Credential{Kind: CredPSSession, Account: "acme", Secret: in.Cookie, PS: &PSAuthProof{XFF: xff}})
		return err
	}
	for _, xff := range [][]string{nil, {"198.51.100.1"}, {"192.0.2.7, 192.0.2.8"}} {
		var ce *Error
		if err := use(xff...); !errors.As(err, &ce) || ce.Kind != Unauthenticated {
			t.Errorf("session use with X-Forwarded-For %q: %v, want a refusal", xff, err)
		}
	}
	if err := use("192.0.2.9"); err != nil {
		t.Errorf("session use from an allowed X-Forwarded-For: %v", err)
	}
}

// TestFix23bKeyHolders: an audited read makes the reader a holder (the
// sessions live on); a rotation leaves the rotator alone; a PATCH keeps
// the holders (review r23b, A).
func TestFix23bKeyHolders(t *testing.T) {
	e := newPSEnv(t)
	ctx := context.Background()
	lo := from("127.0.0.1")
	mgr := review23Manager(t, e)
	now := e.clk.now().UTC()
	frank := model.Principal{ID: crypto.NewID(), Account: "acme", Login: "frank", Kind: model.KindUser, Status: model.StatusActive,
		Source: "local", CreatedAt: now, UpdatedAt: now}
	if err := e.c.st.CreatePrincipal(ctx, frank, nil); err != nil {
		t.Fatal(err)
	}
	g, sec := e.reg(APIRegSpec{EnforceMFA: ptrTo(false), Allowed: &[]string{"user:frank"}})
	in, err := e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "frank"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.ShowAPIRegistrationKey(ctx, acc(e.c, mgr), g.ID); err != nil {
		t.Fatal(err)
	}
	got, _ := e.c.st.GetAPIRegistration(ctx, "acme", g.ID)
	if len(got.KeyHolders) != 2 || got.KeyHolders[1] != mgr.PrincipalID || got.Version != g.Version {
		t.Fatalf("after the manager's read: holders %v, version %d (was %d)", got.KeyHolders, got.Version, g.Version)
	}
	if _, err := e.c.Authenticate(ctx, lo, Credential{Kind: CredPSSession, Account: "acme", Secret: in.Cookie}); err != nil {
		t.Errorf("a key read ended the registration's session: %v", err)
	}
	if _, err := e.c.UpdateAPIRegistration(ctx, acc(e.c, e.admin), g.ID, APIRegSpec{Name: ptrTo("renamed")}); err != nil {
		t.Fatal(err)
	}
	got, _ = e.c.st.GetAPIRegistration(ctx, "acme", g.ID)
	if len(got.KeyHolders) != 2 {
		t.Errorf("a PATCH dropped a holder of the unchanged key: %v", got.KeyHolders)
	}
	if _, err := e.c.RotateAPIRegistrationKey(ctx, acc(e.c, e.admin), g.ID); err != nil {
		t.Fatal(err)
	}
	got, _ = e.c.st.GetAPIRegistration(ctx, "acme", g.ID)
	if len(got.KeyHolders) != 1 || got.KeyHolders[0] != e.admin.PrincipalID {
		t.Errorf("after the admin's rotation: holders %v, want only the admin", got.KeyHolders)
	}
}

// TestFix23bKeyHolderRefusalAndRotation: a holder that no longer outranks
// the run-as refuses the sign-in with key_holder_not_outranks; an
// administrator's rotation lifts it (review r23b, A).
func TestFix23bKeyHolderRefusalAndRotation(t *testing.T) {
	e := newPSEnv(t)
	ctx := context.Background()
	lo := from("127.0.0.1")
	mgr := review23Manager(t, e)
	adminRole := review23AdminRole(t, e)
	if _, err := e.c.UpdatePrincipal(ctx, acc(e.c, e.admin), e.ids["carol"], PrincipalPatch{Status: ptrTo(model.StatusActive)}); err != nil {
		t.Fatal(err)
	}
	g, _ := e.reg(APIRegSpec{EnforceMFA: ptrTo(false), Allowed: &[]string{"user:carol"}})
	if _, err := e.c.ShowAPIRegistrationKey(ctx, acc(e.c, mgr), g.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.SetGrants(ctx, acc(e.c, e.admin), e.ids["carol"], []GrantSpec{{RoleID: adminRole, Type: model.GrantPermanent}}); err != nil {
		t.Fatal(err)
	}
	sec, err := e.c.ShowAPIRegistrationKey(ctx, acc(e.c, e.admin), g.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "carol"})
	var ce *Error
	if !errors.As(err, &ce) || ce.Reason != ReasonKeyHolderNotOutranks {
		t.Fatalf("sign-in with a key a lesser manager holds: %v, want %s", err, ReasonKeyHolderNotOutranks)
	}
	rot, err := e.c.RotateAPIRegistrationKey(ctx, acc(e.c, e.admin), g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.sign(lo, PSAuthProof{Key: rot.Key, RunAs: "carol"}); err != nil {
		t.Errorf("after the administrator's rotation: %v", err)
	}
}

// TestFix23bAccessPolicyRefusesPSRUNRule: create and PATCH of an access
// policy refuse a psrun rule (400 rules; review r23b, H).
func TestFix23bAccessPolicyRefusesPSRUNRule(t *testing.T) {
	e := newPSEnv(t)
	ctx := context.Background()
	spec := APIRegSpec{Name: ptrTo("oauth"), Type: model.APIAccessPolicy, RunAs: ptrTo("bob"), Rules: rules(RulePSRUN, "0.0.0.0/0")}
	var ce *Error
	if _, _, err := e.c.CreateAPIRegistration(ctx, acc(e.c, e.admin), spec); !errors.As(err, &ce) || ce.Field != "rules" {
		t.Fatalf("create with a psrun rule: %v, want 400 rules", err)
	}
	spec.Rules = rules(RuleIP, "127.0.0.1")
	g, _, err := e.c.CreateAPIRegistration(ctx, acc(e.c, e.admin), spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.UpdateAPIRegistration(ctx, acc(e.c, e.admin), g.ID, APIRegSpec{Rules: rules(RuleIP, "127.0.0.1", RulePSRUN, "10.0.0.0/8")}); !errors.As(err, &ce) || ce.Field != "rules" {
		t.Errorf("PATCH adding a psrun rule: %v, want 400 rules", err)
	}
}
