package core

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/keyward/keyward/internal/crypto"
	"github.com/keyward/keyward/internal/model"
)

// psEnv is a real core with alice (password, MFA on), bob (no MFA, holding
// role ops) and carol (disabled), and helpers to sign in.
type psEnv struct {
	t     *testing.T
	c     *Core
	clk   *clock
	admin Session
	seed  string
	ids   map[string]string
}

const psPath = "/beyondtrust/api/public/v3/auth/signappin"

func newPSEnv(t *testing.T) *psEnv {
	t.Helper()
	clk := mfaClock()
	c, admin, _ := testCore(t, clk.now)
	clk.advance(time.Minute)
	alice, seed, _ := mfaUser(t, c, admin, clk)
	clk.advance(2 * time.Minute)
	e := &psEnv{t: t, c: c, clk: clk, admin: admin, seed: seed, ids: map[string]string{"alice": alice.ID}}
	ctx := context.Background()
	h, _ := bcrypt.GenerateFromPassword([]byte("bob-secret-1"), bcrypt.MinCost)
	now := clk.now().UTC()
	for _, login := range []string{"bob", "carol"} {
		p := model.Principal{ID: crypto.NewID(), Account: "acme", Login: login, Kind: model.KindUser, Status: model.StatusActive,
			Source: "local", PasswordHash: string(h), Email: login + "@example.com", FullName: "Full " + login, CreatedAt: now, UpdatedAt: now}
		if login == "carol" {
			p.Status = model.StatusDisabled
		}
		if err := c.st.CreatePrincipal(ctx, p, nil); err != nil {
			t.Fatal(err)
		}
		e.ids[login] = p.ID
	}
	r, err := c.CreateRole(ctx, acc(c, admin), RoleSpec{Name: "ops", Permissions: []string{PermUsersView}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetGrants(ctx, acc(c, admin), e.ids["bob"], []GrantSpec{{RoleID: r.ID, Type: model.GrantPermanent}}); err != nil {
		t.Fatal(err)
	}
	return e
}

func ptrTo[T any](v T) *T { return &v }

func rules(kv ...string) *[]model.APIRule {
	var out []model.APIRule
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, model.APIRule{Type: kv[i], Value: kv[i+1]})
	}
	return &out
}

// reg creates a key policy with spec, allowed user:alice, role:ops, user:carol.
func (e *psEnv) reg(spec APIRegSpec) (model.APIRegistration, APIRegSecrets) {
	e.t.Helper()
	if spec.Name == nil {
		spec.Name = ptrTo("reg-" + crypto.NewID())
	}
	if spec.Allowed == nil {
		spec.Allowed = &[]string{"user:alice", "role:ops", "user:carol"}
	}
	if spec.Rules == nil {
		spec.Rules = rules(RuleIP, "127.0.0.1")
	}
	g, sec, err := e.c.CreateAPIRegistration(context.Background(), acc(e.c, e.admin), spec)
	if err != nil {
		e.t.Fatal(err)
	}
	return g, sec
}

func from(peer string) Caller {
	a := netip.MustParseAddr(peer)
	return Caller{PeerIP: a, ClientIP: a, RequestID: "t"}
}

func (e *psEnv) sign(caller Caller, p PSAuthProof) (PSSignIn, error) {
	if p.Method == "" {
		p.Method, p.Path, p.BodySHA256 = "POST", psPath, hex.EncodeToString(sha256.New().Sum(nil))
	}
	return e.c.SignAppin(context.Background(), caller, Credential{Kind: CredPSAuth, Account: "acme", PS: &p})
}

func (e *psEnv) want(what string, err error, reason Reason) {
	e.t.Helper()
	if reason == ReasonNone {
		if err != nil {
			e.t.Fatalf("%s: %v", what, err)
		}
		return
	}
	wantReason(e.t, what, err, Unauthenticated, reason)
	// Every refusal is in the audit with its precise reason.
	rs := auditEvents(e.t, e.c.st, "acme", "psauth.signappin")
	if len(rs) == 0 || rs[0].Reason != string(reason) {
		e.t.Fatalf("%s: last psauth.signappin record %+v, want reason %s", what, rs, reason)
	}
}

func psrunSig(secret, ts, runAs string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(PSRUNString(ts, "POST", psPath, runAs, hex.EncodeToString(sha256.New().Sum(nil)))))
	return hex.EncodeToString(m.Sum(nil))
}

