package core

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/model"
)

func TestCheckPasswordStrength(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pw string
		ok bool
	}{
		{"Correct-Horse-42x", true},
		{"AAbb1!aaaaaa", true},                       // exactly 12
		{"AAbb1!aaaaa", false},                       // 11
		{"AAbb1!" + strings.Repeat("a", 66), true},   // 72 bytes: bcrypt's limit
		{"AAbb1!" + strings.Repeat("a", 67), false},  // 73 bytes
		{"AAbb1!" + strings.Repeat("a", 123), false}, // 129
		{"Abbbbbbbbb1!", false},                      // one uppercase
		{"AAbbbbbbbbb!", false},                      // no digit
		{"AABBBBBBBb1!", false},                      // one lowercase
		{"AAbbbbbbbbb1", false},                      // no special
		{"AAbb1 aaaaaaa", true},                      // a space is special
		{"AAbb1!aaa\naaaa", false},                   // newline
		{"ÄÄbb1!aaaaaaaa", false},                    // non-ASCII capitals do not count
		{"", false},
	} {
		err := CheckPasswordStrength(tc.pw)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v, want ok %v", tc.pw, err, tc.ok)
		}
		if err != nil {
			e := AsError(err)
			if e.Kind != Invalid || e.Field != "password" || e.Reason != ReasonWeakPassword {
				t.Errorf("%q: error %+v", tc.pw, e)
			}
		}
	}
}

