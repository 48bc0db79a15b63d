package native_test

import (
	"bytes"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"image/png"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// totpAt is the code an authenticator app shows for seed at t.
func totpAt(t *testing.T, seed string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(seed, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatalf("totp for seed %q: %v", seed, err)
	}
	return code
}

func totpNow(t *testing.T, seed string) string { t.Helper(); return totpAt(t, seed, time.Now()) }

// decodeQR reads the text of a data:image/png;base64 QR code.
func decodeQR(t *testing.T, dataURL string) string {
	t.Helper()
	b64, ok := strings.CutPrefix(dataURL, "data:image/png;base64,")
	if !ok {
		t.Fatalf("qr_code is not a PNG data URL: %.40s", dataURL)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("qr_code is not a PNG: %v", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := zxqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("qr_code does not decode as a QR code: %v", err)
	}
	return res.GetText()
}

// claims returns the payload of a compact JWS.
func claims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %.20s", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// level is a token's security level as the claim and introspection say.
func (e *env) level(tok string) int {
	e.t.Helper()
	in := e.form("/api/v1/token/introspect", url.Values{"token": {tok}}).want(200).obj()
	lvl, _ := in["security_level"].(float64)
	if c := claims(e.t, tok)["lvl"]; c != lvl {
		e.t.Fatalf("claim lvl %v, introspection security_level %v", c, lvl)
	}
	return int(lvl)
}

// mfaState is a user's mfa member, as read and as listed.
func (e *env) mfaState(id, login string) string {
	e.t.Helper()
	one := e.do("GET", "/api/v1/users/"+id, e.admin, nil).want(200).str("mfa")
	for _, it := range e.do("GET", "/api/v1/users?search="+login, e.admin, nil).want(200).items() {
		if it["id"] == id && it["mfa"] != one {
			e.t.Fatalf("list says mfa %v, read says %q", it["mfa"], one)
		}
	}
	return one
}

var recoveryShape = regexp.MustCompile(`^[a-z2-7]{4}-[a-z2-7]{4}$`)

// TestMFARoundTrip: enrolment by the user itself, the QR decoded, codes
// computed from the returned seed, verify, logins with and without the
// second factor, replays refused, recovery codes once each, levels in
// tokens, verify and introspection, and disable.
func TestMFARoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	aliceID, aliceKey := e.createUser("alice", "user", map[string]any{"password": goodPassword})
	pw := map[string]any{"login": "alice", "password": goodPassword}
	alicePw := e.token(pw)
	if got := e.mfaState(aliceID, "alice"); got != "none" {
		t.Fatalf("mfa of a new user = %q", got)
	}
	// Levels: key 1, password 2; verify says the key's.
	if l := e.level(e.keyToken(aliceKey)); l != 1 {
		t.Errorf("key token level %d", l)
	}
	if l := e.level(alicePw); l != 2 {
		t.Errorf("password token level %d", l)
	}
	if v := e.verify(aliceKey); v["security_level"] != float64(1) {
		t.Errorf("verify: %v", v)
	}

	// Enrol.
	r := e.do("POST", "/api/v1/users/"+aliceID+"/mfa", alicePw, nil).want(201)
	seed, u := r.str("seed"), r.str("otpauth_url")
	if want := "otpauth://totp/keyward:alice?secret=" + seed + "&issuer=keyward&algorithm=SHA1&digits=6&period=30"; u != want {
		t.Errorf("otpauth_url = %q, want %q", u, want)
	}
	if raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(seed); err != nil || len(raw) < 16 {
		t.Errorf("seed %q is not base32 of at least 128 bits: %v", seed, err)
	}
	if got := decodeQR(t, r.str("qr_code")); got != u {
		t.Errorf("QR code decodes to %q, want %q", got, u)
	}
	if got := e.mfaState(aliceID, "alice"); got != "enrolling" {
		t.Fatalf("mfa after enrol = %q", got)
	}
	// While enrolling, logins need no code.
	if l := e.level(e.token(pw)); l != 2 {
		t.Errorf("enrolling: password token level %d", l)
	}
	// Wrong or malformed codes: 400 naming code.
	wrong := totpAt(t, seed, time.Now().Add(-5*time.Minute))
	for _, c := range []string{"12345", "abcdef", "1234567", wrong} {
		if code, field, _ := e.do("POST", "/api/v1/users/"+aliceID+"/mfa/verify", alicePw, map[string]any{"code": c}).errBody(400); field != "code" || code != "invalid" {
			t.Errorf("verify %q: code %q field %q", c, code, field)
		}
	}
	first := totpNow(t, seed)
	r = e.do("POST", "/api/v1/users/"+aliceID+"/mfa/verify", alicePw, map[string]any{"code": first}).want(200)
	if r.str("mfa") != "enabled" {
		t.Fatalf("verify answer %s", r.body)
	}
	recovery := strs(r.obj()["recovery_codes"])
	if len(recovery) != 10 {
		t.Fatalf("%d recovery codes", len(recovery))
	}
	seen := map[string]bool{}
	for _, c := range recovery {
		if !recoveryShape.MatchString(c) || seen[c] {
			t.Errorf("recovery code %q: not xxxx-xxxx or repeated", c)
		}
		seen[c] = true
	}
	if got := e.mfaState(aliceID, "alice"); got != "enabled" {
		t.Fatalf("mfa after verify = %q", got)
	}
	e.do("POST", "/api/v1/users/"+aliceID+"/mfa/verify", alicePw, map[string]any{"code": totpNow(t, seed)}).errBody(409)

	// Logging in: mfa_required only after a right password.
	generic := e.do("POST", "/api/v1/token", "", map[string]any{"login": "alice", "password": "Wrong-Password-12"}).want(401).body
	for _, body := range []map[string]any{
		{"login": "alice", "password": "Wrong-Password-12", "totp": totpNow(t, seed)},
		{"login": "alice", "password": "Wrong-Password-12", "recovery_code": recovery[0]},
		{"login": "ghost", "password": "Wrong-Password-12", "totp": "123456"},
	} {
		if got := e.do("POST", "/api/v1/token", "", body).want(401).body; !bytes.Equal(got, generic) {
			t.Errorf("wrong password with a second factor: %s, want the generic %s", got, generic)
		}
	}
	if code, _, msg := e.do("POST", "/api/v1/token", "", pw).errBody(401); code != "mfa_required" || msg == "" {
		t.Errorf("no code: %q %q", code, msg)
	}
	with := func(k, v string) map[string]any {
		return map[string]any{"login": "alice", "password": goodPassword, k: v}
	}
	if code, _, _ := e.do("POST", "/api/v1/token", "", with("totp", wrong)).errBody(401); code != "mfa_invalid" {
		t.Errorf("wrong code: %q", code)
	}
	// The enrolment code was spent: a replay is refused, in any step of its window.
	if code, _, _ := e.do("POST", "/api/v1/token", "", with("totp", first)).errBody(401); code != "mfa_invalid" {
		t.Errorf("replayed enrolment code: %q", code)
	}
	next := totpAt(t, seed, time.Now().Add(30*time.Second))
	strong := e.token(with("totp", next))
	if l := e.level(strong); l != 3 {
		t.Errorf("password + TOTP token level %d", l)
	}
	if code, _, _ := e.do("POST", "/api/v1/token", "", with("totp", next)).errBody(401); code != "mfa_invalid" {
		t.Errorf("replayed login code: %q", code)
	}
	e.do("POST", "/api/v1/token", "", map[string]any{"login": "alice", "password": goodPassword, "totp": "1", "recovery_code": "x"}).errBody(400)
	// Recovery codes: each once, in any case, audited.
	if l := e.level(e.token(with("recovery_code", strings.ToUpper(recovery[3])))); l != 3 {
		t.Errorf("recovery-code token level %d", l)
	}
	if code, _, _ := e.do("POST", "/api/v1/token", "", with("recovery_code", recovery[3])).errBody(401); code != "mfa_invalid" {
		t.Errorf("reused recovery code: %q", code)
	}
	if rec := e.findAudit(map[string]string{"event": "mfa.recovery_code_used", "subject": account + ":user:alice"}); rec == nil || rec["outcome"] != "success" ||
		rec["detail"] != "9 recovery codes left" {
		t.Errorf("recovery code use not audited with what is left: %v", rec)
	}
	// API keys are their own factor: still level 1, no code asked.
	if l := e.level(e.keyToken(aliceKey)); l != 1 {
		t.Errorf("key token with MFA enabled: level %d", l)
	}
	// A new set replaces the old one.
	r = e.do("POST", "/api/v1/users/"+aliceID+"/mfa/recovery-codes", strong, nil).want(200)
	fresh := strs(r.obj()["recovery_codes"])
	if len(fresh) != 10 {
		t.Fatalf("%d new recovery codes", len(fresh))
	}
	e.do("POST", "/api/v1/token", "", with("recovery_code", recovery[4])).errBody(401)
	e.token(with("recovery_code", fresh[0]))

	// Read answers never carry the seed; the record of each step is there.
	for _, path := range []string{"/api/v1/users/" + aliceID, "/api/v1/users", "/api/v1/audit?limit=1000"} {
		if b := e.do("GET", path, e.admin, nil).want(200).body; bytes.Contains(b, []byte(seed)) {
			t.Errorf("GET %s holds the seed", path)
		}
	}
	for _, ev := range []string{"mfa.enroll", "mfa.verify", "mfa.recovery_codes"} {
		if rec := e.findAudit(map[string]string{"event": ev, "outcome": "success", "actor": account + ":user:alice"}); rec == nil {
			t.Errorf("no successful %s record", ev)
		}
	}

	// Disable: none, the seed destroyed, logins at level 2 again.
	e.do("DELETE", "/api/v1/users/"+aliceID+"/mfa", strong, nil).want(204)
	if got := e.mfaState(aliceID, "alice"); got != "none" {
		t.Fatalf("mfa after disable = %q", got)
	}
	if n := e.sqlCount("SELECT count(*) FROM principals WHERE id = ? AND (mfa_seed IS NOT NULL OR mfa_recovery != 'null')", aliceID); n != 0 {
		t.Errorf("seed or recovery codes kept after disable")
	}
	if l := e.level(e.token(pw)); l != 2 {
		t.Errorf("after disable: password token level %d", l)
	}
	e.do("POST", "/api/v1/users/"+aliceID+"/mfa/recovery-codes", alicePw, nil).errBody(409)
}

// TestMFAReset: enrolling again while enrolled replaces the seed: the old
// one's codes stop working.
func TestMFAReset(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, _ := e.createUser("bob", "user", map[string]any{"password": goodPassword})
	old := e.do("POST", "/api/v1/users/"+id+"/mfa", e.admin, nil).want(201).str("seed")
	e.do("POST", "/api/v1/users/"+id+"/mfa/verify", e.admin, map[string]any{"code": totpNow(t, old)}).want(200)
	seed := e.do("POST", "/api/v1/users/"+id+"/mfa", e.admin, nil).want(201).str("seed")
	if seed == old {
		t.Fatal("a reset kept the seed")
	}
	if got := e.mfaState(id, "bob"); got != "enrolling" {
		t.Fatalf("mfa after reset = %q", got)
	}
	e.do("POST", "/api/v1/users/"+id+"/mfa/verify", e.admin, map[string]any{"code": totpAt(t, old, time.Now().Add(30*time.Second))}).errBody(400)
	e.do("POST", "/api/v1/users/"+id+"/mfa/verify", e.admin, map[string]any{"code": totpNow(t, seed)}).want(200)
	if rec := e.findAudit(map[string]string{"event": "mfa.enroll", "subject": account + ":user:bob"}); rec == nil ||
		!strings.Contains(rec["detail"].(string), "reset") || !strings.Contains(rec["detail"].(string), "on behalf of") {
		t.Errorf("reset record: %v", rec)
	}
}

// TestMFALockout: five wrong codes in a row lock the user's MFA logins
// (429 with Retry-After), audited; a right password with a right code is
// refused meanwhile. (Its end, with an injected clock, is a core test.)
func TestMFALockout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, _ := e.createUser("carol", "user", map[string]any{"password": goodPassword})
	seed := e.do("POST", "/api/v1/users/"+id+"/mfa", e.admin, nil).want(201).str("seed")
	e.do("POST", "/api/v1/users/"+id+"/mfa/verify", e.admin, map[string]any{"code": totpNow(t, seed)}).want(200)
	wrong := totpAt(t, seed, time.Now().Add(-10*time.Minute))
	for i := range 5 {
		if code, _, _ := e.do("POST", "/api/v1/token", "", map[string]any{"login": "carol", "password": goodPassword, "totp": wrong}).errBody(401); code != "mfa_invalid" {
			t.Fatalf("wrong code %d: %q", i+1, code)
		}
	}
	r := e.do("POST", "/api/v1/token", "", map[string]any{"login": "carol", "password": goodPassword, "totp": totpAt(t, seed, time.Now().Add(30*time.Second))})
	r.errBody(429)
	if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
		t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
	}
	// A wrong password is still the generic 401, lock or not.
	e.do("POST", "/api/v1/token", "", map[string]any{"login": "carol", "password": "Wrong-Password-12", "totp": wrong}).errBody(401)
	if rec := e.findAudit(map[string]string{"event": "mfa.lockout", "subject": account + ":user:carol"}); rec == nil || rec["reason"] != "mfa_locked" {
		t.Errorf("lockout not audited: %v", rec)
	}
	if rec := e.findAudit(map[string]string{"event": "token", "reason": "mfa_locked"}); rec == nil {
		t.Errorf("locked login not audited")
	}
}

