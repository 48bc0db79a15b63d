package core

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/crypto"
)

// TestPrincipalService: a principalService (with the key, token and access
// services it calls) bootstraps an account once, with its admin, Conjur key
// and signing key; a users-manager cannot grant or act beyond what it
// holds; and a password change leaves the Conjur key alone, and is refused to a token.
func TestPrincipalService(t *testing.T) {
	ctx := context.Background()
	st, sealer := testStore(t)
	clk := &clock{t: time.Date(2030, 1, 7, 12, 0, 0, 0, time.UTC)}
	tk, err := loadTokenKeys(ctx, st, sealer, clk.now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	keys := newKeyring(st)
	rec := runAuditor(t, st, clk.now)
	bc := newBcryptPool(1, 4)
	bc.start()
	t.Cleanup(bc.close)
	access := &accessService{st: st, now: clk.now, keys: keys, audit: rec}
	svc := &principalService{st: st, sealer: sealer, now: clk.now, bcrypt: bc, keys: keys, audit: rec, access: access,
		keySvc:   &keyService{st: st, sealer: sealer, now: clk.now, keys: keys, touches: newToucher(st, rec.log), audit: rec, access: access},
		tokenSvc: &tokenService{st: st, sealer: sealer, now: clk.now, tokenTTL: time.Minute, tokens: tk, keys: keys, audit: rec, access: access}}

	if ok, err := svc.Initialized(ctx); ok || err != nil {
		t.Fatalf("an empty store is initialized: %v %v", ok, err)
	}
	adminKey, err := svc.Bootstrap(ctx, Caller{RequestID: "init"}, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Bootstrap(ctx, Caller{RequestID: "init"}, "acme"); AsError(err).Kind != Conflict {
		t.Fatalf("a second bootstrap: %v, want Conflict", err)
	}
	admin, err := svc.FindPrincipal(ctx, "acme", "admin")
	if err != nil {
		t.Fatal(err)
	}
	id, _, _ := crypto.ParseAPIKey(adminKey)
	if e, ok := keys.key(id); !ok || !e.conjur || e.principalID != admin.ID {
		t.Fatalf("admin's Conjur key in the cache: %+v %v", e, ok)
	}
	if _, ok := tk.signer("acme"); !ok {
		t.Fatal("bootstrap made no signing key for acme")
	}
	adminAcc, _ := access.Access(ctx, loopback, Session{Account: "acme", PrincipalID: admin.ID, Login: "admin", Kind: "user", Level: LevelKey})
	if !adminAcc.Has(PermSigningKeysManage) {
		t.Fatalf("admin's permissions %v", adminAcc.Permissions())
	}

	// A users-manager: may create users, not give or touch what it lacks.
	role, err := svc.CreateRole(ctx, adminAcc, RoleSpec{Name: "people", Permissions: []string{PermUsersManage, PermUsersView}})
	if err != nil {
		t.Fatal(err)
	}
	pw := "Correct-Horse-42x"
	mgr, _, err := svc.CreatePrincipal(ctx, adminAcc, PrincipalSpec{Login: "mgr", Password: &pw})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetGrants(ctx, adminAcc, mgr.ID, []GrantSpec{{RoleID: role.ID}}); err != nil {
		t.Fatal(err)
	}
	mgrSession := Session{Account: "acme", PrincipalID: mgr.ID, Login: "mgr", Kind: "user", Level: LevelKey}
	mgrAcc, _ := access.Access(ctx, loopback, mgrSession)
	adminRole, _ := st.GetRoleByName(ctx, "acme", AdminRole)
	if _, err := svc.SetGrants(ctx, mgrAcc, mgr.ID, []GrantSpec{{RoleID: role.ID}, {RoleID: adminRole.ID}}); AsError(err).Reason != ReasonEscalation {
		t.Errorf("granting itself admin: %v, want privilege_escalation", err)
	}
	if _, err := svc.CreateRole(ctx, mgrAcc, RoleSpec{Name: "x", Permissions: []string{PermAuditView}}); AsError(err).Reason != ReasonMissingPermission {
		t.Errorf("creating a role without roles-manage: %v", err)
	}
	if err := svc.DeletePrincipal(ctx, mgrAcc, admin.ID); AsError(err).Reason != ReasonEscalation {
		t.Errorf("deleting the admin: %v, want privilege_escalation", err)
	}

	// The password change: never from a token; from a key, it leaves the
	// Conjur key alone, as Conjur does.
	tokenAcc := *mgrAcc
	tokenAcc.Session.Level = LevelToken
	if err := svc.ChangePassword(ctx, &tokenAcc, "Another-Horse-43y"); AsError(err).Reason != ReasonCredentialStrength {
		t.Errorf("a token changing its password: %v", err)
	}
	ck, _ := st.GetConjurKey(ctx, "acme", mgr.ID)
	if err := svc.ChangePassword(ctx, mgrAcc, "Another-Horse-43y"); err != nil {
		t.Fatal(err)
	}
	after, _ := st.GetConjurKey(ctx, "acme", mgr.ID)
	if !bytes.Equal(after.Hash, ck.Hash) || after.RotatedAt != nil {
		t.Errorf("the Conjur key was replaced with the password")
	}
	p, _ := st.GetPrincipal(ctx, "acme", mgr.ID)
	if ok, err := bc.compare(ctx, p.PasswordHash, "Another-Horse-43y"); !ok || err != nil {
		t.Errorf("the new password does not match: %v", err)
	}
}
