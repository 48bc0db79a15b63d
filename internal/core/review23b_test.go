package core

// Review r23b (issue 23, second round). Run from the repository root:
//   cp /work/notes/review-r23b-tests/internal/core/review23b_test.go internal/core/
//   go test ./internal/core/ -run TestReview23b -v

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"strconv"
	"sync"
	"testing"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/crypto"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

// Finding A: the key of a registration written by the admin is read by a
// registration manager while it admits nobody the manager does not outrank
// (a user that does not exist yet, or a weak one). The admitted user is then
// created as, or made, an administrator. The key the manager kept signs in
// as that administrator: the sign-in checks only that the registration's
// author (the admin) outranks the run-as, never who has held the key.
func TestReview23bKeyReadEarlierSignsInAsLaterAdmin(t *testing.T) {
	e := newPSEnv(t)
	ctx := context.Background()
	lo := from("127.0.0.1")
	mgr := review23Manager(t, e)
	adminRole := review23AdminRole(t, e)
	m := func() *Access { return acc(e.c, mgr) }

	// 1. A user that does not exist yet (N1: dangling entries are accepted).
	ghostReg, _ := e.reg(APIRegSpec{EnforceMFA: ptrTo(false), Allowed: &[]string{"user:ghost"}})
	ghostSec, err := e.c.ShowAPIRegistrationKey(ctx, m(), ghostReg.ID)
	if err != nil {
		t.Fatalf("the manager reads the key of a registration admitting a user who does not exist: %v", err)
	}
	now := e.clk.now().UTC()
	ghost := model.Principal{ID: crypto.NewID(), Account: "acme", Login: "ghost", Kind: model.KindUser, Status: model.StatusActive,
		Source: "local", CreatedAt: now, UpdatedAt: now}
	if err := e.c.st.CreatePrincipal(ctx, ghost, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.SetGrants(ctx, acc(e.c, e.admin), ghost.ID, []GrantSpec{{RoleID: adminRole, Type: model.GrantPermanent}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.ShowAPIRegistrationKey(ctx, m(), ghostReg.ID); err == nil {
		t.Fatal("setup: the manager may still read the key now that ghost is an administrator")
	}
	if in, err := e.sign(lo, PSAuthProof{Key: ghostSec.Key, RunAs: "ghost"}); err == nil {
		t.Errorf("a registration manager signed in as the administrator %q with a key read before the user existed", in.UserName)
	}

	// 2. A weak user, promoted after the manager read the key.
	if _, err := e.c.UpdatePrincipal(ctx, acc(e.c, e.admin), e.ids["carol"], PrincipalPatch{Status: ptrTo(model.StatusActive)}); err != nil {
		t.Fatal(err)
	}
	carolReg, _ := e.reg(APIRegSpec{EnforceMFA: ptrTo(false), Allowed: &[]string{"user:carol"}})
	carolSec, err := e.c.ShowAPIRegistrationKey(ctx, m(), carolReg.ID)
	if err != nil {
		t.Fatalf("show-key of a registration admitting only carol: %v", err)
	}
	if _, err := e.c.SetGrants(ctx, acc(e.c, e.admin), e.ids["carol"], []GrantSpec{{RoleID: adminRole, Type: model.GrantPermanent}}); err != nil {
		t.Fatal(err)
	}
	if in, err := e.sign(lo, PSAuthProof{Key: carolSec.Key, RunAs: "carol"}); err == nil {
		t.Errorf("a registration manager signed in as %q, an administrator since, with the key read while carol was weak", in.UserName)
	}

	// 4. The manager's own registration (so the author check of F2 refuses
	// once the admitted user outranks the manager); an administrator renames
	// it: the PATCH makes the administrator its author, the key is unchanged,
	// and the manager's key now signs in as the promoted user.
	dave := model.Principal{ID: crypto.NewID(), Account: "acme", Login: "dave", Kind: model.KindUser, Status: model.StatusActive,
		Source: "local", CreatedAt: now, UpdatedAt: now}
	if err := e.c.st.CreatePrincipal(ctx, dave, nil); err != nil {
		t.Fatal(err)
	}
	own, ownSec, err := e.c.CreateAPIRegistration(ctx, m(), APIRegSpec{Name: ptrTo("mgr-dave"), EnforceMFA: ptrTo(false),
		Allowed: &[]string{"user:dave"}, Rules: rules(RuleIP, "127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.SetGrants(ctx, acc(e.c, e.admin), dave.ID, []GrantSpec{{RoleID: adminRole, Type: model.GrantPermanent}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sign(lo, PSAuthProof{Key: ownSec.Key, RunAs: "dave"}); err == nil {
		t.Fatal("setup: F2's author check lets the manager's key sign in as dave, now an administrator")
	}
	if _, err := e.c.UpdateAPIRegistration(ctx, acc(e.c, e.admin), own.ID, APIRegSpec{Name: ptrTo("dave-integration")}); err != nil {
		t.Fatal(err)
	}
	if in, err := e.sign(lo, PSAuthProof{Key: ownSec.Key, RunAs: "dave"}); err == nil {
		t.Errorf("after an administrator renamed the manager's registration, the manager's unchanged key signs in as the administrator %q", in.UserName)
	}

	// 5. The author is disabled (e.g. the manager left): authorOutranks
	// refuses a deleted author ("admits no one until saved again") but not a
	// disabled one, so the key the manager took along keeps signing in.
	erin := model.Principal{ID: crypto.NewID(), Account: "acme", Login: "erin", Kind: model.KindUser, Status: model.StatusActive,
		Source: "local", CreatedAt: now, UpdatedAt: now}
	if err := e.c.st.CreatePrincipal(ctx, erin, nil); err != nil {
		t.Fatal(err)
	}
	_, erinSec, err := e.c.CreateAPIRegistration(ctx, m(), APIRegSpec{Name: ptrTo("mgr-erin"), EnforceMFA: ptrTo(false),
		Allowed: &[]string{"user:erin"}, Rules: rules(RuleIP, "127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.UpdatePrincipal(ctx, acc(e.c, e.admin), mgr.PrincipalID, PrincipalPatch{Status: ptrTo(model.StatusDisabled)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sign(lo, PSAuthProof{Key: erinSec.Key, RunAs: "erin"}); err == nil {
		t.Errorf("the registration of a disabled author (who has its key) still signs in as erin")
	}
	if _, err := e.c.UpdatePrincipal(ctx, acc(e.c, e.admin), mgr.PrincipalID, PrincipalPatch{Status: ptrTo(model.StatusActive)}); err != nil {
		t.Fatal(err)
	}

	// 3. An access policy whose run_as user is gone: mayHoldReg lets anyone
	// with the permission read its secret; the user is created again as an
	// administrator and the secret issues tokens that sign in as them.
	svc := model.Principal{ID: crypto.NewID(), Account: "acme", Login: "svc", Kind: model.KindUser, Status: model.StatusActive,
		Source: "local", CreatedAt: now, UpdatedAt: now}
	if err := e.c.st.CreatePrincipal(ctx, svc, nil); err != nil {
		t.Fatal(err)
	}
	ap, _, err := e.c.CreateAPIRegistration(ctx, acc(e.c, e.admin), APIRegSpec{Name: ptrTo("svc-oauth"),
		Type: model.APIAccessPolicy, RunAs: ptrTo("svc"), Rules: rules(RuleIP, "127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.c.DeletePrincipal(ctx, acc(e.c, e.admin), svc.ID); err != nil {
		t.Fatal(err)
	}
	apSec, err := e.c.ShowAPIRegistrationKey(ctx, m(), ap.ID)
	if err != nil {
		t.Fatalf("show-key of an access policy whose run_as is gone: %v", err)
	}
	svc2 := model.Principal{ID: crypto.NewID(), Account: "acme", Login: "svc", Kind: model.KindUser, Status: model.StatusActive,
		Source: "local", CreatedAt: now, UpdatedAt: now}
	if err := e.c.st.CreatePrincipal(ctx, svc2, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.SetGrants(ctx, acc(e.c, e.admin), svc2.ID, []GrantSpec{{RoleID: adminRole, Type: model.GrantPermanent}}); err != nil {
		t.Fatal(err)
	}
	tok, err := e.c.PSAuthToken(ctx, lo, "acme", PSTokenRequest{ClientID: apSec.ClientID, ClientSecret: apSec.ClientSecret, GrantType: "client_credentials"})
	if err == nil {
		if in, err := e.sign(lo, PSAuthProof{Bearer: tok.AccessToken}); err == nil {
			t.Errorf("a registration manager signed in as the administrator %q with a client secret read while run_as was gone", in.UserName)
		}
	}
}

// Finding B: a session is re-checked on every use (F8), but not against
// the registration's source rules or its client-certificate option: the
// cookie of a registration limited to 127.0.0.1 and requiring a client
// certificate works from any peer, without a certificate. (A principal's
// own restricted_to is re-checked on use; the registration's rules are not.)
func TestReview23bSessionUseIgnoresRegistrationRules(t *testing.T) {
	e := newPSEnv(t)
	ctx := context.Background()
	lo := from("127.0.0.1")
	lo.ClientCert = []*x509.Certificate{{}}
	_, sec := e.reg(APIRegSpec{EnforceMFA: ptrTo(false), ClientCertRequired: ptrTo(true), Rules: rules(RuleIP, "127.0.0.1")})
	in, err := e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.sign(from("203.0.113.9"), PSAuthProof{Key: sec.Key, RunAs: "bob"}); err == nil {
		t.Fatal("setup: the key signs in from outside its rules")
	}
	if _, err := e.c.Authenticate(ctx, from("203.0.113.9"), Credential{Kind: CredPSSession, Account: "acme", Secret: in.Cookie}); err == nil {
		t.Error("the session of a registration limited to 127.0.0.1 (client certificate required) is used from 203.0.113.9 without a certificate")
	}
}

// Finding C: a role admits the run-as (and, since F7, a FLOATING grant of
// it is started) without the role's context: a role usable only from
// 10.0.0.0/8 admits a sign-in from 127.0.0.1 and burns the holder's
// floating window, which the native pipeline never does (effective skips
// a role whose context does not hold, so Begin never activates it).
func TestReview23bFloatingGrantStartedOutsideRoleContext(t *testing.T) {
	e := newPSEnv(t)
	ctx := context.Background()
	lo := from("127.0.0.1")
	r, err := e.c.CreateRole(ctx, acc(e.c, e.admin), RoleSpec{Name: "netops", Permissions: []string{PermUsersView},
		Context: &model.RoleContext{IPMasks: []string{"10.0.0.0/8"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.SetGrants(ctx, acc(e.c, e.admin), e.ids["bob"], []GrantSpec{{RoleID: r.ID, Type: model.GrantFloating, FloatingLength: 1}}); err != nil {
		t.Fatal(err)
	}
	_, sec := e.reg(APIRegSpec{EnforceMFA: ptrTo(false), Allowed: &[]string{"role:netops"}})
	_, signErr := e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "bob"})
	gs, err := e.c.ListGrants(ctx, acc(e.c, e.admin), e.ids["bob"])
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gs {
		if g.RoleID == r.ID && g.ActivatedAt != nil {
			t.Errorf("a sign-in from 127.0.0.1 started bob's floating grant of a role usable only from 10.0.0.0/8 (sign-in err %v)", signErr)
		}
	}
	if signErr == nil {
		t.Error("a role whose context does not hold from 127.0.0.1 admitted bob there")
	}
}

// activateHookStore runs hook right after a surface session is stored:
// between the sign-in's stored session (and success record) and its
// floating-grant activation.
type activateHookStore struct {
	store.Store
	mu   sync.Mutex
	hook func()
}

func (h *activateHookStore) CreateSurfaceSession(ctx context.Context, ss model.SurfaceSession, evs ...audit.Event) error {
	err := h.Store.CreateSurfaceSession(ctx, ss, evs...)
	h.mu.Lock()
	f := h.hook
	h.hook = nil
	h.mu.Unlock()
	if err == nil && f != nil && ss.Kind == model.SessionCookie {
		f()
	}
	return err
}

// Finding D: the floating grant that admitted a sign-in is revoked between
// the stored session and its activation. ActivateGrant answers not found,
// so SignAppin fails with a NotFound error (a 404 at the PS-Auth surface,
// where every failed condition must be a 401) after its session was stored
// and its success recorded: the audit says the sign-in succeeded, the
// client got a 404, and a session row the client never learned of stays.
func TestReview23bGrantRevokedDuringSignIn(t *testing.T) {
	clk := mfaClock()
	st, sealer := testStore(t)
	hs := &activateHookStore{Store: st}
	ctx := context.Background()
	c, err := New(ctx, Deps{Store: hs, Sealer: sealer, Now: clk.now, BcryptWorkers: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	key, err := c.Bootstrap(ctx, Caller{RequestID: "init"}, "acme")
	if err != nil {
		t.Fatal(err)
	}
	admin, err := authKey(ctx, c, "acme", key)
	if err != nil {
		t.Fatal(err)
	}
	now := clk.now().UTC()
	bob := model.Principal{ID: crypto.NewID(), Account: "acme", Login: "bob", Kind: model.KindUser, Status: model.StatusActive,
		Source: "local", CreatedAt: now, UpdatedAt: now}
	if err := st.CreatePrincipal(ctx, bob, nil); err != nil {
		t.Fatal(err)
	}
	r, err := c.CreateRole(ctx, acc(c, admin), RoleSpec{Name: "deployers", Permissions: []string{PermUsersView}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetGrants(ctx, acc(c, admin), bob.ID, []GrantSpec{{RoleID: r.ID, Type: model.GrantFloating, FloatingLength: 1}}); err != nil {
		t.Fatal(err)
	}
	_, sec, err := c.CreateAPIRegistration(ctx, acc(c, admin), APIRegSpec{Name: ptrTo("r"), EnforceMFA: ptrTo(false),
		Allowed: &[]string{"role:deployers"}, Rules: rules(RuleIP, "127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	hs.mu.Lock()
	hs.hook = func() {
		if _, err := c.SetGrants(ctx, acc(c, admin), bob.ID, nil); err != nil {
			t.Errorf("revoke: %v", err)
		}
	}
	hs.mu.Unlock()
	lo := from("127.0.0.1")
	_, err = c.SignAppin(ctx, lo, Credential{Kind: CredPSAuth, Account: "acme", PS: &PSAuthProof{Key: sec.Key, RunAs: "bob",
		Method: "POST", Path: psPath}})
	var ce *Error
	if err != nil && (!errors.As(err, &ce) || ce.Kind != Unauthenticated) {
		t.Errorf("a sign-in whose floating grant was revoked meanwhile: err = %v (kind %v), want a 401 refusal (or a success)", err, kindOf(err))
	}
	if err != nil {
		rs := auditEvents(t, c.st, "acme", psEventSignAppin)
		if len(rs) > 0 && rs[0].Outcome == "success" {
			t.Errorf("the sign-in failed (%v) but its last psauth.signappin record says success", err)
		}
	}
}

func kindOf(err error) any {
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Kind
	}
	return "not a core error"
}

// Finding E (low): updateDetail detects a concurrent change by updated_at
// and the key hash, not by the version F4 added. A PSRUN-secret rotation
// that commits while a PATCH is in flight (same timestamp: an injected
// clock, or two requests in one microsecond) does not change the key hash,
// so the PATCH writes the registration it read back, with the OLD PSRUN
// secret: the rotation is silently undone (its new secret fails, the
// leaked old one works again).
func TestReview23bPatchUndoesConcurrentPSRUNRotation(t *testing.T) {
	c, hs, admin := raceEnv(t)
	ctx := context.Background()
	g, sec, err := c.CreateAPIRegistration(ctx, acc(c, admin), APIRegSpec{Name: ptrTo("r"), EnforceMFA: ptrTo(false),
		VerifyPSRUN: ptrTo(true), Allowed: &[]string{"user:bob"}, Rules: rules(RuleIP, "127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	var rotated APIRegSecrets
	hs.mu.Lock()
	hs.hook = func() { // runs inside the PATCH, after it read the registration
		var err error
		if rotated, err = c.RotatePSRUNSecret(ctx, acc(c, admin), g.ID); err != nil {
			t.Errorf("rotate: %v", err)
		}
	}
	hs.mu.Unlock()
	_, patchErr := c.UpdateAPIRegistration(ctx, acc(c, admin), g.ID, APIRegSpec{Name: ptrTo("renamed")})
	if rotated.PSRUNSecret == "" {
		t.Fatal("setup: the rotation did not run")
	}
	if patchErr != nil {
		return // refused as a conflict: fine
	}
	ts := strconv.FormatInt(c.auth.now().Unix(), 10)
	lo := from("127.0.0.1")
	sign := func(secret string) error {
		_, err := c.SignAppin(ctx, lo, Credential{Kind: CredPSAuth, Account: "acme", PS: &PSAuthProof{Key: sec.Key, RunAs: "bob",
			Timestamp: ts, Signature: psrunSig(secret, ts, "bob"), Method: "POST", Path: psPath,
			BodySHA256: hex.EncodeToString(sha256.New().Sum(nil))}})
		return err
	}
	if err := sign(sec.PSRUNSecret); err == nil {
		t.Error("a PATCH racing a PSRUN rotation put the old PSRUN secret back: it signs in again")
	}
	if err := sign(rotated.PSRUNSecret); err != nil {
		t.Errorf("the PSRUN secret the rotation answered does not work: %v", err)
	}
}

// Finding F (low; the notes' N2, left alone): a PS-Auth session does
// nothing that needs a permission (Configuration/Version is SelfService),
// yet each use goes through the pipeline's Access+Begin, which starts every
// unused FLOATING grant of the run-as, whatever role it is for. Whoever
// holds a registration key admitting bob burns bob's break-glass floating
// admin grant (its window starts, audited as bob's use) without bob or the
// registration ever using it.
func TestReview23bSessionUseStartsUnrelatedFloatingGrant(t *testing.T) {
	e := newPSEnv(t)
	ctx := context.Background()
	lo := from("127.0.0.1")
	adminRole := review23AdminRole(t, e)
	ops, err := e.c.st.GetRoleByName(ctx, "acme", "ops")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.SetGrants(ctx, acc(e.c, e.admin), e.ids["bob"], []GrantSpec{{RoleID: ops.ID, Type: model.GrantPermanent},
		{RoleID: adminRole, Type: model.GrantFloating, FloatingLength: 1}}); err != nil {
		t.Fatal(err)
	}
	_, sec := e.reg(APIRegSpec{EnforceMFA: ptrTo(false), Allowed: &[]string{"user:bob"}})
	in, err := e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	// What the pipeline does for GET Configuration/Version.
	s, err := e.c.Authenticate(ctx, lo, Credential{Kind: CredPSSession, Account: "acme", Secret: in.Cookie})
	if err != nil {
		t.Fatal(err)
	}
	a, err := e.c.Access(ctx, lo, s)
	if err == nil {
		err = e.c.Begin(ctx, a)
	}
	if err != nil {
		t.Fatal(err)
	}
	gs, err := e.c.ListGrants(ctx, acc(e.c, e.admin), e.ids["bob"])
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gs {
		if g.RoleID == adminRole && g.ActivatedAt != nil {
			t.Error("a PS-Auth session's Configuration/Version started bob's floating admin grant, which neither the registration nor the route uses")
		}
	}
}

// preInsertHookStore runs hook once, just before a surface session is
// inserted: after every check of the sign-in passed.
type preInsertHookStore struct {
	store.Store
	mu   sync.Mutex
	hook func()
}

func (h *preInsertHookStore) CreateSurfaceSession(ctx context.Context, ss model.SurfaceSession, evs ...audit.Event) error {
	h.mu.Lock()
	f := h.hook
	h.hook = nil
	h.mu.Unlock()
	if f != nil && ss.Kind == model.SessionCookie {
		f()
	}
	return h.Store.CreateSurfaceSession(ctx, ss, evs...)
}

// Finding G (low): F3 ends a principal's sessions in the transaction that
// disables it, and F4 guards the session insert against a registration
// change by its version, but nothing guards it against a principal change:
// a sign-in whose checks passed before bob was disabled stores its session
// after the disable committed. If bob is enabled again before the cookie is
// used (F3's own scenario), the session made across the disable lives on.
func TestReview23bDisableDuringSignIn(t *testing.T) {
	clk := mfaClock()
	st, sealer := testStore(t)
	hs := &preInsertHookStore{Store: st}
	ctx := context.Background()
	c, err := New(ctx, Deps{Store: hs, Sealer: sealer, Now: clk.now, BcryptWorkers: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	key, err := c.Bootstrap(ctx, Caller{RequestID: "init"}, "acme")
	if err != nil {
		t.Fatal(err)
	}
	admin, err := authKey(ctx, c, "acme", key)
	if err != nil {
		t.Fatal(err)
	}
	now := clk.now().UTC()
	bob := model.Principal{ID: crypto.NewID(), Account: "acme", Login: "bob", Kind: model.KindUser, Status: model.StatusActive,
		Source: "local", CreatedAt: now, UpdatedAt: now}
	if err := st.CreatePrincipal(ctx, bob, nil); err != nil {
		t.Fatal(err)
	}
	_, sec, err := c.CreateAPIRegistration(ctx, acc(c, admin), APIRegSpec{Name: ptrTo("r"), EnforceMFA: ptrTo(false),
		Allowed: &[]string{"user:bob"}, Rules: rules(RuleIP, "127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	hs.mu.Lock()
	hs.hook = func() {
		for _, s := range []string{model.StatusDisabled, model.StatusActive} {
			if _, err := c.UpdatePrincipal(ctx, acc(c, admin), bob.ID, PrincipalPatch{Status: ptrTo(s)}); err != nil {
				t.Errorf("status %s: %v", s, err)
			}
		}
	}
	hs.mu.Unlock()
	lo := from("127.0.0.1")
	in, err := c.SignAppin(ctx, lo, Credential{Kind: CredPSAuth, Account: "acme", PS: &PSAuthProof{Key: sec.Key, RunAs: "bob",
		Method: "POST", Path: psPath}})
	if err != nil {
		return // refused: fine
	}
	if _, err := c.Authenticate(ctx, lo, Credential{Kind: CredPSSession, Account: "acme", Secret: in.Cookie}); err == nil {
		t.Error("a sign-in racing bob's disable (and re-enable) left a live session made across the disable")
	}
}

// Finding H (low): a psrun rule admits a peer only with a PSRUN signature;
// an access policy has no PSRUN secret and its token route and bearer
// sign-in check no signature, so on an access policy a psrun rule is a
// plain ip rule: "psrun 0.0.0.0/0" (meant: anyone, if signed) lets anyone
// with the client secret get tokens and sign in from anywhere. Creating
// such a rule should be refused (400 rules), or it should admit nobody.
func TestReview23bAccessPolicyPSRUNRuleActsAsIPRule(t *testing.T) {
	e := newPSEnv(t)
	ctx := context.Background()
	_, sec, err := e.c.CreateAPIRegistration(ctx, acc(e.c, e.admin), APIRegSpec{Name: ptrTo("oauth-psrun"),
		Type: model.APIAccessPolicy, RunAs: ptrTo("bob"), Rules: rules(RulePSRUN, "0.0.0.0/0")})
	if err != nil {
		return // refused at create: fine
	}
	far := from("203.0.113.9")
	tok, err := e.c.PSAuthToken(ctx, far, "acme", PSTokenRequest{ClientID: sec.ClientID, ClientSecret: sec.ClientSecret, GrantType: "client_credentials"})
	if err != nil {
		return
	}
	if _, err := e.sign(far, PSAuthProof{Bearer: tok.AccessToken}); err == nil {
		t.Error("an access policy whose only rule is psrun 0.0.0.0/0 issued a token and signed in from 203.0.113.9 with no signature")
	} else {
		t.Error("an access policy whose only rule is psrun 0.0.0.0/0 issued a token to 203.0.113.9 with no signature")
	}
}

// Finding D, second path: the run-as is deleted right after its session was
// stored (and the success recorded): SignAppin's GetPrincipal answers not
// found, so the PS-Auth surface answers 404 "principal not found" where
// every failed condition must be a 401.
func TestReview23bPrincipalDeletedDuringSignIn(t *testing.T) {
	clk := mfaClock()
	st, sealer := testStore(t)
	hs := &activateHookStore{Store: st}
	ctx := context.Background()
	c, err := New(ctx, Deps{Store: hs, Sealer: sealer, Now: clk.now, BcryptWorkers: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	key, err := c.Bootstrap(ctx, Caller{RequestID: "init"}, "acme")
	if err != nil {
		t.Fatal(err)
	}
	admin, err := authKey(ctx, c, "acme", key)
	if err != nil {
		t.Fatal(err)
	}
	now := clk.now().UTC()
	bob := model.Principal{ID: crypto.NewID(), Account: "acme", Login: "bob", Kind: model.KindUser, Status: model.StatusActive,
		Source: "local", CreatedAt: now, UpdatedAt: now}
	if err := st.CreatePrincipal(ctx, bob, nil); err != nil {
		t.Fatal(err)
	}
	_, sec, err := c.CreateAPIRegistration(ctx, acc(c, admin), APIRegSpec{Name: ptrTo("r"), EnforceMFA: ptrTo(false),
		Allowed: &[]string{"user:bob"}, Rules: rules(RuleIP, "127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	hs.mu.Lock()
	hs.hook = func() {
		if err := c.DeletePrincipal(ctx, acc(c, admin), bob.ID); err != nil {
			t.Errorf("delete: %v", err)
		}
	}
	hs.mu.Unlock()
	_, err = c.SignAppin(ctx, from("127.0.0.1"), Credential{Kind: CredPSAuth, Account: "acme", PS: &PSAuthProof{Key: sec.Key, RunAs: "bob",
		Method: "POST", Path: psPath}})
	var ce *Error
	if err != nil && (!errors.As(err, &ce) || ce.Kind != Unauthenticated) {
		t.Errorf("a sign-in whose run-as was deleted meanwhile: err = %v (kind %v), want a 401 refusal", err, kindOf(err))
	}
}

// Finding I (low): an access policy keeps run_as as a Conjur login, and a
// bare login resolves to the user first, then to a host. When the user
// "svc" it was written for is deleted, the policy silently runs as the
// host "svc" (here an administrator): its tokens sign in as a principal
// nobody chose. run_as should be kind-qualified (or a principal id).
func TestReview23bAccessPolicyRunAsFallsBackToHost(t *testing.T) {
	e := newPSEnv(t)
	ctx := context.Background()
	lo := from("127.0.0.1")
	now := e.clk.now().UTC()
	user := model.Principal{ID: crypto.NewID(), Account: "acme", Login: "svc", Kind: model.KindUser, Status: model.StatusActive,
		Source: "local", CreatedAt: now, UpdatedAt: now}
	host := model.Principal{ID: crypto.NewID(), Account: "acme", Login: "svc", Kind: model.KindHost, Status: model.StatusActive,
		Source: "local", CreatedAt: now, UpdatedAt: now}
	for _, p := range []model.Principal{user, host} {
		if err := e.c.st.CreatePrincipal(ctx, p, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.c.SetGrants(ctx, acc(e.c, e.admin), host.ID, []GrantSpec{{RoleID: review23AdminRole(t, e), Type: model.GrantPermanent}}); err != nil {
		t.Fatal(err)
	}
	_, sec, err := e.c.CreateAPIRegistration(ctx, acc(e.c, e.admin), APIRegSpec{Name: ptrTo("svc-user-oauth"),
		Type: model.APIAccessPolicy, RunAs: ptrTo("svc"), Rules: rules(RuleIP, "127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.c.DeletePrincipal(ctx, acc(e.c, e.admin), user.ID); err != nil {
		t.Fatal(err)
	}
	tok, err := e.c.PSAuthToken(ctx, lo, "acme", PSTokenRequest{ClientID: sec.ClientID, ClientSecret: sec.ClientSecret, GrantType: "client_credentials"})
	if err != nil {
		return // refused: fine
	}
	in, err := e.sign(lo, PSAuthProof{Bearer: tok.AccessToken})
	if err == nil {
		s, _ := e.c.Authenticate(ctx, lo, Credential{Kind: CredPSSession, Account: "acme", Secret: in.Cookie})
		if s.PrincipalID == host.ID {
			t.Error("an access policy written for the user svc signs in as the host svc (an administrator) once the user is deleted")
		}
	}
}
