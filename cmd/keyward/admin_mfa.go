package main

// keyward user mfa enable|verify|disable|recovery-codes USER.

import (
	"fmt"
	"strings"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/keyward/keyward/internal/api/native"
)

// userMFA is keyward user mfa ACTION USER [CODE]: TOTP enrolment (enable
// prints the QR code as terminal blocks, the otpauth URL and the seed),
// its verification with a code from the app (which enables MFA and prints
// the recovery codes), disable, and a new set of recovery codes.
func userMFA(c *adminCmd) int {
	if !c.parse(2, 3) {
		return c.bad()
	}
	action := c.pos[0]
	switch action {
	case "enable", "verify", "disable", "recovery-codes":
	default:
		c.usagef("unknown mfa action %q: enable, verify, disable or recovery-codes", action)
		return exitUsage
	}
	if len(c.pos) == 3 && action != "verify" {
		c.usagef("unexpected argument %q", c.pos[2])
		return exitUsage
	}
	if action == "verify" && len(c.pos) != 3 {
		c.usagef("verify needs the 6-digit code the authenticator app shows: keyward user mfa verify USER CODE")
		return exitUsage
	}
	u, err := c.resolveUser(c.pos[1])
	if err != nil {
		return c.fail(err)
	}
	path := userPath(u.ID) + "/mfa"
	switch action {
	case "enable":
		var en native.MFAEnrollment
		return c.answer("POST", path, nil, &en, func() {
			if q, err := qrcode.New(en.OTPAuthURL, qrcode.Medium); err == nil {
				fmt.Fprint(c.stdout, q.ToSmallString(false))
			}
			c.fields("otpauth_url:", en.OTPAuthURL, "seed:", en.Seed, "mfa:", "enrolling")
			fmt.Fprintf(c.stderr, "keyward: scan the code (or enter the seed) in an authenticator app, then run\n"+
				"  keyward user mfa verify %s CODE\nThe seed is shown once; it is a secret.\n", u.Login)
		})
	case "verify":
		var v native.MFAVerified
		return c.answer("POST", path+"/verify", native.MFAVerifyRequest{Code: strings.TrimSpace(c.pos[2])}, &v, func() {
			c.fields("mfa:", v.MFA, "recovery_codes:", strings.Join(v.RecoveryCodes, " "))
			fmt.Fprintln(c.stderr, "keyward: the recovery codes above are shown once; each works once in place of a code")
		})
	case "recovery-codes":
		var rc native.RecoveryCodes
		return c.answer("POST", path+"/recovery-codes", nil, &rc, func() {
			c.fields("recovery_codes:", strings.Join(rc.RecoveryCodes, " "))
			fmt.Fprintln(c.stderr, "keyward: the recovery codes above replace the old ones and are shown once")
		})
	}
	return c.remove(path, fmt.Sprintf("disabled MFA of %s %s (%s)", u.Kind, u.Login, u.ID))
}
