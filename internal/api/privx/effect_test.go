package privx_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

// roleIDs lists the role ids of a user object's roles.
func roleIDs(u map[string]any) []string {
	var out []string
	for _, r := range u["roles"].([]any) {
		out = append(out, r.(map[string]any)["id"].(string))
	}
	slices.Sort(out)
	return out
}

func perms(u map[string]any) string {
	var out []string
	for _, p := range u["permissions"].([]any) {
		out = append(out, p.(string))
	}
	return strings.Join(out, ",")
}

// TestGrantsInEffect: with the clock moved by hand, an expired
// TIME_RESTRICTED or FLOATING grant and a role outside its window or masks
// or inside a blocking context give nothing: not in resolve, not in
// permissions, not at any check; GET users/{id} still lists every grant.
func TestGrantsInEffect(t *testing.T) {
	e := newEnv(t)
	const p = "/role-store/api/v1/"
	view := func(name string, ctx map[string]any) string {
		body := map[string]any{"name": name, "permissions": []string{"users-view"}}
		if ctx != nil {
			body["context"] = ctx
		}
		return e.role(body)
	}
	check := func(tok, id string, wantRoles []string, wantSearch int) {
		t.Helper()
		e.admin = e.nativeToken(e.adminKey)
		res := e.do("GET", p+"users/"+id+"/resolve", e.admin, nil).want(200).obj()
		if got := roleIDs(res); !slices.Equal(got, wantRoles) {
			t.Fatalf("resolve: roles %v, want %v", got, wantRoles)
		}
		wantPerms := ""
		if len(wantRoles) > 0 {
			wantPerms = "users-view"
		}
		if got := perms(res); got != wantPerms {
			t.Fatalf("resolve permissions %q, want %q", got, wantPerms)
		}
		if got := perms(e.do("GET", p+"users/"+id, e.admin, nil).want(200).obj()); got != wantPerms {
			t.Fatalf("user permissions %q, want %q", got, wantPerms)
		}
		if st := e.do("POST", p+"users/search", tok, `{}`).status; st != wantSearch {
			t.Fatalf("search (users-view) answered %d, want %d", st, wantSearch)
		}
	}

	// TIME_RESTRICTED: in its period, then past it.
	u1, k1 := e.user("timed", nil)
	r1 := view("timed-view", nil)
	e.grant(u1, map[string]any{"id": r1, "grant_type": "TIME_RESTRICTED", "grant_start": start.Add(-time.Hour).Format(time.RFC3339),
		"grant_end": start.Add(time.Hour).Format(time.RFC3339)})
	t1 := e.nativeToken(k1)
	check(t1, u1, []string{r1}, 200)

	// FLOATING: one hour from first use.
	u2, k2 := e.user("floating", nil)
	r2 := view("floating-view", nil)
	e.grant(u2, map[string]any{"id": r2, "grant_type": "FLOATING", "floating_length": 1})
	t2 := e.nativeToken(k2)
	check(t2, u2, []string{r2}, 200) // first use: the clock starts
	item := e.do("GET", p+"users/"+u2+"/roles", e.admin, nil).want(200).items()[0]
	if item["grant_start"] != stamp(start) || item["grant_end"] != stamp(start.Add(time.Hour)) {
		t.Fatalf("activated floating grant %v – %v", item["grant_start"], item["grant_end"])
	}

	// Context: Monday 08:00–17:00 UTC from loopback; one outside its masks;
	// one blocking loopback.
	u3, k3 := e.user("windowed", nil)
	r3 := view("window", map[string]any{"enabled": true, "validity": []string{"MON"}, "start_time": "08:00", "end_time": "17:00",
		"timezone": "UTC", "ip_masks": []string{"127.0.0.0/8"}})
	e.grant(u3, map[string]any{"id": r3})
	u4, k4 := e.user("masked", nil)
	r4 := view("masked", map[string]any{"enabled": true, "ip_masks": []string{"10.0.0.0/8"}})
	e.grant(u4, map[string]any{"id": r4})
	u5, k5 := e.user("blocked", nil)
	r5 := view("blocked", map[string]any{"enabled": true, "block_role": true, "ip_masks": []string{"127.0.0.1"}})
	r5b := view("blocked-elsewhere", map[string]any{"enabled": true, "block_role": true, "ip_masks": []string{"192.0.2.0/24"}})
	e.grant(u5, map[string]any{"id": r5})
	t3, t4, t5 := e.nativeToken(k3), e.nativeToken(k4), e.nativeToken(k5)
	check(t3, u3, []string{r3}, 200)
	check(t4, u4, nil, 403)
	check(t5, u5, nil, 403)
	e.grant(u5, map[string]any{"id": r5b})
	check(t5, u5, []string{r5b}, 200)
	if got := roleIDs(e.do("GET", p+"users/"+u4, e.admin, nil).want(200).obj()); !slices.Equal(got, []string{r4}) {
		t.Fatalf("GET users/{id} lists %v, want every grant", got)
	}

	// Two hours on, Monday 12:00: the period and the floating hour are over.
	e.clock.add(2 * time.Hour)
	t1, t2, t3 = e.nativeToken(k1), e.nativeToken(k2), e.nativeToken(k3)
	check(t1, u1, nil, 403)
	check(t2, u2, nil, 403)
	check(t3, u3, []string{r3}, 200)
	if got := roleIDs(e.do("GET", p+"users/"+u1, e.admin, nil).want(200).obj()); !slices.Equal(got, []string{r1}) {
		t.Fatalf("the expired grant is no longer listed: %v", got)
	}
	// Monday 18:00: outside the window.
	e.clock.add(6 * time.Hour)
	t3 = e.nativeToken(k3)
	check(t3, u3, nil, 403)
	// AWS roles follow: nothing in effect, nothing listed.
	if n := e.do("GET", p+"users/current/awsroles", t3, nil).want(200).count(); n != 0 {
		t.Fatalf("%d AWS roles outside the window", n)
	}
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// TestAWSRoles: one item per distinct ARN of the caller's roles in effect.
func TestAWSRoles(t *testing.T) {
	e := newEnv(t)
	u, k := e.user("dev", nil)
	a := e.role(map[string]any{"name": "a", "arn": "arn:aws:iam::123456789012:role/team/dev"})
	b := e.role(map[string]any{"name": "b", "arn": "arn:aws:iam::123456789012:role/team/dev"})
	c := e.role(map[string]any{"name": "c", "arn": "arn:aws:iam::210987654321:role/ops"})
	d := e.role(map[string]any{"name": "d"})
	e.grant(u, map[string]any{"id": a}, map[string]any{"id": b}, map[string]any{"id": c}, map[string]any{"id": d})
	items := e.do("GET", "/role-store/api/v1/users/current/awsroles", e.nativeToken(k), nil).want(200).items()
	if len(items) != 2 || items[0]["id"] != "arn:aws:iam::123456789012:role/team/dev" || items[0]["name"] != "dev" ||
		len(items[0]["roles"].([]any)) != 2 || items[1]["name"] != "ops" || items[1]["status"] != "OK" {
		t.Fatalf("aws roles %v", items)
	}
}

// TestMFAAcrossSurfaces: PrivX enable is native enrolling with the same
// seed; native verify makes it ENABLED and password logins need the TOTP;
// reset gives a new seed (the old one stops working); disable turns it off.
func TestMFAAcrossSurfaces(t *testing.T) {
	e := newEnv(t)
	const p = "/role-store/api/v1/"
	const pw = "Correct-Horse-9-Battery"
	u, uk := e.user("mfauser", map[string]any{"password": pw})
	status := func() (string, string, string) {
		// The seed is shown to the user, and to a users-manage holder who
		// outranks the user (the admin), the same one.
		am := e.do("GET", p+"users/"+u, e.admin, nil).want(200).obj()["mfa"].(map[string]any)
		m := e.do("GET", p+"users/"+u, e.nativeToken(uk), nil).want(200).obj()["mfa"].(map[string]any)
		if fmt.Sprint(am["seed"]) != fmt.Sprint(m["seed"]) {
			t.Fatalf("the admin and the user read different seeds: %v / %v", am["seed"], m["seed"])
		}
		seed := ""
		if s, ok := m["seed"].(map[string]any); ok {
			seed = s["seed_string"].(string)
			if !strings.HasPrefix(s["seed_qr_code"].(string), "data:image/png;base64,iVBOR") {
				t.Fatalf("qr code %v", s["seed_qr_code"])
			}
		}
		native := e.do("GET", "/api/v1/users/"+u, e.admin, nil).want(200).str("mfa")
		return m["status"].(string), seed, native
	}
	login := func(code string) int {
		body := map[string]any{"login": "mfauser", "password": pw}
		if code != "" {
			body["totp"] = code
		}
		return e.do("POST", "/api/v1/token", "", body).status
	}
	e.do("POST", p+"users/mfa/enable", e.admin, []string{u}).want(200)
	st, seed, native := status()
	if st != "UNINITIALIZED" || native != "enrolling" || len(seed) != 32 {
		t.Fatalf("after enable: %s %q %s", st, seed, native)
	}
	// Enable again changes nothing.
	e.do("POST", p+"users/mfa/enable", e.admin, []string{u}).want(200)
	if _, again, _ := status(); again != seed {
		t.Fatal("a second enable replaced the seed")
	}
	code, _ := totp.GenerateCode(seed, e.clock.Now())
	e.do("POST", "/api/v1/users/"+u+"/mfa/verify", e.admin, map[string]any{"code": code}).want(200)
	if st, seed2, native := status(); st != "ENABLED" || seed2 != "" || native != "enabled" {
		t.Fatalf("after verify: %s %q %s", st, seed2, native)
	}
	if s := login(""); s != 401 {
		t.Fatalf("password login without a code: %d", s)
	}
	e.clock.add(30 * time.Second)
	code, _ = totp.GenerateCode(seed, e.clock.Now())
	if s := login(code); s != 200 {
		t.Fatalf("password login with the code: %d", s)
	}
	// Reset: a new seed; a code of the old one no longer verifies.
	e.do("POST", p+"users/mfa/reset", e.admin, []string{u}).want(200)
	st, newSeed, native := status()
	if st != "UNINITIALIZED" || native != "enrolling" || newSeed == seed || newSeed == "" {
		t.Fatalf("after reset: %s %s", st, native)
	}
	e.clock.add(30 * time.Second)
	old, _ := totp.GenerateCode(seed, e.clock.Now())
	if r := e.do("POST", "/api/v1/users/"+u+"/mfa/verify", e.admin, map[string]any{"code": old}); r.status != 400 {
		t.Fatalf("old seed's code after reset: %d %s", r.status, r.body)
	}
	e.do("POST", p+"users/mfa/disable", e.admin, []string{u}).want(200)
	if st, _, native := status(); st != "DISABLED" || native != "none" {
		t.Fatalf("after disable: %s %s", st, native)
	}
	if s := login(""); s != 200 {
		t.Fatalf("password login after disable: %d", s)
	}
	// An unknown id changes nothing.
	e.do("POST", p+"users/mfa/enable", e.admin, []string{u, "nobody"}).wantError(404, "NOT_FOUND", "")
	if st, _, _ := status(); st != "DISABLED" {
		t.Fatalf("a refused batch changed MFA: %s", st)
	}
	// Each seed read is audited.
	if a := string(e.do("GET", "/api/v1/audit?limit=200", e.admin, nil).want(200).body); !strings.Contains(a, "mfa.seed.read") {
		t.Fatal("seed reads are not audited")
	}
	// The seed is shown to the user and users-manage holders who may manage
	// the user only (a stronger user's: review r21 TestR21SeedOfStrongerUserShown).
	viewer, vk := e.user("viewer", nil)
	vr := e.role(map[string]any{"name": "view", "permissions": []string{"users-view"}})
	e.grant(viewer, map[string]any{"id": vr})
	e.do("POST", p+"users/mfa/enable", e.admin, []string{u}).want(200)
	m := e.do("GET", p+"users/"+u, e.nativeToken(vk), nil).want(200).obj()["mfa"].(map[string]any)
	if _, ok := m["seed"]; ok || m["status"] != "UNINITIALIZED" {
		t.Fatalf("users-view sees %v", m)
	}
}
