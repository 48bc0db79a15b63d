package core

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/model"
)

// fakeAuthn is an authenticator that refuses everything; what matters here
// is the configuration it was built from.
type fakeAuthn struct{ cfg authn.Config }

func (f fakeAuthn) Verify(context.Context, authn.Request) (authn.Identity, authn.Outcome, error) {
	return authn.Identity{}, authn.Bad, nil
}

// TestAuthenticatorService: an authenticatorService with one factory seals a
// secret setting, masks it in answers, reuses it only while the service
// points where it did, refuses an allowed list admitting someone who
// outranks the caller, and lets the environment's list decide what is enabled.
func TestAuthenticatorService(t *testing.T) {
	ctx := context.Background()
	st, sealer := testStore(t)
	clk := &clock{t: time.Date(2030, 1, 7, 12, 0, 0, 0, time.UTC)}
	pids, rids := seedAccount(t, st, "acme", map[string]model.Kind{"ops": model.KindUser, "boss": model.KindUser},
		map[string][]string{"authn-admins": {PermAuthenticatorsManage}, "everything": AllPermissions()})
	for login, role := range map[string]string{"ops": "authn-admins", "boss": "everything"} {
		g := model.Grant{Account: "acme", PrincipalID: pids[login], RoleID: rids[role], Source: model.GrantExplicit, Type: model.GrantPermanent}
		if err := st.SetGrants(ctx, "acme", pids[login], model.GrantExplicit, []model.Grant{g}); err != nil {
			t.Fatal(err)
		}
	}
	var built []authn.Config
	factory := map[string]authn.Factory{"authn-jwt": func(cfg authn.Config) (authn.Authenticator, error) {
		if cfg.Values["issuer"] == "" {
			return nil, authn.ConfigErrors{{Key: "issuer", Msg: "is required"}}
		}
		built = append(built, cfg)
		return fakeAuthn{cfg}, nil
	}}
	keys := newKeyring(st)
	rec := runAuditor(t, st, clk.now)
	access := &accessService{st: st, now: clk.now, keys: keys, audit: rec}
	svc := &authenticatorService{st: st, sealer: sealer, factory: factory, now: clk.now, authns: newAuthnCache(), keys: keys,
		audit: rec, access: access}
	ops, err := access.Access(ctx, loopback, Session{Account: "acme", PrincipalID: pids["ops"], Login: "ops", Kind: "user", Level: LevelKey})
	if err != nil {
		t.Fatal(err)
	}

	cfg := map[string]string{"issuer": "https://idp", "provider-uri": "https://idp", "client-secret": "s3cret"}
	v, err := svc.PutAuthenticator(ctx, ops, "authn-jwt", "ci", AuthenticatorSpec{Enabled: true, Config: cfg, Allowed: []string{"user:ops"}})
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := st.GetAuthenticator(ctx, "acme", "authn-jwt", "ci")
	if v.Config["client-secret"] != Masked || stored.Config["client-secret"] != "" || len(stored.Secrets["client-secret"]) == 0 ||
		built[len(built)-1].Values["client-secret"] != "s3cret" {
		t.Fatalf("secret setting: view %v, stored %+v, built with %v", v.Config, stored, built[len(built)-1].Values)
	}
	// Sent back masked, the stored secret is what the service is built with.
	cfg["client-secret"] = Masked
	if _, err := svc.PutAuthenticator(ctx, ops, "authn-jwt", "ci", AuthenticatorSpec{Enabled: true, Config: cfg,
		Allowed: []string{"role:authn-admins"}}); err != nil ||
		built[len(built)-1].Values["client-secret"] != "s3cret" {
		t.Fatalf("masked put: %v, built with %v", err, built[len(built)-1].Values)
	}
	// Not once the service points elsewhere.
	cfg["provider-uri"] = "https://attacker"
	if _, err := svc.PutAuthenticator(ctx, ops, "authn-jwt", "ci", AuthenticatorSpec{Config: cfg}); AsError(err).Field != "config.client-secret" {
		t.Errorf("masked secret with a new destination: %v, want refused on config.client-secret", err)
	}
	if _, err := svc.PutAuthenticator(ctx, ops, "authn-jwt", "ci", AuthenticatorSpec{Config: map[string]string{}}); AsError(err).Field != "config.issuer" {
		t.Errorf("a bad configuration: %v, want refused on config.issuer", err)
	}
	if _, err := svc.PutAuthenticator(ctx, ops, "authn-jwt", "ci", AuthenticatorSpec{Config: map[string]string{"issuer": "x"},
		Allowed: []string{"user:boss"}}); AsError(err).Reason != ReasonEscalation {
		t.Errorf("admitting someone who outranks the caller: %v, want privilege_escalation", err)
	}
	if _, err := svc.PutAuthenticator(ctx, ops, "authn-nope", "x", AuthenticatorSpec{}); AsError(err).Reason != ReasonUnsupportedType {
		t.Errorf("an unknown type: %v", err)
	}

	stored, _ = st.GetAuthenticator(ctx, "acme", "authn-jwt", "ci")
	p, _ := st.GetPrincipal(ctx, "acme", pids["ops"])
	if !svc.enabled(stored) || !svc.BasicAuthnEnabled() || !svc.allowedBy(ctx, stored, p) {
		t.Fatalf("stored service: enabled %v, authn %v, admits ops %v", svc.enabled(stored), svc.BasicAuthnEnabled(), svc.allowedBy(ctx, stored, p))
	}
	svc.envAuthn = []string{"authn-jwt/other"}
	if svc.enabled(stored) || svc.BasicAuthnEnabled() {
		t.Errorf("the environment's list leaves authn-jwt/ci and authn out, yet they are enabled")
	}
	if _, en, err := svc.AuthenticatorLists(ctx, "acme"); err != nil || len(en) != 1 || en[0] != "authn-jwt/other" {
		t.Errorf("enabled list %v %v, want the environment's", en, err)
	}
}
