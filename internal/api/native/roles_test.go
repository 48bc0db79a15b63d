package native_test

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRolesCRUD(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	// The built-in admin role holds every permission and is fixed.
	roles := e.do("GET", "/api/v1/roles", e.admin, nil).want(200)
	var adminRole map[string]any
	for _, r := range roles.items() {
		if r["name"] == "admin" {
			adminRole = r
		}
	}
	if adminRole == nil || adminRole["built_in"] != true || len(strs(adminRole["permissions"])) < 8 {
		t.Fatalf("built-in admin role: %v", adminRole)
	}
	adminRoleID := adminRole["id"].(string)
	e.do("PUT", "/api/v1/roles/"+adminRoleID, e.admin, map[string]any{"name": "boss", "permissions": []string{}}).errBody(400)
	e.do("DELETE", "/api/v1/roles/"+adminRoleID, e.admin, nil).errBody(400)
	e.do("POST", "/api/v1/roles", e.admin, map[string]any{"name": "admin", "permissions": []string{}}).errBody(400)

	ctx := map[string]any{"weekdays": []string{"mon", "tue"}, "start_time": "08:00", "end_time": "17:30",
		"time_zone": "Europe/Helsinki", "ip_masks": []string{"10.1.0.0/16", "192.0.2.7"}, "block": false}
	r := e.do("POST", "/api/v1/roles", e.admin, map[string]any{"name": "ops", "description": "Ops", "permissions": []string{"users-view", "roles-view"}, "context": ctx}).want(201)
	ops := r.obj()
	opsID := ops["id"].(string)
	if ops["name"] != "ops" || ops["description"] != "Ops" || !slices.Equal(strs(ops["permissions"]), []string{"users-view", "roles-view"}) {
		t.Errorf("created role: %s", r.body)
	}
	c := ops["context"].(map[string]any)
	if !slices.Equal(strs(c["ip_masks"]), []string{"10.1.0.0/16", "192.0.2.7/32"}) || c["time_zone"] != "Europe/Helsinki" || c["start_time"] != "08:00" {
		t.Errorf("context read back as %v", c)
	}
	got := e.do("GET", "/api/v1/roles/"+opsID, e.admin, nil).want(200).obj()
	if got["name"] != "ops" || got["id"] != opsID {
		t.Errorf("GET role: %v", got)
	}
	e.do("POST", "/api/v1/roles", e.admin, map[string]any{"name": "ops", "permissions": []string{}}).errBody(409)

	// Context validation names the field.
	for _, tc := range []struct {
		ctx   map[string]any
		field string
	}{
		{map[string]any{"weekdays": []string{"funday"}}, "context.weekdays"},
		{map[string]any{"start_time": "25:00"}, "context.start_time"},
		{map[string]any{"end_time": "9am"}, "context.end_time"},
		{map[string]any{"time_zone": "Mars/Olympus"}, "context.time_zone"},
		{map[string]any{"ip_masks": []string{"10.0.0.0/40"}}, "context.ip_masks"},
		{map[string]any{"ip_masks": []string{"not-an-ip"}}, "context.ip_masks"},
	} {
		body := map[string]any{"name": "bad-ctx", "permissions": []string{}, "context": tc.ctx}
		if _, f, msg := e.do("POST", "/api/v1/roles", e.admin, body).errBody(400); f != tc.field {
			t.Errorf("%v: field %q (%s), want %q", tc.ctx, f, msg, tc.field)
		}
		if _, f, _ := e.do("PUT", "/api/v1/roles/"+opsID, e.admin, body).errBody(400); f != tc.field {
			t.Errorf("PUT %v: field %q, want %q", tc.ctx, f, tc.field)
		}
	}
	for _, body := range []map[string]any{
		{"name": "", "permissions": []string{}},
		{"name": "x", "permissions": []string{"launch-missiles"}},
	} {
		e.do("POST", "/api/v1/roles", e.admin, body).errBody(400)
	}
	if n := e.do("GET", "/api/v1/roles?search=bad", e.admin, nil).want(200).total(); n != 0 {
		t.Errorf("refused roles were stored: %d", n)
	}

	// PUT replaces the whole role.
	got = e.do("PUT", "/api/v1/roles/"+opsID, e.admin, map[string]any{"name": "ops2", "permissions": []string{"audit-view"}}).want(200).obj()
	if got["name"] != "ops2" || !slices.Equal(strs(got["permissions"]), []string{"audit-view"}) || got["context"] != nil {
		t.Errorf("replaced role: %v", got)
	}
	e.do("PUT", "/api/v1/roles/no-such", e.admin, map[string]any{"name": "x", "permissions": []string{}}).errBody(404)
	e.do("GET", "/api/v1/roles/no-such", e.admin, nil).errBody(404)

	// DELETE removes the role and what it granted.
	uid, key := e.createUser("carol", "user", nil)
	e.grant(uid, opsID)
	tok := e.keyToken(key)
	e.do("GET", "/api/v1/audit", tok, nil).want(200)
	e.do("DELETE", "/api/v1/roles/"+opsID, e.admin, nil).want(204)
	e.do("GET", "/api/v1/roles/"+opsID, e.admin, nil).errBody(404)
	e.do("GET", "/api/v1/audit", tok, nil).errBody(403)
	if gs := e.do("GET", "/api/v1/users/"+uid+"/roles", e.admin, nil).want(200).obj()["roles"].([]any); len(gs) != 0 {
		t.Errorf("grants of a deleted role remain: %v", gs)
	}
}