func TestPSAuthSourceRules(t *testing.T) {
	e := newPSEnv(t)
	cases := []struct {
		name  string
		rules *[]model.APIRule
		peer  string
		xff   []string
		want  Reason
	}{
		{"ipv4 address", rules(RuleIP, "10.1.2.3"), "10.1.2.3", nil, ReasonNone},
		{"ipv4 outside", rules(RuleIP, "10.1.2.3"), "10.1.2.4", nil, ReasonSourceNotAllowed},
		{"ipv4 range", rules(RuleIP, "10.0.0.1-10.0.0.9"), "10.0.0.9", nil, ReasonNone},
		{"ipv4 range outside", rules(RuleIP, "10.0.0.1-10.0.0.9"), "10.0.0.10", nil, ReasonSourceNotAllowed},
		{"ipv4 cidr", rules(RuleIP, "192.168.0.0/16"), "192.168.200.1", nil, ReasonNone},
		{"ipv4 cidr outside", rules(RuleIP, "192.168.0.0/16"), "192.169.0.1", nil, ReasonSourceNotAllowed},
		{"ipv6 address", rules(RuleIP, "2001:db8::1"), "2001:db8::1", nil, ReasonNone},
		{"ipv6 cidr", rules(RuleIP, "2001:db8::/32"), "2001:db8:1::5", nil, ReasonNone},
		{"ipv6 range outside", rules(RuleIP, "2001:db8::1-2001:db8::ff"), "2001:db8::100", nil, ReasonSourceNotAllowed},
		{"ipv4-mapped peer", rules(RuleIP, "10.1.2.3"), "::ffff:10.1.2.3", nil, ReasonNone},
		{"xff ignored without xff rules", rules(RuleIP, "10.1.2.3"), "10.1.2.3", []string{"1.1.1.1, 2.2.2.2"}, ReasonNone},
		{"xff allowed", rules(RuleIP, "10.0.0.1", RuleXFF, "203.0.113.0/24"), "10.0.0.1", []string{"203.0.113.7"}, ReasonNone},
		{"xff absent", rules(RuleIP, "10.0.0.1", RuleXFF, "203.0.113.0/24"), "10.0.0.1", nil, ReasonXFFMissing},
		{"xff two lines", rules(RuleIP, "10.0.0.1", RuleXFF, "203.0.113.0/24"), "10.0.0.1", []string{"203.0.113.7", "203.0.113.8"}, ReasonXFFNotAllowed},
		{"xff comma list", rules(RuleIP, "10.0.0.1", RuleXFF, "203.0.113.0/24"), "10.0.0.1", []string{"203.0.113.7, 203.0.113.8"}, ReasonXFFNotAllowed},
		{"xff outside", rules(RuleIP, "10.0.0.1", RuleXFF, "203.0.113.0/24"), "10.0.0.1", []string{"198.51.100.1"}, ReasonXFFNotAllowed},
		{"xff spoofed from a peer outside the ip rules", rules(RuleIP, "10.0.0.1", RuleXFF, "203.0.113.0/24"), "198.51.100.1", []string{"10.0.0.1"}, ReasonSourceNotAllowed},
		{"xff ipv6", rules(RuleIP, "10.0.0.1", RuleXFF, "2001:db8::/64"), "10.0.0.1", []string{"2001:db8::9"}, ReasonNone},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, sec := e.reg(APIRegSpec{Rules: tc.rules, EnforceMFA: ptrTo(false)})
			caller := from(tc.peer)
			// The client address (from X-Forwarded-For through trusted
			// proxies) never counts for the rules: only the TCP peer.
			caller.ClientIP = netip.MustParseAddr("10.1.2.3")
			_, err := e.sign(caller, PSAuthProof{Key: sec.Key, RunAs: "bob", XFF: tc.xff})
			e.want(tc.name, err, tc.want)
		})
	}
}