// TestMFADenials: each way of being refused an MFA operation, each
// audited: no permission, not outranking, a narrowed key, and one's own at
// level 1; another account's user is not found.
func TestMFADenials(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	targetID, _ := e.createUser("target", "user", map[string]any{"password": goodPassword})
	_, nobodyKey := e.createUser("nobody", "user", nil)
	mgrID, _ := e.createUser("mgr", "user", map[string]any{"password": goodPassword})
	e.grant(mgrID, e.createRole("managers", "users-manage", "users-view"))
	mgr := e.token(map[string]any{"login": "mgr", "password": goodPassword})
	_, narrowKey := e.createKey(mgrID, map[string]any{"valid_sources": []string{"127.0.0.0/8"}})
	narrow := e.keyToken(narrowKey)
	_, selfKey := e.createUser("selfie", "user", map[string]any{"password": goodPassword})
	selfID := e.do("GET", "/api/v1/users?search=selfie", e.admin, nil).want(200).items()[0]["id"].(string)

	refusals := func(reason string) int {
		n := 0
		for _, rec := range e.audit(1000) {
			if rec["outcome"] == "failure" && rec["reason"] == reason {
				n++
			}
		}
		return n
	}
	cases := []struct {
		name, who, id, code, reason string
	}{
		{"no users-manage", e.keyToken(nobodyKey), targetID, "forbidden", "missing_permission"},
		{"does not outrank the admin", mgr, e.adminID, "forbidden", "privilege_escalation"},
		{"narrowed key", narrow, targetID, "forbidden", "narrowed_credential"},
		{"own, with a key session", e.keyToken(selfKey), selfID, "insufficient_level", "insufficient_level"},
	}
	for _, tc := range cases {
		for _, op := range []struct{ method, path string }{
			{"POST", "/mfa"}, {"POST", "/mfa/verify"}, {"DELETE", "/mfa"}, {"POST", "/mfa/recovery-codes"},
		} {
			var body any
			if op.path == "/mfa/verify" {
				body = map[string]any{"code": "123456"}
			}
			before := refusals(tc.reason)
			code, _, _ := e.do(op.method, "/api/v1/users/"+tc.id+op.path, tc.who, body).errBody(403)
			if code != tc.code {
				t.Errorf("%s, %s %s: code %q, want %q", tc.name, op.method, op.path, code, tc.code)
			}
			if refusals(tc.reason) != before+1 {
				t.Errorf("%s, %s %s: refusal not audited (once) with reason %s", tc.name, op.method, op.path, tc.reason)
			}
		}
	}
	// The manager may act for a user it outranks, at any level (with a
	// full API key), audited as on the user's behalf.
	_, mgrKey := e.createKey(mgrID, nil)
	e.do("POST", "/api/v1/users/"+targetID+"/mfa", e.keyToken(mgrKey), nil).want(201)
	rec := e.findAudit(map[string]string{"event": "mfa.enroll", "actor": account + ":user:mgr"})
	if rec == nil || rec["subject"] != account+":user:target" || !strings.Contains(rec["detail"].(string), "on behalf of "+account+":user:target") {
		t.Errorf("on-behalf enrolment record: %v", rec)
	}
	e.do("DELETE", "/api/v1/users/"+targetID+"/mfa", e.keyToken(mgrKey), nil).want(204)
	if rec := e.findAudit(map[string]string{"event": "mfa.disable", "actor": account + ":user:mgr"}); rec == nil || rec["subject"] != account+":user:target" {
		t.Errorf("on-behalf disable record: %v", rec)
	}
	// Nothing was enrolled by the refusals.
	if got := e.mfaState(e.adminID, "admin"); got != "none" {
		t.Errorf("admin's mfa after refusals = %q", got)
	}
	e.do("POST", "/api/v1/users/does-not-exist/mfa", e.admin, nil).errBody(404)
}

