package console

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

const opsPassword = "OPs-passw0rd-Console!"

var hex128 = regexp.MustCompile(`^[0-9a-f]{128}$`)

type registration struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Allowed []string `json:"allowed"`
	Enforce bool     `json:"enforce_mfa"`
	Rules   []struct {
		Type, Value string
	} `json:"rules"`
}

// TestConsoleInChromium walks the steps 1–6 in headless Chromium,
// then proves the result over HTTP with PS-Auth, then does steps 2–4 again
// with the keyboard alone.
func TestConsoleInChromium(t *testing.T) {
	exe := chromiumPath(t)
	kw := start(t)
	t.Cleanup(func() {
		if t.Failed() {
			for _, l := range strings.Split(kw.logs.String(), "\n") {
				if strings.Contains(l, "status=4") || strings.Contains(l, "level=ERROR") {
					t.Log(l)
				}
			}
		}
	})

	// An administrator ops (built-in admin role, password, TOTP) and a user to run as.
	var ops, runner map[string]any
	kw.native(t, "POST", "/api/v1/users", map[string]any{"login": "ops", "kind": "user", "password": opsPassword}, 201, &ops)
	kw.native(t, "POST", "/api/v1/users", map[string]any{"login": "runner", "kind": "user", "password": "RUnner-passw0rd!"}, 201, &runner)
	var roles struct {
		Items []struct{ ID, Name string } `json:"items"`
	}
	kw.native(t, "GET", "/api/v1/roles", nil, 200, &roles)
	adminRole := ""
	for _, r := range roles.Items {
		if r.Name == "admin" {
			adminRole = r.ID
		}
	}
	if adminRole == "" {
		t.Fatalf("no built-in admin role in %+v", roles.Items)
	}
	opsID := ops["id"].(string)
	kw.native(t, "PUT", "/api/v1/users/"+opsID+"/roles", map[string]any{"roles": []map[string]any{{"id": adminRole}}}, 200, nil)
	// ops enrols its own TOTP with a password session, as the MFA routes ask.
	var tok struct {
		Token string `json:"access_token"`
	}
	kw.nativeAs(t, "", "POST", "/api/v1/token", map[string]string{"login": "ops", "password": opsPassword}, 200, &tok)
	var enrol struct{ Seed string }
	kw.nativeAs(t, tok.Token, "POST", "/api/v1/users/"+opsID+"/mfa", nil, 201, &enrol)
	code := func(at time.Time) string {
		c, err := totp.GenerateCodeCustom(enrol.Seed, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	kw.nativeAs(t, tok.Token, "POST", "/api/v1/users/"+opsID+"/mfa/verify", map[string]string{"code": code(time.Now().Add(-30 * time.Second))}, 200, nil)

	b := newBrowser(t, exe)

	// A wrong password: exactly "Sign-in failed" in the live region.
	b.run(chromedp.Navigate(kw.url + "/console/"))
	b.checkA11y("sign-in")
	b.typeInto("textbox", "Login", "ops")
	b.typeInto("textbox", "Password", "Wrong-passw0rd!!")
	b.clickRole("button", "Sign In")
	b.waitStatus("Sign-in failed")
	b.shot("sign-in-failed")
	// The browser saw the 401 (the only refusal this test provokes).
	seen := 0
	for deadline := time.Now().Add(5 * time.Second); seen == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		seen = b.expected("/console/api/sign-in")
	}
	if seen == 0 {
		t.Fatal("the refused sign-in was not seen by the browser")
	}

	// 1. Sign in with password and TOTP.
	b.typeInto("textbox", "Login", "ops")
	b.typeInto("textbox", "Password", opsPassword)
	b.shot("sign-in")
	b.clickRole("button", "Sign In")
	b.typeInto("textbox", "Authentication code", code(time.Now()))
	b.checkA11y("code")
	b.shot("code")
	b.clickRole("button", "Verify")
	b.find("button", "Sign Out")
	b.find("navigation", "Main")
	b.checkA11y("home")
	b.shot("step1-signed-in")
	b.checkFaults()

	// 2. Configuration > General > API Registrations; create one.
	b.clickRole("link", "Configuration")
	b.find("heading", "General")
	b.checkA11y("configuration")
	b.clickRole("link", "API Registrations")
	b.find("heading", "API Registrations")
	b.checkA11y("registrations")
	b.clickRole("link", "Create New API Registration")
	b.checkA11y("create")
	b.typeInto("textbox", "Name", "deploy-scripts")
	b.clickRole("radio", "API Key Policy")
	b.shot("step2-create")
	b.clickRole("button", "Create API Registration")
	keyField := b.find("textbox", "Key")
	if v := b.value(keyField); !strings.HasPrefix(v, "********") {
		t.Fatalf("Key field shows %q, want key_masked", v)
	}
	b.checkA11y("details")
	b.shot("step2-details")
	regPath := b.path()

	// 3. Show Key: 128 hex; Copy Key copies the same.
	b.clickRole("button", "Show Key")
	deadline := time.Now().Add(10 * time.Second)
	oldKey := b.value(keyField)
	for !hex128.MatchString(oldKey) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		oldKey = b.value(keyField)
	}
	if !hex128.MatchString(oldKey) {
		t.Fatalf("Show Key put %q in the Key field", oldKey)
	}
	b.clickRole("button", "Copy Key")
	b.waitStatus("Copied")
	var copied []string
	b.eval(`window.__copied`, &copied)
	if len(copied) != 1 || copied[0] != oldKey {
		t.Fatalf("clipboard got %q, want the key", copied)
	}
	b.shot("step3-key")

	// 4. Allow the user, untick MFA, an IP rule and an XFF rule, update.
	users := b.find("listbox", "Users")
	b.find("listbox", "Hosts")
	b.find("listbox", "Roles")
	b.on(users, `function() { for (const o of this.options) o.selected = (o.textContent === 'runner'); this.dispatchEvent(new Event('change')); }`, nil)
	mfa := b.find("checkbox", "Enforce multi-factor authentication")
	var checked bool
	b.on(mfa, `function() { return this.checked; }`, &checked)
	if !checked {
		t.Fatal("Enforce multi-factor authentication is not ticked by default")
	}
	var desc string
	b.on(mfa, `function() { return document.getElementById(this.getAttribute('aria-describedby')).textContent; }`, &desc)
	if !strings.HasPrefix(desc, "This setting is enabled by default.") {
		t.Fatalf("MFA option described as %q", desc)
	}
	b.click(mfa)
	for i, rule := range []struct{ typ, addr string }{{"IP Rule", "127.0.0.1"}, {"X-Forwarded-For Rule", "10.50.0.0/16"}} {
		b.clickRole("button", "Add Authentication Rule")
		dlg := b.find("dialog", "Add Authentication Rule")
		b.checkA11y("rule-form")
		var text string
		b.on(dlg, `function() { return this.textContent; }`, &text)
		for _, s := range []string{"At least one IP rule or PSRUN rule is required.", "An X-Forwarded-For rule makes the X-Forwarded-For header mandatory on every request."} {
			if !strings.Contains(text, s) {
				t.Fatalf("rule form lacks %q", s)
			}
		}
		sel := b.find("combobox", "Rule Type", dlg)
		b.on(sel, `function() { for (const o of this.options) if (o.textContent === `+jsString(rule.typ)+`) this.value = o.value; }`, nil)
		b.typeInto("textbox", "Addresses", rule.addr)
		if i == 1 {
			b.shot("step4-rule-form")
		}
		b.clickRole("button", "Create Rule", dlg)
	}
	b.shot("step4-before-update")
	b.clickRole("button", "Update Registration")
	b.waitStatus("Registration updated")
	b.shot("step4-updated")
	b.checkFaults()
	regID := regPath[strings.LastIndex(regPath, "/")+1:]
	var reg registration
	kw.native(t, "GET", "/api/v1/api-registrations/"+regID, nil, 200, &reg)
	if reg.Enforce || len(reg.Allowed) != 1 || reg.Allowed[0] != "user:runner" || len(reg.Rules) != 2 ||
		reg.Rules[0].Type != "ip" || reg.Rules[0].Value != "127.0.0.1" || reg.Rules[1].Type != "xff" || reg.Rules[1].Value != "10.50.0.0/16" {
		t.Fatalf("registration after Update Registration: %+v", reg)
	}

	// 5. Rotate Key (confirmed), Show Key: a new key.
	b.clickRole("button", "Rotate Key")
	dlg := b.find("dialog", "Rotate Key")
	var sentence string
	b.on(dlg, `function() { return this.textContent; }`, &sentence)
	if !strings.Contains(sentence, "401 Unauthorized until they use the new key") {
		t.Fatalf("rotation dialog says %q", sentence)
	}
	b.checkA11y("rotate-dialog")
	b.shot("step5-confirm")
	b.clickRole("button", "Rotate Key", dlg)
	b.waitStatus("Key rotated")
	b.clickRole("button", "Show Key")
	newKey := b.value(keyField)
	deadline = time.Now().Add(10 * time.Second)
	for (!hex128.MatchString(newKey) || newKey == oldKey) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		newKey = b.value(keyField)
	}
	if !hex128.MatchString(newKey) || newKey == oldKey {
		t.Fatalf("after rotation Show Key shows %q (old %q)", newKey, oldKey)
	}
	b.shot("step5-new-key")

	// 6. Audit Log filtered on the rotation.
	b.clickRole("link", "Audit Log")
	b.find("heading", "Audit Log")
	b.checkA11y("audit")
	b.typeInto("textbox", "Event", "api_registration.key.rotate")
	for _, n := range []string{"Actor", "Key ID", "Client Address"} {
		b.find("textbox", n)
	}
	b.find("combobox", "Outcome")
	b.clickRole("button", "Filter")
	deadline = time.Now().Add(10 * time.Second)
	var rows [][]string
	for time.Now().Before(deadline) {
		b.eval(`[...document.querySelectorAll('main table tbody tr')].map(tr => [...tr.cells].map(td => td.textContent))`, &rows)
		if len(rows) > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if p := b.path(); p != "/console/audit?event=api_registration.key.rotate" {
		t.Fatalf("filters not kept in the URL: %s", p)
	}
	if len(rows) != 1 || rows[0][1] != "api_registration.key.rotate" || rows[0][2] != "success" || rows[0][4] != account+":user:ops" || rows[0][6] != "127.0.0.1" {
		t.Fatalf("audit rows = %q", rows)
	}
	b.checkA11y("audit-filtered")
	b.shot("step6-audit")
	b.checkFaults()

	// The proof over HTTP.
	if st := kw.signAppin(t, oldKey, "runner", "10.50.1.1"); st != 401 {
		t.Fatalf("old key: %d, want 401", st)
	}
	if st := kw.signAppin(t, newKey, "runner", "10.50.1.1"); st != 200 {
		t.Fatalf("new key: %d, want 200\n%s", st, kw.logs)
	}
	if st := kw.signAppin(t, newKey, "runner", ""); st != 401 {
		t.Fatalf("new key without X-Forwarded-For: %d, want 401", st)
	}

	// Steps 2–4 again, with the keyboard alone.
	keyboardPass(t, b, kw)
	b.checkFaults()

	// My Account: a key of one's own, its secret shown once with Copy.
	b.clickRole("link", "My Account")
	b.find("heading", "My API keys")
	b.checkA11y("my-account")
	b.typeInto("textbox", "Description", "laptop")
	b.clickRole("button", "Create API Key")
	secret := b.value(b.find("textbox", "New API key (shown once)"))
	if !strings.HasPrefix(secret, "kw_") {
		t.Fatalf("new key field shows %q", secret)
	}
	b.clickRole("button", "Copy")
	b.waitStatus("Copied")
	b.eval(`window.__copied`, &copied)
	if copied[len(copied)-1] != secret {
		t.Fatalf("copied %q, want the new key", copied[len(copied)-1])
	}
	b.find("button", "Revoke laptop")
	b.shot("my-account-key")
	for _, nav := range []string{"Users", "Roles", "API Keys", "Authenticators"} {
		b.clickRole("link", nav)
		b.find("heading", nav)
		b.checkA11y(nav)
		b.shot(strings.ToLower(strings.ReplaceAll(nav, " ", "-")))
	}
	// Users: create one, disable it; Roles: create one.
	b.clickRole("link", "Users")
	b.find("heading", "Users")
	b.typeInto("textbox", "Login", "alice")
	b.typeInto("textbox", "Password", "ALice-passw0rd!")
	b.clickRole("button", "Create User")
	b.find("heading", "alice")
	b.checkA11y("user")
	st := b.find("combobox", "Status")
	b.on(st, `function() { this.value = 'disabled'; }`, nil)
	b.clickRole("button", "Save User")
	b.waitStatus("User saved")
	b.shot("user")
	var listed struct {
		Items []struct{ Login, Status string } `json:"items"`
	}
	kw.native(t, "GET", "/api/v1/users?search=alice", nil, 200, &listed)
	if len(listed.Items) != 1 || listed.Items[0].Status != "disabled" {
		t.Fatalf("alice after the console: %+v", listed.Items)
	}
	b.clickRole("link", "Roles")
	b.find("heading", "Create role")
	b.typeInto("textbox", "Name", "readers")
	b.clickRole("checkbox", "users-view")
	b.clickRole("checkbox", "mon")
	b.typeInto("textbox", "IP masks", "10.0.0.0/8")
	b.clickRole("button", "Create Role")
	b.waitStatus("Role readers created")
	b.find("button", "Delete readers")
	b.clickRole("link", "Edit readers")
	b.find("heading", "Edit role readers")
	b.checkA11y("role-edit")
	b.clickRole("checkbox", "roles-view")
	b.clickRole("button", "Save Role")
	b.waitStatus("Role readers saved")
	b.shot("roles")
	var rl struct {
		Items []struct {
			ID, Name    string
			Permissions []string
			Context     *struct {
				Weekdays []string `json:"weekdays"`
				IPMasks  []string `json:"ip_masks"`
			}
		} `json:"items"`
	}
	kw.native(t, "GET", "/api/v1/roles", nil, 200, &rl)
	readers := ""
	for _, r := range rl.Items {
		if r.Name == "readers" {
			readers = r.ID
			if len(r.Permissions) != 2 || r.Context == nil || len(r.Context.Weekdays) != 1 || r.Context.Weekdays[0] != "mon" || len(r.Context.IPMasks) != 1 {
				t.Fatalf("role readers after the console: %+v %+v", r, r.Context)
			}
		}
	}
	if readers == "" {
		t.Fatal("role readers not created")
	}
	// A floating grant of readers to alice.
	b.clickRole("link", "Users")
	b.clickRole("link", "alice")
	b.find("heading", "Role grants")
	b.on(b.find("combobox", "Role"), `function() { for (const o of this.options) if (o.textContent === 'readers') this.value = o.value; }`, nil)
	b.on(b.find("combobox", "Grant type"), `function() { this.value = 'FLOATING'; }`, nil)
	b.typeInto("textbox", "Floating length (hours)", "8")
	b.clickRole("button", "Add Grant")
	b.clickRole("button", "Save Grants")
	b.waitStatus("Grants saved")
	b.checkA11y("grants")
	b.shot("grants")
	var grants struct {
		Roles []struct {
			ID             string `json:"id"`
			Type           string `json:"type"`
			FloatingLength int    `json:"floating_length"`
		} `json:"roles"`
	}
	var full struct {
		Items []struct{ ID, Login string } `json:"items"`
	}
	kw.native(t, "GET", "/api/v1/users?search=alice", nil, 200, &full)
	aliceID := full.Items[0].ID
	kw.native(t, "GET", "/api/v1/users/"+aliceID+"/roles", nil, 200, &grants)
	if len(grants.Roles) != 1 || grants.Roles[0].ID != readers || grants.Roles[0].Type != "FLOATING" || grants.Roles[0].FloatingLength != 8 {
		t.Fatalf("alice's grants after the console: %+v", grants.Roles)
	}

	// An access policy: its client secret shown once, then masked.
	b.run(chromedp.Navigate(kw.url + "/console/configuration/general/api-registrations/new"))
	b.typeInto("textbox", "Name", "oauth-client")
	b.clickRole("radio", "API Access Policy")
	b.typeInto("textbox", "Run As", "runner")
	b.clickRole("button", "Create API Registration")
	clientID := b.value(b.find("textbox", "Client ID"))
	once := b.value(b.find("textbox", "Client Secret"))
	if clientID == "" || once == "" || strings.HasPrefix(once, "*") {
		t.Fatalf("access policy: client id %q, secret %q", clientID, once)
	}
	b.checkA11y("access-policy")
	b.shot("access-policy")
	apPath := b.path()
	b.run(chromedp.Reload())
	if again := b.value(b.find("textbox", "Client Secret")); again != "********" {
		t.Fatalf("client secret after a reload: %q", again)
	}
	b.clickRole("button", "Show Client Secret")
	shown := b.value(b.find("textbox", "Client Secret"))
	for deadline := time.Now().Add(5 * time.Second); shown != once && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		shown = b.value(b.find("textbox", "Client Secret"))
	}
	if shown != once {
		t.Fatalf("Show Client Secret: %q, want the secret shown at creation", shown)
	}

	// Authenticators: enable one defined through the native API.
	kw.native(t, "PUT", "/api/v1/authenticators/authn-jwt/ci", map[string]any{"enabled": false,
		"config": map[string]any{"jwks-uri": "http://127.0.0.1:9/jwks.json"}, "allowed": []string{}}, 200, nil)
	b.clickRole("link", "Authenticators")
	b.clickRole("button", "Enable authn-jwt/ci")
	b.waitStatus("authn-jwt/ci enabled")
	b.clickRole("link", "Edit authn-jwt/ci")
	b.find("textbox", "Configuration")
	b.checkA11y("authenticators")
	b.shot("authenticators")
	var authn struct {
		Enabled bool `json:"enabled"`
	}
	kw.native(t, "GET", "/api/v1/authenticators/authn-jwt/ci", nil, 200, &authn)
	if !authn.Enabled {
		t.Fatal("Enable did not enable the authenticator")
	}

	exerciseDialogs(t, b, kw, regPath, apPath, secret, opsID, once)

	// Layout and contrast of every page visited, reloaded by its URL, at
	// 1280×800, 1366×768 and 200 % zoom (640×400 CSS pixels at scale 2);
	// then the two dialogs of a registration at 200 %.
	b.sweep(kw.url)
	b.atViewport(viewports[2], func() {
		b.run(chromedp.Navigate(kw.url + regPath))
		b.settle()
		b.clickRole("button", "Add Authentication Rule")
		b.find("dialog", "Add Authentication Rule")
		b.checkVisual("zoom200-rule-dialog")
		b.shot("zoom200-rule-dialog")
		b.press(kb.Escape)
		b.clickRole("button", "Rotate Key")
		b.find("dialog", "Rotate Key")
		b.checkVisual("zoom200-rotate-dialog")
		b.press(kb.Escape)
	})
	b.checkFaults()

	b.clickRole("button", "Sign Out")
	b.find("button", "Sign In")
	// The sign-in page and its code step at every size.
	for _, v := range viewports {
		b.atViewport(v, func() {
			b.run(chromedp.Navigate(kw.url + "/console/users"))
			b.find("button", "Sign In")
			b.checkVisual(v.name + "-sign-in")
		})
	}
	b.typeInto("textbox", "Login", "ops")
	b.typeInto("textbox", "Password", opsPassword)
	b.clickRole("button", "Sign In")
	b.find("textbox", "Authentication code")
	for _, v := range viewports {
		b.atViewport(v, func() { b.checkVisual(v.name + "-code") })
	}
	accountPass(t, b, kw, func() string { return code(time.Now().Add(30 * time.Second)) })
	t.Logf("contrast measured in %d page states: lowest text %.2f:1 (%s), lowest focus ring %.2f:1 (%s); %d page URLs swept at %d viewports",
		b.visualChecks, b.minText, b.minTextAt, b.minRing, b.minRingAt, len(b.pages), len(viewports))
	b.checkFaults()
}