func TestPSAuthKeyRunAsPasswordCert(t *testing.T) {
	e := newPSEnv(t)
	lo := from("127.0.0.1")
	_, sec := e.reg(APIRegSpec{EnforceMFA: ptrTo(false)})
	in, err := e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "bob", Password: "wrong-ignored"})
	e.want("bob without the password option (wrong pwd ignored)", err, ReasonNone)
	if in.UserID <= 0 || in.UserName != "bob" || in.Email != "bob@example.com" || in.Name != "Full bob" || len(in.Cookie) != 64 {
		t.Fatalf("sign-in: %+v", in)
	}
	in2, err := e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "bob"})
	e.want("again", err, ReasonNone)
	if in2.UserID != in.UserID || in2.Cookie == in.Cookie {
		t.Fatalf("UserId must be fixed and the cookie new: %+v %+v", in, in2)
	}
	_, err = e.sign(lo, PSAuthProof{Key: strings.Repeat("0", 128), RunAs: "bob"})
	e.want("wrong key", err, ReasonBadKey)
	_, err = e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "Bob"})
	e.want("runas is exact", err, ReasonUserNotAllowed)
	_, err = e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "admin"})
	e.want("runas not in allowed", err, ReasonUserNotAllowed)
	_, err = e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "nobody"})
	e.want("runas unknown", err, ReasonUserNotAllowed)
	_, err = e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "carol"})
	e.want("disabled run-as", err, ReasonDisabled)
	s, err := e.c.Authenticate(context.Background(), lo, Credential{Kind: CredPSSession, Account: "acme", Secret: in.Cookie})
	if err != nil || s.Level != LevelKey || s.Login != "bob" {
		t.Fatalf("session of bob (allowed via role ops): %+v %v", s, err)
	}

	_, pw := e.reg(APIRegSpec{EnforceMFA: ptrTo(false), PasswordRequired: ptrTo(true)})
	_, err = e.sign(lo, PSAuthProof{Key: pw.Key, RunAs: "bob"})
	e.want("password missing", err, ReasonBadPassword)
	_, err = e.sign(lo, PSAuthProof{Key: pw.Key, RunAs: "bob", Password: "nope"})
	e.want("password wrong", err, ReasonBadPassword)
	in, err = e.sign(lo, PSAuthProof{Key: pw.Key, RunAs: "bob", Password: "bob-secret-1"})
	e.want("password right", err, ReasonNone)
	s, _ = e.c.Authenticate(context.Background(), lo, Credential{Kind: CredPSSession, Account: "acme", Secret: in.Cookie})
	if s.Level != LevelPassword {
		t.Fatalf("level with a password: %d", s.Level)
	}

	_, cert := e.reg(APIRegSpec{EnforceMFA: ptrTo(false), ClientCertRequired: ptrTo(true)})
	_, err = e.sign(lo, PSAuthProof{Key: cert.Key, RunAs: "bob"})
	e.want("no client certificate", err, ReasonClientCertMissing)
	withCert := lo
	withCert.ClientCert = []*x509.Certificate{{}}
	_, err = e.sign(withCert, PSAuthProof{Key: cert.Key, RunAs: "bob"})
	e.want("client certificate", err, ReasonNone)

	// No record holds the key, password or cookie.
	rs, _, _ := e.c.st.ListAudit(context.Background(), "acme", 1000, 0)
	for _, r := range rs {
		line := r.Detail + r.Actor + r.Subject + r.KeyID + r.Reason
		for _, secret := range []string{sec.Key, pw.Key, "bob-secret-1", in.Cookie, sec.PSRUNSecret} {
			if strings.Contains(line, secret) {
				t.Fatalf("record %s holds a secret", r.Event.Event)
			}
		}
	}
}

