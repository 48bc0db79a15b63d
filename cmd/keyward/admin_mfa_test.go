package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

// TestUserMFA: enable prints the QR code as terminal blocks, the otpauth
// URL and the seed; verify with a code from that seed enables MFA and
// prints ten recovery codes; show says the state; recovery-codes makes a
// new set; disable turns it off.
func TestUserMFA(t *testing.T) {
	startServer(t)
	cliOK(t, "user", "create", "--login", "alice")
	out := cliOK(t, "user", "mfa", "enable", "alice")
	if !strings.ContainsAny(out, "█▀▄") {
		t.Errorf("enable prints no QR blocks:\n%s", out)
	}
	m := regexp.MustCompile(`otpauth_url:\s+(otpauth://totp/keyward:alice\?secret=([A-Z2-7]+)&issuer=keyward&algorithm=SHA1&digits=6&period=30)`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "seed:") {
		t.Fatalf("enable output:\n%s", out)
	}
	seed := m[2]
	if !regexp.MustCompile(`mfa:\s+enrolling`).MatchString(cliOK(t, "user", "show", "alice")) {
		t.Error("show does not say enrolling")
	}
	if code, _, _ := cli(t, "user", "mfa", "verify", "alice"); code != exitUsage {
		t.Errorf("verify without a code: exit %d", code)
	}
	if code, _, errs := cli(t, "user", "mfa", "verify", "alice", "000000x"); code != exitFail || !strings.Contains(errs, "code") {
		t.Errorf("verify with a bad code: exit %d, %q", code, errs)
	}
	code, err := totp.GenerateCode(seed, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	out = cliOK(t, "user", "mfa", "verify", "alice", code)
	if !regexp.MustCompile(`mfa:\s+enabled`).MatchString(out) || len(regexp.MustCompile(`\b[a-z2-7]{4}-[a-z2-7]{4}\b`).FindAllString(out, -1)) != 10 {
		t.Errorf("verify output:\n%s", out)
	}
	if !regexp.MustCompile(`mfa:\s+enabled`).MatchString(cliOK(t, "user", "show", "alice")) {
		t.Error("show does not say enabled")
	}
	var rc struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	cliJSON(t, &rc, "user", "mfa", "recovery-codes", "alice")
	if len(rc.RecoveryCodes) != 10 {
		t.Errorf("recovery-codes --json: %+v", rc)
	}
	if out := cliOK(t, "user", "mfa", "disable", "alice"); !strings.Contains(out, "disabled MFA of user alice") {
		t.Errorf("disable: %q", out)
	}
	if !regexp.MustCompile(`mfa:\s+none`).MatchString(cliOK(t, "user", "show", "alice")) {
		t.Error("show does not say none")
	}
	if code, _, _ := cli(t, "user", "mfa", "frobnicate", "alice"); code != exitUsage {
		t.Errorf("unknown action: exit %d", code)
	}
	// One's own MFA with a key: refused, saying how to log in instead.
	if code, _, errs := cli(t, "user", "mfa", "enable", "admin"); code != exitFail || !strings.Contains(errs, "password login") {
		t.Errorf("own MFA with a key: exit %d, %q", code, errs)
	}
	if out := cliOK(t, "user", "help"); !strings.Contains(out, "keyward user mfa enable USER") {
		t.Errorf("help lacks mfa:\n%s", out)
	}
}