func jsString(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }

// keyboardPass does steps 2–4 with Tab, Enter, Space and typing only.
func keyboardPass(t *testing.T, b *browser, kw *keyward) {
	enter := func(role, name string, within ...cdp.BackendNodeID) {
		b.tabTo(role, name, within...)
		b.press(kb.Enter)
	}
	typeIn := func(name, text string, within ...cdp.BackendNodeID) {
		b.tabTo("textbox", name, within...)
		b.press(text)
	}
	enter("link", "Configuration")
	b.find("heading", "General")
	enter("link", "API Registrations")
	b.find("heading", "API Registrations")
	enter("link", "Create New API Registration")
	typeIn("Name", "keyboard-only")
	b.tabTo("radio", "API Key Policy")
	b.press(" ")
	enter("button", "Create API Registration")
	keyField := b.find("textbox", "Key")
	b.shot("keyboard-details")
	enter("button", "Show Key")
	deadline := time.Now().Add(10 * time.Second)
	key := b.value(keyField)
	for !hex128.MatchString(key) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		key = b.value(keyField)
	}
	if !hex128.MatchString(key) {
		t.Fatalf("keyboard: Show Key gave %q", key)
	}
	enter("button", "Copy Key")
	b.waitStatus("Copied")
	// Run as runner: type-ahead in the Users list selects it.
	users := b.tabTo("listbox", "Users")
	b.press("runner")
	b.tabTo("checkbox", "Enforce multi-factor authentication")
	b.press(" ")
	for _, rule := range []struct{ letter, addr string }{{"I", "127.0.0.1"}, {"X", "10.50.0.0/16"}} {
		enter("button", "Add Authentication Rule")
		dlg := b.find("dialog", "Add Authentication Rule")
		b.tabTo("combobox", "Rule Type", dlg)
		b.press(rule.letter)
		typeIn("Addresses", rule.addr, dlg)
		enter("button", "Create Rule", dlg)
	}
	// Escape closes a dialog without adding anything.
	enter("button", "Add Authentication Rule")
	b.find("dialog", "Add Authentication Rule")
	b.press(kb.Escape)
	var open bool
	b.eval(`!!document.querySelector('[role=dialog]')`, &open)
	if open {
		t.Fatal("Escape did not close the rule dialog")
	}
	var sel []string
	b.on(users, `function() { return [...this.selectedOptions].map(o => o.textContent); }`, &sel)
	if len(sel) != 1 || sel[0] != "runner" {
		t.Fatalf("keyboard: Users selection %q", sel)
	}
	enter("button", "Update Registration")
	b.waitStatus("Registration updated")
	b.shot("keyboard-updated")
	p := b.path()
	var reg registration
	kw.native(t, "GET", "/api/v1/api-registrations/"+p[strings.LastIndex(p, "/")+1:], nil, 200, &reg)
	if reg.Name != "keyboard-only" || reg.Enforce || len(reg.Allowed) != 1 || reg.Allowed[0] != "user:runner" || len(reg.Rules) != 2 ||
		reg.Rules[0].Type != "ip" || reg.Rules[1].Type != "xff" || reg.Rules[1].Value != "10.50.0.0/16" {
		t.Fatalf("keyboard registration: %+v", reg)
	}
}