func TestPSAuthPSRUN(t *testing.T) {
	e := newPSEnv(t)
	lo := from("127.0.0.1")
	now := strconv.FormatInt(e.clk.now().Unix(), 10)
	// Only a psrun rule holds the peer: the signature is required.
	_, sec := e.reg(APIRegSpec{EnforceMFA: ptrTo(false), Rules: rules(RulePSRUN, "127.0.0.0/8", RuleIP, "10.0.0.1")})
	_, err := e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "bob"})
	e.want("psrun rule without a signature", err, ReasonBadSignature)
	_, err = e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "bob", Timestamp: now, Signature: psrunSig("wrong", now, "bob")})
	e.want("psrun wrong secret", err, ReasonBadSignature)
	_, err = e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "bob", Timestamp: now, Signature: psrunSig(sec.PSRUNSecret, now, "alice")})
	e.want("psrun signature of another runas", err, ReasonBadSignature)
	sig := psrunSig(sec.PSRUNSecret, now, "bob")
	in, err := e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "bob", Timestamp: now, Signature: sig})
	e.want("psrun right", err, ReasonNone)
	s, _ := e.c.Authenticate(context.Background(), lo, Credential{Kind: CredPSSession, Account: "acme", Secret: in.Cookie})
	if s.Level != LevelStrong {
		t.Fatalf("level with PSRUN: %d", s.Level)
	}
	_, err = e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "bob", Timestamp: now, Signature: sig})
	e.want("psrun replayed", err, ReasonSignatureReplayed)
	stale := strconv.FormatInt(e.clk.now().Unix()-301, 10)
	_, err = e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "bob", Timestamp: stale, Signature: psrunSig(sec.PSRUNSecret, stale, "bob")})
	e.want("psrun stale", err, ReasonSignatureStale)
	future := strconv.FormatInt(e.clk.now().Unix()+301, 10)
	_, err = e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "bob", Timestamp: future, Signature: psrunSig(sec.PSRUNSecret, future, "bob")})
	e.want("psrun from the future", err, ReasonSignatureStale)
	// An ip rule holding the peer needs no signature, unless the option says so.
	_, err = e.sign(from("10.0.0.1"), PSAuthProof{Key: sec.Key, RunAs: "bob"})
	e.want("ip rule, no signature", err, ReasonNone)
	g, opt := e.reg(APIRegSpec{EnforceMFA: ptrTo(false), VerifyPSRUN: ptrTo(true)})
	_, err = e.sign(lo, PSAuthProof{Key: opt.Key, RunAs: "bob"})
	e.want("verify_psrun_signature without one", err, ReasonBadSignature)
	// Rotating the secret makes the old one fail at once.
	rot, err := e.c.RotatePSRUNSecret(context.Background(), acc(e.c, e.admin), g.ID)
	if err != nil || len(rot.PSRUNSecret) != 64 {
		t.Fatalf("rotate psrun: %+v %v", rot, err)
	}
	e.clk.advance(time.Second)
	now = strconv.FormatInt(e.clk.now().Unix(), 10)
	_, err = e.sign(lo, PSAuthProof{Key: opt.Key, RunAs: "bob", Timestamp: now, Signature: psrunSig(opt.PSRUNSecret, now, "bob")})
	e.want("old psrun secret", err, ReasonBadSignature)
	_, err = e.sign(lo, PSAuthProof{Key: opt.Key, RunAs: "bob", Timestamp: now, Signature: psrunSig(rot.PSRUNSecret, now, "bob")})
	e.want("new psrun secret", err, ReasonNone)
}

func TestPSAuthMFAChallenge(t *testing.T) {
	e := newPSEnv(t)
	lo := from("127.0.0.1")
	_, sec := e.reg(APIRegSpec{})
	in, err := e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "alice"})
	e.want("no challenge", err, ReasonMFARequired)
	if !in.Pending || in.Cookie == "" {
		t.Fatalf("no pending cookie: %+v", in)
	}
	if _, err := e.c.Authenticate(context.Background(), lo, Credential{Kind: CredPSSession, Account: "acme", Secret: in.Cookie}); err == nil {
		t.Fatal("a pending sign-in is a session")
	}
	_, err = e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "alice", Challenge: "000000", Cookie: in.Cookie})
	e.want("wrong code", err, ReasonBadChallenge)
	good := code(t, e.seed, e.clk.now())
	done, err := e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "alice", Challenge: good, Cookie: in.Cookie})
	e.want("right code in the pending session", err, ReasonNone)
	s, err := e.c.Authenticate(context.Background(), lo, Credential{Kind: CredPSSession, Account: "acme", Secret: done.Cookie})
	if err != nil || s.Level != LevelStrong {
		t.Fatalf("session after the challenge: %+v %v", s, err)
	}
	_, err = e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "alice", Challenge: good})
	e.want("code replayed", err, ReasonBadChallenge)
	e.clk.advance(30 * time.Second)
	_, err = e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "alice", Challenge: code(t, e.seed, e.clk.now())})
	e.want("a right code on a first call", err, ReasonNone)
	// MFA off: no challenge asked, and one given is ignored.
	_, off := e.reg(APIRegSpec{EnforceMFA: ptrTo(false)})
	_, err = e.sign(lo, PSAuthProof{Key: off.Key, RunAs: "alice", Challenge: "junk"})
	e.want("enforce_mfa off", err, ReasonNone)
	// A run-as without TOTP is asked nothing.
	_, err = e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "bob"})
	e.want("bob has no TOTP", err, ReasonNone)
	// Wrong codes count toward the MFA issue's per-user limit: five in a
	// row lock alice's code checks, a right code included.
	for i := 0; i < 5; i++ {
		_, err = e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "alice", Challenge: "000000"})
		e.want("wrong code "+strconv.Itoa(i), err, ReasonBadChallenge)
	}
	e.clk.advance(30 * time.Second)
	_, err = e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "alice", Challenge: code(t, e.seed, e.clk.now())})
	wantReason(t, "locked", err, RateLimited, ReasonMFALocked)
}

