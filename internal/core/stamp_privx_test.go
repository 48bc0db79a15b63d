package core

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// TestCredentialStampFollowsBulkMFA: PrivX's users/mfa/enable|reset|disable
// (SetMFA) change the credential stamp as the native MFA routes do, so a
// console session signed in before them ends; a no-op (enable while
// enrolling) and a settings write leave it.
func TestCredentialStampFollowsBulkMFA(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
	c, admin, _ := testCore(t, clk.now)
	a := acc(c, admin)
	p, _, err := c.CreatePrincipal(ctx, a, PrincipalSpec{Login: "alice", Kind: "user"})
	if err != nil {
		t.Fatal(err)
	}
	stamp := func() string {
		t.Helper()
		s, err := c.CredentialStamp(ctx, "acme", p.ID)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	seen := map[string]string{"created": stamp()}
	step := func(name string, changes bool, do func() error) {
		t.Helper()
		before := stamp()
		if err := do(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		after := stamp()
		if changes && after == before || !changes && after != before {
			t.Fatalf("%s: stamp changed %v, want %v", name, after != before, changes)
		}
		for other, s := range seen {
			if changes && s == after {
				t.Fatalf("%s: stamp equals the one after %s", name, other)
			}
		}
		seen[name] = after
	}
	bulk := func(action string) func() error {
		return func() error { return c.SetMFA(ctx, a, action, []string{p.ID}) }
	}
	step("enable", true, bulk(MFAActionEnable))
	step("enable again (no-op)", false, bulk(MFAActionEnable))
	step("settings", false, func() error {
		_, err := c.SetSettings(ctx, a, p.ID, json.RawMessage(`{"theme":"dark"}`))
		return err
	})
	step("reset", true, bulk(MFAActionReset))
	step("disable", true, bulk(MFAActionDisable))
}