func TestGrants(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	viewID := e.createRole("viewer", "users-view")
	auditID := e.createRole("auditor", "audit-view")
	uid, key := e.createUser("dave", "user", nil)
	tok := e.keyToken(key)
	e.do("GET", "/api/v1/users", tok, nil).errBody(403)

	set := func(roles ...map[string]any) *resp {
		return e.do("PUT", "/api/v1/users/"+uid+"/roles", e.admin, map[string]any{"roles": roles})
	}
	now := time.Now().UTC()
	period := func(from, to time.Duration) map[string]any {
		return map[string]any{"start": now.Add(from).Format(time.RFC3339), "end": now.Add(to).Format(time.RFC3339)}
	}

	// PERMANENT; the set is exact: a later PUT replaces it.
	r := set(map[string]any{"id": viewID, "type": "PERMANENT"}, map[string]any{"id": auditID}).want(200)
	if gs := r.obj()["roles"].([]any); len(gs) != 2 {
		t.Fatalf("grants: %s", r.body)
	}
	e.do("GET", "/api/v1/users", tok, nil).want(200)
	e.do("GET", "/api/v1/audit", tok, nil).want(200)
	set(map[string]any{"id": auditID}).want(200)
	e.do("GET", "/api/v1/users", tok, nil).errBody(403)
	e.do("GET", "/api/v1/audit", tok, nil).want(200)
	if gs := e.do("GET", "/api/v1/users/"+uid+"/roles", tok, nil).want(200).obj()["roles"].([]any); len(gs) != 1 || gs[0].(map[string]any)["id"] != auditID {
		t.Errorf("own grants: %v", gs)
	}
	set().want(200)
	e.do("GET", "/api/v1/audit", tok, nil).errBody(403)

	// TIME_RESTRICTED: only a period containing now gives the permission.
	set(map[string]any{"id": viewID, "type": "TIME_RESTRICTED", "periods": []any{period(-48*time.Hour, -24*time.Hour)}}).want(200)
	e.do("GET", "/api/v1/users", tok, nil).errBody(403)
	set(map[string]any{"id": viewID, "type": "TIME_RESTRICTED", "periods": []any{period(time.Hour, 2*time.Hour)}}).want(200)
	e.do("GET", "/api/v1/users", tok, nil).errBody(403)
	set(map[string]any{"id": viewID, "type": "TIME_RESTRICTED", "periods": []any{period(-48*time.Hour, -24*time.Hour), period(-time.Hour, time.Hour)}}).want(200)
	e.do("GET", "/api/v1/users", tok, nil).want(200)

	// FLOATING: holds from first use for its length, and records when it began.
	set(map[string]any{"id": viewID, "type": "FLOATING", "floating_length": 2}).want(200)
	e.do("GET", "/api/v1/users", tok, nil).want(200)
	gs := e.do("GET", "/api/v1/users/"+uid+"/roles", e.admin, nil).want(200).obj()["roles"].([]any)
	g := gs[0].(map[string]any)
	if g["type"] != "FLOATING" || g["floating_length"].(float64) != 2 || g["activated_at"] == nil {
		t.Errorf("floating grant after first use: %v", g)
	}

	// Bad grants are refused and leave the set as it was.
	for _, tc := range []struct {
		roles []map[string]any
		field string
	}{
		{[]map[string]any{{"id": "no-such-role"}}, "roles"},
		{[]map[string]any{{"id": viewID}, {"id": viewID}}, "roles"},
		{[]map[string]any{{"id": viewID, "type": "SOMETIMES"}}, "type"},
		{[]map[string]any{{"id": viewID, "type": "TIME_RESTRICTED"}}, "periods"},
		{[]map[string]any{{"id": viewID, "type": "TIME_RESTRICTED", "periods": []any{period(time.Hour, -time.Hour)}}}, "periods"},
		{[]map[string]any{{"id": viewID, "type": "FLOATING"}}, "floating_length"},
		{[]map[string]any{{"type": "PERMANENT"}}, "roles"},
	} {
		if _, f, _ := set(tc.roles...).errBody(400); f != tc.field {
			t.Errorf("%v: field %q, want %q", tc.roles, f, tc.field)
		}
	}
	if gs := e.do("GET", "/api/v1/users/"+uid+"/roles", e.admin, nil).want(200).obj()["roles"].([]any); len(gs) != 1 || gs[0].(map[string]any)["type"] != "FLOATING" {
		t.Errorf("refused PUTs changed grants: %v", gs)
	}
	e.do("PUT", "/api/v1/users/no-such/roles", e.admin, map[string]any{"roles": []any{}}).errBody(404)
}