func TestPSAuthSessions(t *testing.T) {
	e := newPSEnv(t)
	lo := from("127.0.0.1")
	ctx := context.Background()
	g, sec := e.reg(APIRegSpec{EnforceMFA: ptrTo(false)})
	session := func(cookie string) error {
		_, err := e.c.Authenticate(ctx, lo, Credential{Kind: CredPSSession, Account: "acme", Secret: cookie})
		return err
	}
	in, _ := e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "bob"})
	e.clk.advance(19 * time.Minute)
	if err := session(in.Cookie); err != nil {
		t.Fatalf("used after 19 minutes: %v", err)
	}
	e.clk.advance(19 * time.Minute) // 38 minutes old, 19 idle: still on
	if err := session(in.Cookie); err != nil {
		t.Fatalf("used again 19 minutes later: %v", err)
	}
	e.clk.advance(20 * time.Minute)
	wantReason(t, "idle 20 minutes", session(in.Cookie), Unauthenticated, ReasonSessionIdle)
	wantReason(t, "idle session is gone", session(in.Cookie), Unauthenticated, ReasonSessionUnknown)

	in, _ = e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "bob"})
	if err := e.c.Signout(ctx, lo, "acme", in.Cookie); err != nil {
		t.Fatal(err)
	}
	wantReason(t, "after signout", session(in.Cookie), Unauthenticated, ReasonSessionUnknown)
	if err := e.c.Signout(ctx, lo, "acme", ""); err != nil {
		t.Fatalf("signout without a cookie: %v", err)
	}

	in, _ = e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "bob"})
	rot, err := e.c.RotateAPIRegistrationKey(ctx, acc(e.c, e.admin), g.ID)
	if err != nil || len(rot.Key) != 128 || rot.Key == sec.Key {
		t.Fatalf("rotate: %v", err)
	}
	wantReason(t, "session after rotation", session(in.Cookie), Unauthenticated, ReasonSessionUnknown)
	_, err = e.sign(lo, PSAuthProof{Key: sec.Key, RunAs: "bob"})
	e.want("old key after rotation", err, ReasonBadKey)
	in, err = e.sign(lo, PSAuthProof{Key: rot.Key, RunAs: "bob"})
	e.want("new key", err, ReasonNone)

	if _, err := e.c.UpdateAPIRegistration(ctx, acc(e.c, e.admin), g.ID, APIRegSpec{Name: ptrTo("renamed")}); err != nil {
		t.Fatal(err)
	}
	wantReason(t, "session after a PATCH", session(in.Cookie), Unauthenticated, ReasonSessionUnknown)

	in, _ = e.sign(lo, PSAuthProof{Key: rot.Key, RunAs: "bob"})
	if _, err := e.c.UpdatePrincipal(ctx, acc(e.c, e.admin), e.ids["bob"], PrincipalPatch{Status: ptrTo(model.StatusDisabled)}); err != nil {
		t.Fatal(err)
	}
	wantReason(t, "session of a disabled principal", session(in.Cookie), Unauthenticated, ReasonSessionUnknown) // ended with the disable (F3)
	if _, err := e.c.UpdatePrincipal(ctx, acc(e.c, e.admin), e.ids["bob"], PrincipalPatch{Status: ptrTo(model.StatusActive)}); err != nil {
		t.Fatal(err)
	}
	wantReason(t, "it stays ended", session(in.Cookie), Unauthenticated, ReasonSessionUnknown)

	in, _ = e.sign(lo, PSAuthProof{Key: rot.Key, RunAs: "bob"})
	if err := e.c.DeleteAPIRegistration(ctx, acc(e.c, e.admin), g.ID); err != nil {
		t.Fatal(err)
	}
	wantReason(t, "session after delete", session(in.Cookie), Unauthenticated, ReasonSessionUnknown)
	_, err = e.sign(lo, PSAuthProof{Key: rot.Key, RunAs: "bob"})
	e.want("key after delete", err, ReasonBadKey)
}