func TestGrantHolds(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 6, 4, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { x := now.Add(d); return &x }
	per := func(a, b time.Duration) model.Period { return model.Period{Start: now.Add(a), End: now.Add(b)} }
	for _, tc := range []struct {
		name string
		g    model.Grant
		want bool
	}{
		{"permanent", model.Grant{Type: model.GrantPermanent}, true},
		{"past period", model.Grant{Type: model.GrantTimeRestricted, Periods: []model.Period{per(-2*time.Hour, -time.Hour)}}, false},
		{"future period", model.Grant{Type: model.GrantTimeRestricted, Periods: []model.Period{per(time.Hour, 2*time.Hour)}}, false},
		{"current period", model.Grant{Type: model.GrantTimeRestricted, Periods: []model.Period{per(-time.Hour, time.Hour)}}, true},
		{"starts now (inclusive)", model.Grant{Type: model.GrantTimeRestricted, Periods: []model.Period{per(0, time.Hour)}}, true},
		{"ends now (exclusive)", model.Grant{Type: model.GrantTimeRestricted, Periods: []model.Period{per(-time.Hour, 0)}}, false},
		{"one of several", model.Grant{Type: model.GrantTimeRestricted, Periods: []model.Period{per(-3*time.Hour, -2*time.Hour), per(-time.Minute, time.Minute)}}, true},
		{"no periods", model.Grant{Type: model.GrantTimeRestricted}, false},
		{"floating, not yet used", model.Grant{Type: model.GrantFloating, FloatingLength: 2}, true},
		{"floating, inside its length", model.Grant{Type: model.GrantFloating, FloatingLength: 2, ActivatedAt: at(-time.Hour)}, true},
		{"floating, used up", model.Grant{Type: model.GrantFloating, FloatingLength: 2, ActivatedAt: at(-2 * time.Hour)}, false},
	} {
		if got := grantHolds(tc.g, now); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestContextHolds(t *testing.T) {
	t.Parallel()
	// Wednesday 2025-06-04 12:00 UTC is 15:00 in Helsinki.
	now := time.Date(2025, 6, 4, 12, 0, 0, 0, time.UTC)
	in, out := netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("192.0.2.1")
	for _, tc := range []struct {
		name string
		rc   *model.RoleContext
		addr netip.Addr
		want bool
	}{
		{"no context", nil, out, true},
		{"weekday match", &model.RoleContext{Weekdays: []string{"wed"}}, out, true},
		{"weekday miss", &model.RoleContext{Weekdays: []string{"mon", "tue"}}, out, false},
		{"weekday in the zone", &model.RoleContext{Weekdays: []string{"WED"}, TimeZone: "Pacific/Kiritimati"}, out, false}, // already Thursday there
		{"window in zone", &model.RoleContext{StartTime: "14:00", EndTime: "16:00", TimeZone: "Europe/Helsinki"}, out, true},
		{"window in UTC misses", &model.RoleContext{StartTime: "14:00", EndTime: "16:00"}, out, false},
		{"window over midnight", &model.RoleContext{StartTime: "22:00", EndTime: "13:00"}, out, true},
		{"start only", &model.RoleContext{StartTime: "12:00"}, out, true},
		{"end only, exclusive", &model.RoleContext{EndTime: "12:00"}, out, false},
		{"mask in", &model.RoleContext{IPMasks: []string{"10.0.0.0/8"}}, in, true},
		{"mask out", &model.RoleContext{IPMasks: []string{"10.0.0.0/8"}}, out, false},
		{"block in mask", &model.RoleContext{IPMasks: []string{"10.0.0.0/8"}, Block: true}, in, false},
		{"block out of mask", &model.RoleContext{IPMasks: []string{"10.0.0.0/8"}, Block: true}, out, true},
		{"block in window", &model.RoleContext{Weekdays: []string{"wed"}, Block: true}, out, false},
		{"block out of window", &model.RoleContext{Weekdays: []string{"sat"}, Block: true}, out, true},
		{"block window and mask, only window", &model.RoleContext{Weekdays: []string{"wed"}, IPMasks: []string{"10.0.0.0/8"}, Block: true}, out, true},
		{"bad zone holds never", &model.RoleContext{TimeZone: "Nowhere/None"}, in, false},
	} {
		if got := contextHolds(tc.rc, now, tc.addr); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestFloatingGrantAndExpiry drives a real core with a settable clock.
func TestFloatingGrantAndExpiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := &clock{t: time.Now()}
	c, admin, _ := testCore(t, clk.now)
	p, key, err := c.CreatePrincipal(ctx, acc(c, admin), PrincipalSpec{Login: "flo"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.CreateRole(ctx, acc(c, admin), RoleSpec{Name: "viewer", Permissions: []string{PermUsersView}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetGrants(ctx, acc(c, admin), p.ID, []GrantSpec{{RoleID: r.ID, Type: model.GrantFloating, FloatingLength: 2}}); err != nil {
		t.Fatal(err)
	}
	s, err := authKey(ctx, c, "", key)
	if err != nil {
		t.Fatal(err)
	}
	clk.advance(10 * time.Hour) // unused floating grants do not run down
	if err := c.Require(ctx, acc(c, s), PermUsersView); err != nil {
		t.Fatalf("first use of a floating grant: %v", err)
	}
	clk.advance(time.Hour + 59*time.Minute)
	if err := c.Require(ctx, acc(c, s), PermUsersView); err != nil {
		t.Fatalf("inside its 2 hours: %v", err)
	}
	clk.advance(2 * time.Minute)
	if err := c.Require(ctx, acc(c, s), PermUsersView); AsError(err).Kind != Forbidden {
		t.Fatalf("after its 2 hours: %v", err)
	}

	// Keys expire by the clock; verify says so.
	days := 1
	k, kkey, err := c.CreateAPIKey(ctx, acc(c, admin), p.ID, KeySpec{ExpiresInDays: &days})
	if err != nil {
		t.Fatal(err)
	}
	if kc, _, _ := c.VerifyKey(ctx, loopback, kkey, Vouch{}); !kc.Valid {
		t.Fatalf("fresh key: %+v", kc.Code)
	}
	// A rotation's grace period ends at the key's expiry.
	rk, newKey, err := c.RotateAPIKey(ctx, acc(c, admin), k.ID, 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if rk.PrevUntil == nil || !rk.PrevUntil.Truncate(time.Microsecond).Equal(k.ExpiresAt.Truncate(time.Microsecond)) {
		t.Errorf("grace until %v, expiry %v", rk.PrevUntil, k.ExpiresAt)
	}
	if kc, _, _ := c.VerifyKey(ctx, loopback, kkey, Vouch{}); !kc.Valid {
		t.Fatalf("old secret in grace: %v", kc.Code)
	}
	clk.advance(24*time.Hour + time.Second)
	if kc, _, _ := c.VerifyKey(ctx, loopback, newKey, Vouch{}); kc.Valid || kc.Code != "expired" {
		t.Fatalf("expired key: valid %v code %q", kc.Valid, kc.Code)
	}
	if kc, _, _ := c.VerifyKey(ctx, loopback, kkey, Vouch{}); kc.Valid {
		t.Fatal("grace secret outlives the key's expiry")
	}
	if _, err := authKey(ctx, c, "", kkey); AsError(err).Kind != Unauthenticated {
		t.Fatalf("expired key authenticates: %v", err)
	}
}

// TestSecurityLevels checks what each credential proves and that a token
// alone cannot change a password.
func TestSecurityLevels(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, admin, _ := testCore(t, nil)
	if admin.Level != LevelKey {
		t.Errorf("API key session level %d, want %d", admin.Level, LevelKey)
	}
	pw := "Correct-Horse-42x"
	p, _, err := c.CreatePrincipal(ctx, acc(c, admin), PrincipalSpec{Login: "lev", Password: &pw})
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := authPw(ctx, c, "acme", "lev", pw)
	if err != nil {
		t.Fatal(err)
	}
	if s.Level != LevelPassword || s.PrincipalID != p.ID {
		t.Errorf("password session %+v", s)
	}
	if !(LevelToken < LevelKey && LevelKey < LevelPassword && LevelPassword < LevelStrong) {
		t.Error("security levels are not ordered key < password < strong")
	}
	// A token carries the level it was issued for.
	tok, err := c.IssueToken(s, FormatNative)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := verifyToken(ctx, c, tok.Value)
	if err != nil || ts.Level != LevelPassword || ts.PrincipalID != p.ID {
		t.Fatalf("token session %+v %v", ts, err)
	}
	if tok.TTL != 8*time.Minute {
		t.Errorf("default TTL %v", tok.TTL)
	}
	// A session below key level cannot change a password.
	weak := ts
	weak.Level = LevelToken
	if err := c.ChangePassword(ctx, acc(c, weak), "Another-Good-Pass-9"); AsError(err).Reason != "credential_strength" {
		t.Errorf("password change from a token-level session: %v", err)
	}
	if err := c.ChangePassword(ctx, acc(c, s), "weak"); AsError(err).Field != "password" {
		t.Errorf("weak password change: %v", err)
	}
	// An unknown login and a wrong password give the same kind, different reasons.
	_, _, e1 := authPw(ctx, c, "acme", "nobody", pw)
	_, _, e2 := authPw(ctx, c, "acme", "lev", pw+"x")
	if AsError(e1).Kind != Unauthenticated || AsError(e2).Kind != Unauthenticated || AsError(e1).Msg != AsError(e2).Msg {
		t.Errorf("unknown login %v vs wrong password %v", e1, e2)
	}
	// Scope narrows permissions.
	r, _ := c.CreateRole(ctx, acc(c, admin), RoleSpec{Name: "v", Permissions: []string{PermUsersView}})
	r2, _ := c.CreateRole(ctx, acc(c, admin), RoleSpec{Name: "a", Permissions: []string{PermAuditView}})
	if _, err := c.SetGrants(ctx, acc(c, admin), p.ID, []GrantSpec{{RoleID: r.ID}, {RoleID: r2.ID}}); err != nil {
		t.Fatal(err)
	}
	s.Scope = []string{r2.ID}
	perms, err := acc(c, s).Permissions(), error(nil)
	if err != nil || !slices.Equal(perms, []string{PermAuditView}) {
		t.Errorf("scoped permissions %v %v", perms, err)
	}
}
