package console

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// waitValue waits for the field's value to satisfy ok and returns it.
func (b *browser) waitValue(role, name string, ok func(string) bool) string {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v := b.value(b.find(role, name))
		if ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			b.shot("value")
			b.t.Fatalf("%s %q holds %q", role, name, v)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type regSecrets struct {
	Key          string `json:"key"`
	PSRUNSecret  string `json:"psrun_secret"`
	ClientSecret string `json:"client_secret"`
}

type apiKey struct {
	ID          string     `json:"id"`
	Description string     `json:"description"`
	GraceUntil  *time.Time `json:"grace_until"`
	RevokedAt   *time.Time `json:"revoked_at"`
}

// exerciseDialogs drives, each once, the dialogs and buttons the main walk
// does not reach, and checks the server's state after each through the
// native API: PSRUN show and rotate, rule removal, client secret copy and
// rotate, API key rotate (with grace) and revoke, grant removal, and the
// audit log's From/Until.
func exerciseDialogs(t *testing.T, b *browser, kw *keyward, regPath, apPath, mySecret, opsID, clientSecret string) {
	masked := func(v string) bool { return strings.HasPrefix(v, "*") }

	// PSRUN Secret: Show gives the stored one; Rotate (confirmed) changes it.
	regID := regPath[strings.LastIndex(regPath, "/")+1:]
	b.run(chromedp.Navigate(kw.url + regPath))
	b.settle()
	var before regSecrets
	kw.native(t, "GET", "/api/v1/api-registrations/"+regID+"/key", nil, 200, &before)
	b.clickRole("button", "Show PSRUN Secret")
	if shown := b.waitValue("textbox", "PSRUN Secret", func(v string) bool { return !masked(v) }); shown != before.PSRUNSecret {
		t.Fatalf("Show PSRUN Secret: %q, stored %q", shown, before.PSRUNSecret)
	}
	b.clickRole("button", "Rotate PSRUN Secret")
	dlg := b.find("dialog", "Rotate PSRUN Secret")
	b.checkA11y("psrun-dialog")
	b.clickRole("button", "Rotate PSRUN Secret", dlg)
	b.waitStatus("PSRUN secret rotated")
	b.waitValue("textbox", "PSRUN Secret", masked)
	var after regSecrets
	kw.native(t, "GET", "/api/v1/api-registrations/"+regID+"/key", nil, 200, &after)
	if after.PSRUNSecret == "" || after.PSRUNSecret == before.PSRUNSecret || after.Key != before.Key {
		t.Fatalf("PSRUN rotation: secret %q → %q, key changed %v", before.PSRUNSecret, after.PSRUNSecret, after.Key != before.Key)
	}
	b.clickRole("button", "Show PSRUN Secret")
	if shown := b.waitValue("textbox", "PSRUN Secret", func(v string) bool { return !masked(v) }); shown != after.PSRUNSecret {
		t.Fatalf("Show PSRUN Secret after rotation: %q, stored %q", shown, after.PSRUNSecret)
	}
	b.shot("psrun-rotated")

	// Remove the X-Forwarded-For rule, Update Registration: one rule left.
	b.clickRole("button", "Remove X-Forwarded-For Rule 10.50.0.0/16")
	b.clickRole("button", "Update Registration")
	b.waitStatus("Registration updated")
	var reg registration
	kw.native(t, "GET", "/api/v1/api-registrations/"+regID, nil, 200, &reg)
	if len(reg.Rules) != 1 || reg.Rules[0].Type != "ip" || reg.Rules[0].Value != "127.0.0.1" {
		t.Fatalf("rules after Remove + Update Registration: %+v", reg.Rules)
	}

	// Client secret: Copy copies the stored one; Rotate (confirmed) shows a
	// new one once, and the old one is gone.
	apID := apPath[strings.LastIndex(apPath, "/")+1:]
	b.run(chromedp.Navigate(kw.url + apPath))
	b.settle()
	b.clickRole("button", "Copy Client Secret")
	b.waitStatus("Copied")
	var copied []string
	b.eval(`window.__copied`, &copied)
	if copied[len(copied)-1] != clientSecret {
		t.Fatalf("Copy Client Secret copied %q, want %q", copied[len(copied)-1], clientSecret)
	}
	b.clickRole("button", "Rotate Client Secret")
	dlg = b.find("dialog", "Rotate Client Secret")
	b.checkA11y("client-secret-dialog")
	b.clickRole("button", "Rotate Client Secret", dlg)
	b.waitStatus("Client secret rotated; it is shown once")
	fresh := b.waitValue("textbox", "Client Secret", func(v string) bool { return !masked(v) && v != clientSecret })
	var ap regSecrets
	kw.native(t, "GET", "/api/v1/api-registrations/"+apID+"/key", nil, 200, &ap)
	if ap.ClientSecret != fresh {
		t.Fatalf("Rotate Client Secret showed %q, stored %q", fresh, ap.ClientSecret)
	}
	b.shot("client-secret-rotated")

	// My Account: rotate the key laptop with a grace period (old and new
	// both work), then revoke it (both refused).
	b.clickRole("link", "My Account")
	b.find("heading", "My API keys")
	b.clickRole("button", "Rotate laptop")
	dlg = b.find("dialog", "Rotate laptop")
	b.checkA11y("rotate-key-dialog")
	b.typeInto("textbox", "Grace period (seconds)", "600")
	b.clickRole("button", "Rotate", dlg)
	b.waitStatus("Key rotated; the new key is shown once")
	rotated := b.waitValue("textbox", "New API key (shown once)", func(v string) bool { return strings.HasPrefix(v, "kw_") && v != mySecret })
	var keys struct {
		Items []apiKey `json:"items"`
	}
	kw.nativeAs(t, rotated, "GET", "/api/v1/users/"+opsID+"/api-keys", nil, 200, &keys)
	kw.nativeAs(t, mySecret, "GET", "/api/v1/users/"+opsID+"/api-keys", nil, 200, nil)
	var laptop *apiKey
	for i, k := range keys.Items {
		if k.Description == "laptop" {
			laptop = &keys.Items[i]
		}
	}
	if laptop == nil || laptop.GraceUntil == nil || time.Until(*laptop.GraceUntil) < 5*time.Minute || laptop.RevokedAt != nil {
		t.Fatalf("laptop after Rotate with a 600 s grace: %+v", laptop)
	}
	b.shot("key-rotated")
	b.clickRole("button", "Revoke laptop")
	dlg = b.find("dialog", "Revoke laptop")
	b.checkA11y("revoke-key-dialog")
	b.clickRole("button", "Revoke", dlg)
	b.waitStatus("Key revoked")
	kw.native(t, "GET", "/api/v1/users/"+opsID+"/api-keys", nil, 200, &keys)
	for _, k := range keys.Items {
		if k.ID == laptop.ID && k.RevokedAt == nil {
			t.Fatalf("laptop after Revoke: %+v", k)
		}
	}
	for _, k := range []string{rotated, mySecret} {
		kw.nativeAs(t, k, "GET", "/api/v1/users/"+opsID+"/api-keys", nil, 401, nil)
	}

	// Users > alice: remove the grant of readers, Save Grants.
	b.clickRole("link", "Users")
	b.clickRole("link", "alice")
	b.find("heading", "Role grants")
	b.clickRole("button", "Remove grant of readers")
	b.clickRole("button", "Save Grants")
	b.waitStatus("Grants saved")
	var full struct {
		Items []struct{ ID string } `json:"items"`
	}
	kw.native(t, "GET", "/api/v1/users?search=alice", nil, 200, &full)
	var grants struct {
		Roles []struct {
			Source string `json:"source"`
		} `json:"roles"`
	}
	kw.native(t, "GET", "/api/v1/users/"+full.Items[0].ID+"/roles", nil, 200, &grants)
	for _, g := range grants.Roles {
		if g.Source == "" || g.Source == "explicit" {
			t.Fatalf("alice keeps an explicit grant after Remove + Save Grants: %+v", grants.Roles)
		}
	}

	// Audit Log: From and Until around now keep the rotations; a From in
	// the future keeps none. The rows are what the native filter counts.
	auditRows := func(from, until string) (int, url.Values) {
		b.clickRole("link", "Audit Log")
		b.find("heading", "Audit Log")
		b.typeInto("textbox", "Event", "api_registration.key.rotate")
		// datetime-local fields: set as a date picker would
		b.eval(`(() => { const f = (n) => [...document.querySelectorAll('main label')].find((l) => l.textContent === n).control;
  f('From').value = `+jsString(from)+`; f('Until').value = `+jsString(until)+`; return true; })()`, nil)
		b.clickRole("button", "Filter")
		var q url.Values
		deadline := time.Now().Add(10 * time.Second)
		for {
			p := b.path()
			if i := strings.Index(p, "?"); i > 0 {
				q, _ = url.ParseQuery(p[i+1:])
			}
			var caption string
			b.eval(`(document.querySelector('main table caption') || {}).textContent || ''`, &caption)
			if q.Get("since") != "" && caption != "" {
				var n int
				b.eval(`document.querySelectorAll('main table tbody tr').length`, &n)
				return n, q
			}
			if time.Now().After(deadline) {
				t.Fatalf("audit filter did not apply: %s", p)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	var at []string
	b.eval(`(() => { const d = new Date(), p = (n) => String(n).padStart(2, '0'), f = (d) => d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + 'T' + p(d.getHours()) + ':' + p(d.getMinutes()); return [f(new Date(d - 3600e3)), f(new Date(+d + 3600e3)), f(new Date(+d + 7200e3))]; })()`, &at)
	n, q := auditRows(at[0], at[1])
	for _, name := range []string{"since", "until"} {
		if _, err := time.Parse(time.RFC3339, q.Get(name)); err != nil {
			t.Fatalf("audit %s in the URL is %q: %v", name, q.Get(name), err)
		}
	}
	var native struct {
		Total int `json:"total"`
	}
	kw.native(t, "GET", "/api/v1/audit?"+url.Values{"event": {"api_registration.key.rotate"}, "since": {q.Get("since")}, "until": {q.Get("until")}}.Encode(), nil, 200, &native)
	if n < 2 || n != native.Total {
		t.Fatalf("audit From %s Until %s: %d rows, native total %d (want the rotations, at least 2)", at[0], at[1], n, native.Total)
	}
	b.checkA11y("audit-from-until")
	b.shot("audit-from-until")
	if n, q := auditRows(at[1], at[2]); n != 0 {
		t.Fatalf("audit From %s (the future): %d rows (%v)", at[1], n, q)
	}
}

// accountPass: ops resets carol's MFA on her user page; carol then signs
// in with a password alone, changes it on My Account, signs in again with
// the new one and enrols TOTP there (QR and seed, then a code).
func accountPass(t *testing.T, b *browser, kw *keyward, opsCode func() string) {
	const oldPw, newPw = "CArol-passw0rd-One!", "CArol-passw0rd-Two!"
	var carol map[string]any
	kw.native(t, "POST", "/api/v1/users", map[string]any{"login": "carol", "kind": "user", "password": oldPw}, 201, &carol)
	carolID := carol["id"].(string)
	var tok struct {
		Token string `json:"access_token"`
	}
	kw.nativeAs(t, "", "POST", "/api/v1/token", map[string]string{"login": "carol", "password": oldPw}, 200, &tok)
	var enrol struct{ Seed string }
	kw.nativeAs(t, tok.Token, "POST", "/api/v1/users/"+carolID+"/mfa", nil, 201, &enrol)
	c, _ := totp.GenerateCodeCustom(enrol.Seed, time.Now().Add(-30*time.Second), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	kw.nativeAs(t, tok.Token, "POST", "/api/v1/users/"+carolID+"/mfa/verify", map[string]string{"code": c}, 200, nil)
	mfaOf := func() string {
		var u struct {
			MFA string `json:"mfa"`
		}
		kw.native(t, "GET", "/api/v1/users/"+carolID, nil, 200, &u)
		return u.MFA
	}
	if m := mfaOf(); m != "enabled" {
		t.Fatalf("carol's MFA before the reset: %q", m)
	}

	// The browser is at ops's code step: finish it with the next step's code.
	b.run(chromedp.Navigate(kw.url + "/console/users/" + carolID))
	b.find("button", "Sign In")
	signIn(t, b, "ops", opsPassword)
	b.typeInto("textbox", "Authentication code", opsCode())
	b.clickRole("button", "Verify")
	b.find("heading", "carol")
	b.clickRole("button", "Reset MFA")
	dlg := b.find("dialog", "Reset MFA")
	b.checkA11y("reset-mfa-dialog")
	b.clickRole("button", "Reset MFA", dlg)
	b.waitStatus("MFA reset")
	// the page is drawn again (its key list included) before Sign Out
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var drawn bool
		b.eval(`[...document.querySelectorAll('main p')].some((p) => p.textContent === 'MFA: none') && [...document.querySelectorAll('main table caption')].some((c) => c.textContent.endsWith('API keys'))`, &drawn)
		if drawn {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the user page was not drawn again after Reset MFA")
		}
	}
	if m := mfaOf(); m != "none" {
		t.Fatalf("carol's MFA after Reset MFA: %q", m)
	}
	b.clickRole("button", "Sign Out")

	// carol: password alone now; change it on My Account.
	signIn(t, b, "carol", oldPw)
	b.find("button", "Sign Out")
	b.clickRole("link", "My Account")
	b.find("heading", "Change password")
	b.checkA11y("carol-my-account")
	b.typeInto("textbox", "New password", newPw)
	b.clickRole("button", "Change Password")
	b.waitStatus("Password changed")
	kw.nativeAs(t, "", "POST", "/api/v1/token", map[string]string{"login": "carol", "password": newPw}, 200, nil)
	kw.nativeAs(t, "", "POST", "/api/v1/token", map[string]string{"login": "carol", "password": oldPw}, 401, nil)

	// The password change ended the session (its credential stamp moved):
	// a reload shows the sign-in page; the new password signs in.
	b.run(chromedp.Navigate(kw.url + "/console/my-account"))
	b.find("button", "Sign In")
	signIn(t, b, "carol", newPw)
	b.find("heading", "Two-factor authentication (TOTP)")
	b.clickRole("button", "Enrol TOTP")
	var qr int
	for deadline := time.Now().Add(10 * time.Second); qr == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		b.eval(`(document.querySelector('canvas[aria-label="QR code of the TOTP seed"]') || {}).width || 0`, &qr)
	}
	if qr < 100 {
		t.Fatalf("no QR code drawn (canvas width %d)", qr)
	}
	seed := b.waitValue("textbox", "Seed", func(v string) bool { return len(v) >= 16 })
	b.checkA11y("carol-enrol")
	b.shot("carol-enrol")
	code, err := totp.GenerateCodeCustom(seed, time.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	b.typeInto("textbox", "Code from the app", code)
	b.clickRole("button", "Verify Code")
	b.waitStatus("TOTP enabled")
	if codes := strings.Fields(b.value(b.find("textbox", "Recovery codes"))); len(codes) != 10 {
		t.Fatalf("recovery codes shown: %q", codes)
	}
	if m := mfaOf(); m != "enabled" {
		t.Fatalf("carol's MFA after enrolling on My Account: %q", m)
	}
	b.shot("carol-enrolled")
}

// signIn fills the sign-in form.
func signIn(t *testing.T, b *browser, login, password string) {
	t.Helper()
	b.typeInto("textbox", "Login", login)
	b.typeInto("textbox", "Password", password)
	b.clickRole("button", "Sign In")
}