func TestPSAuthOAuth(t *testing.T) {
	e := newPSEnv(t)
	lo := from("127.0.0.1")
	ctx := context.Background()
	g, sec, err := e.c.CreateAPIRegistration(ctx, acc(e.c, e.admin), APIRegSpec{Name: ptrTo("oauth"), Type: model.APIAccessPolicy,
		RunAs: ptrTo("bob"), AccessTokenMinutes: ptrTo(5), Rules: rules(RuleIP, "127.0.0.1", RuleXFF, "203.0.113.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	if len(sec.ClientID) != 36 || len(sec.ClientSecret) != 64 || g.ClientID != sec.ClientID {
		t.Fatalf("secrets: %+v", sec)
	}
	req := PSTokenRequest{ClientID: sec.ClientID, ClientSecret: sec.ClientSecret, GrantType: "client_credentials", XFF: []string{"203.0.113.1"}}
	bad := req
	bad.GrantType = "password"
	_, err = e.c.PSAuthToken(ctx, lo, "acme", bad)
	wantReason(t, "grant", err, Invalid, ReasonUnsupportedGrant)
	bad = req
	bad.ClientSecret = strings.Repeat("a", 64)
	_, err = e.c.PSAuthToken(ctx, lo, "acme", bad)
	wantReason(t, "secret", err, Unauthenticated, ReasonBadClient)
	bad = req
	bad.XFF = nil
	_, err = e.c.PSAuthToken(ctx, lo, "acme", bad)
	wantReason(t, "xff", err, Unauthenticated, ReasonXFFMissing)
	_, err = e.c.PSAuthToken(ctx, from("10.9.9.9"), "acme", req)
	wantReason(t, "source", err, Unauthenticated, ReasonSourceNotAllowed)
	tok, err := e.c.PSAuthToken(ctx, lo, "acme", req)
	if err != nil || tok.ExpiresIn != 300 || len(tok.AccessToken) != 64 {
		t.Fatalf("token: %+v %v", tok, err)
	}
	in, err := e.sign(lo, PSAuthProof{Bearer: tok.AccessToken, XFF: []string{"203.0.113.1"}})
	e.want("bearer sign-in", err, ReasonNone)
	if in.UserName != "bob" {
		t.Fatalf("signed in as %s", in.UserName)
	}
	_, err = e.sign(lo, PSAuthProof{Bearer: tok.AccessToken})
	e.want("bearer without its xff", err, ReasonXFFMissing)
	_, err = e.sign(lo, PSAuthProof{Bearer: "nope", XFF: []string{"203.0.113.1"}})
	e.want("unknown bearer", err, ReasonBadKey)
	e.clk.advance(5 * time.Minute)
	_, err = e.sign(lo, PSAuthProof{Bearer: tok.AccessToken, XFF: []string{"203.0.113.1"}})
	e.want("expired bearer", err, ReasonExpired)
	tok, _ = e.c.PSAuthToken(ctx, lo, "acme", req)
	if _, err := e.c.RotateAPIRegistrationKey(ctx, acc(e.c, e.admin), g.ID); err != nil {
		t.Fatal(err)
	}
	_, err = e.sign(lo, PSAuthProof{Bearer: tok.AccessToken, XFF: []string{"203.0.113.1"}})
	e.want("token after secret rotation", err, ReasonBadKey)
	_, err = e.c.PSAuthToken(ctx, lo, "acme", req)
	wantReason(t, "old secret", err, Unauthenticated, ReasonBadClient)
	if rs := auditEvents(t, e.c.st, "acme", "psauth.token"); len(rs) < 6 || rs[0].KeyID != g.ID {
		t.Fatalf("psauth.token records: %+v", rs)
	}
}

func TestAPIRegistrationValidation(t *testing.T) {
	e := newPSEnv(t)
	ctx := context.Background()
	a := acc(e.c, e.admin)
	for _, tc := range []struct {
		name  string
		spec  APIRegSpec
		field string
	}{
		{"no ip or psrun rule", APIRegSpec{Rules: rules(RuleXFF, "10.0.0.1")}, "rules"},
		{"no rules", APIRegSpec{Rules: &[]model.APIRule{}}, "rules"},
		{"bad value", APIRegSpec{Rules: rules(RuleIP, "10.0.0.256")}, "rules"},
		{"reversed range", APIRegSpec{Rules: rules(RuleIP, "10.0.0.9-10.0.0.1")}, "rules"},
		{"mixed range", APIRegSpec{Rules: rules(RuleIP, "10.0.0.1-::1")}, "rules"},
		{"bad prefix", APIRegSpec{Rules: rules(RuleIP, "10.0.0.0/33")}, "rules"},
		{"unknown type", APIRegSpec{Rules: rules("dns", "10.0.0.1")}, "rules"},
		{"bad allowed", APIRegSpec{Allowed: &[]string{"group:x"}}, "allowed"},
		{"no name", APIRegSpec{Name: ptrTo(""), Rules: rules(RuleIP, "10.0.0.1")}, "name"},
		{"bad type", APIRegSpec{Type: "other"}, "type"},
		{"minutes", APIRegSpec{Type: model.APIAccessPolicy, RunAs: ptrTo("bob"), AccessTokenMinutes: ptrTo(1441)}, "access_token_minutes"},
	} {
		if tc.spec.Name == nil {
			tc.spec.Name = ptrTo(tc.name)
		}
		if tc.spec.Rules == nil {
			tc.spec.Rules = rules(RuleIP, "10.0.0.1")
		}
		_, _, err := e.c.CreateAPIRegistration(ctx, a, tc.spec)
		if ce := wantReason(t, tc.name, err, Invalid, ReasonNone); ce.Field != tc.field {
			t.Errorf("%s: field %q, want %q", tc.name, ce.Field, tc.field)
		}
	}
	g, sec := e.reg(APIRegSpec{Name: ptrTo("dup"), Rules: rules(RuleIP, "10.0.0.1", RuleXFF, "10.0.0.2")})
	if len(sec.Key) != 128 || len(sec.PSRUNSecret) != 64 || strings.ToLower(sec.Key) != sec.Key || !g.EnforceMFA || g.KeyLast4 != sec.Key[124:] {
		t.Fatalf("key policy: %+v %+v", g, sec)
	}
	_, _, err := e.c.CreateAPIRegistration(ctx, a, APIRegSpec{Name: ptrTo("dup"), Rules: rules(RuleIP, "10.0.0.1")})
	wantReason(t, "duplicate", err, Conflict, ReasonNone)
	// Rules: ids keep rules; ip and xff never swap.
	ipID, xffID := g.Rules[0].ID, g.Rules[1].ID
	_, err = e.c.UpdateAPIRegistration(ctx, a, g.ID, APIRegSpec{Rules: &[]model.APIRule{{ID: ipID, Type: RuleXFF, Value: "10.0.0.1"}, {Type: RuleIP, Value: "10.0.0.3"}}})
	wantReason(t, "ip to xff", err, Invalid, ReasonNone)
	up, err := e.c.UpdateAPIRegistration(ctx, a, g.ID, APIRegSpec{Rules: &[]model.APIRule{{ID: ipID, Type: RulePSRUN, Value: "10.0.0.5"}, {ID: xffID, Type: RuleXFF, Value: "10.0.0.2"}, {Type: RuleIP, Value: "::1"}}})
	if err != nil || len(up.Rules) != 3 || up.Rules[0].ID != ipID || up.Rules[1].ID != xffID || up.Rules[2].ID == "" {
		t.Fatalf("patch rules: %+v %v", up.Rules, err)
	}
	if _, err := e.c.UpdateAPIRegistration(ctx, a, "nope", APIRegSpec{Name: ptrTo("x")}); err == nil {
		t.Fatal("unknown id updated")
	}
	sk, err := e.c.ShowAPIRegistrationKey(ctx, a, g.ID)
	if err != nil || sk.Key != sec.Key || sk.PSRUNSecret != sec.PSRUNSecret {
		t.Fatalf("show key: %v", err)
	}
	rs := auditEvents(t, e.c.st, "acme", "api_registration.key.read")
	if len(rs) != 1 || rs[0].KeyID != g.ID || rs[0].Actor != "acme:user:admin" {
		t.Fatalf("key.read record: %+v", rs)
	}
}