// TestMFASockPuppetCannotLiftItsMakersFactor (review): a level-1 key of a
// user manager makes a principal with its own roles and, with that
// principal's key, would lift its owner's second factor on its owner's
// behalf. Below a password session only a strictly stronger caller may act
// on another's factor; provisioning by a stronger key still works.
func TestMFASockPuppetCannotLiftItsMakersFactor(t *testing.T) {
	e := newEnv(t)
	um := e.createRole("user-managers", "users-manage", "users-view")
	mgrID, mgrKey := e.createUser("mgr", "user", map[string]any{"password": goodPassword})
	e.grant(mgrID, um)
	pwTok := e.token(map[string]any{"account": account, "login": "mgr", "password": goodPassword})
	seed := e.do("POST", "/api/v1/users/"+mgrID+"/mfa", pwTok, nil).want(201).str("seed")
	e.do("POST", "/api/v1/users/"+mgrID+"/mfa/verify", pwTok, map[string]any{"code": totpNow(t, seed)}).want(200)

	// The stolen key makes a puppet with the same role.
	mk := e.keyToken(mgrKey)
	pupID := e.do("POST", "/api/v1/users", mk, map[string]any{"login": "puppet"}).want(201).str("id")
	pupKey := e.do("POST", "/api/v1/users", mk, map[string]any{"login": "puppet2"}).want(201).str("api_key")
	_ = pupID
	pup2ID := e.do("GET", "/api/v1/users?search=puppet2", e.admin, nil).want(200).items()[0]["id"].(string)
	e.do("PUT", "/api/v1/users/"+pup2ID+"/roles", mk, map[string]any{"roles": []map[string]any{{"id": um, "type": "PERMANENT"}}}).want(200)
	if code, _, _ := e.do("DELETE", "/api/v1/users/"+mgrID+"/mfa", pupKey, nil).errBody(403); code != "insufficient_level" {
		t.Fatalf("an equal's key lifting mgr's factor: code %q, want insufficient_level", code)
	}
	if got := e.mfaState(mgrID, "mgr"); got != "enabled" {
		t.Fatalf("mgr's factor after the refused request: %q", got)
	}
	// A strictly stronger key (the admin's) may, for provisioning.
	e.do("DELETE", "/api/v1/users/"+mgrID+"/mfa", e.adminKey, nil).want(204)
}