// TestRoleContext checks that a role's context is honoured at request
// time: weekday and clock windows, IP masks (client address from
// X-Forwarded-For via the trusted loopback proxy) and the block flag.
func TestRoleContext(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := time.Now().UTC()
	var otherDays []string
	for d := 0; d < 7; d++ {
		wd := time.Weekday(d)
		if wd == now.Weekday() || wd == now.Add(24*time.Hour).Weekday() || wd == now.Add(-24*time.Hour).Weekday() {
			continue
		}
		otherDays = append(otherDays, strings.ToLower(wd.String()[:3]))
	}
	allDays := []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
	hhmm := func(d time.Duration) string { return now.Add(d).Format("15:04") }

	xff := func(ip string) []string { return []string{"X-Forwarded-For", ip} }
	cases := []struct {
		name string
		ctx  map[string]any
		hdr  []string
		want int
	}{
		{"no context", nil, nil, 200},
		{"other weekdays", map[string]any{"weekdays": otherDays, "time_zone": "UTC"}, nil, 403},
		{"every weekday", map[string]any{"weekdays": allDays}, nil, 200},
		{"clock window later today", map[string]any{"start_time": hhmm(2 * time.Hour), "end_time": hhmm(3 * time.Hour), "time_zone": "UTC"}, nil, 403},
		{"clock window around now", map[string]any{"start_time": hhmm(-time.Hour), "end_time": hhmm(time.Hour), "time_zone": "UTC"}, nil, 200},
		{"mask, client outside", map[string]any{"ip_masks": []string{"10.9.0.0/16"}}, xff("192.0.2.1"), 403},
		{"mask, loopback client", map[string]any{"ip_masks": []string{"10.9.0.0/16"}}, nil, 403},
		{"mask, client inside", map[string]any{"ip_masks": []string{"10.9.0.0/16"}}, xff("10.9.4.4"), 200},
		{"block, client inside", map[string]any{"ip_masks": []string{"10.9.0.0/16"}, "block": true}, xff("10.9.4.4"), 403},
		{"block, client outside", map[string]any{"ip_masks": []string{"10.9.0.0/16"}, "block": true}, xff("192.0.2.1"), 200},
		{"block in window", map[string]any{"weekdays": allDays, "block": true}, nil, 403},
		{"block out of window", map[string]any{"weekdays": otherDays, "time_zone": "UTC", "block": true}, nil, 200},
	}
	for i, tc := range cases {
		body := map[string]any{"name": "ctx-" + string(rune('a'+i)), "permissions": []string{"users-view"}}
		if tc.ctx != nil {
			body["context"] = tc.ctx
		}
		rid := e.do("POST", "/api/v1/roles", e.admin, body).want(201).str("id")
		uid, key := e.createUser("ctx-user-"+string(rune('a'+i)), "user", nil)
		e.grant(uid, rid)
		tok := e.keyToken(key)
		t.Run(tc.name, func(t *testing.T) {
			e := e.on(t)
			r := e.do("GET", "/api/v1/users?limit=1", tok, nil, tc.hdr...)
			if r.status != tc.want {
				t.Errorf("status %d, want %d: %s", r.status, tc.want, r.body)
			}
			// verify reports the same permissions as the route decided.
			v := e.verify(key, tc.hdr...)
			has := slices.Contains(strs(v["permissions"]), "users-view")
			if has != (tc.want == 200) {
				t.Errorf("verify permissions %v, want users-view %v", v["permissions"], tc.want == 200)
			}
		})
	}
}
