package main

import (
	"strconv"
	"strings"
	"testing"
)

func TestRoleCreateGrantShowDelete(t *testing.T) {
	srv := startServer(t)
	var r struct {
		ID, Name    string
		Permissions []string
	}
	cliJSON(t, &r, "role", "create", "--name", "auditors", "--permission", "audit-view", "--permission", "users-view",
		"--description", "read the audit")
	if r.ID == "" || r.Name != "auditors" || len(r.Permissions) != 2 {
		t.Fatalf("create: %+v", r)
	}
	out := cliOK(t, "role", "create", "--name", "deployers", "--permission", "api-keys-manage")
	if !strings.Contains(out, "deployers") || !strings.Contains(out, "api-keys-manage") {
		t.Errorf("create table:\n%s", out)
	}
	out = cliOK(t, "role", "list")
	for _, want := range []string{"NAME", "auditors", "deployers", "admin"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	if out := cliOK(t, "role", "show", "auditors"); !strings.Contains(out, r.ID) || !strings.Contains(out, "read the audit") {
		t.Errorf("show by name:\n%s", out)
	}
	if out := cliOK(t, "role", "show", r.ID); !strings.Contains(out, "auditors") {
		t.Errorf("show by id:\n%s", out)
	}

	// grant by id and by name; grant adds to what the user has.
	cliOK(t, "user", "create", "--login", "eve")
	out = cliOK(t, "role", "grant", "--user", "eve", "--role", r.ID)
	if !strings.Contains(out, r.ID) || !strings.Contains(out, "PERMANENT") {
		t.Errorf("grant:\n%s", out)
	}
	var g struct {
		Roles []struct{ ID, Type string }
	}
	cliJSON(t, &g, "role", "grant", "--user", "eve", "deployers")
	if len(g.Roles) != 2 {
		t.Fatalf("second grant should add: %+v", g)
	}
	if out := cliOK(t, "user", "show", "eve"); !strings.Contains(out, r.ID) {
		t.Errorf("user show lacks the grant:\n%s", out)
	}

	// The grant takes effect: a key of eve's may read the audit.
	var k struct {
		Key string `json:"key"`
	}
	cliJSON(t, &k, "apikey", "create", "--user", "eve")
	if v := verifyKey(t, srv, k.Key); !strings.Contains(strings.Join(toStrings(v["permissions"]), ","), "audit-view") {
		t.Errorf("eve's permissions: %v", v)
	}

	// --replace sets exactly these; none removes all.
	cliJSON(t, &g, "role", "grant", "--user", "eve", "--replace", "--role", "deployers")
	if len(g.Roles) != 1 {
		t.Errorf("replace: %+v", g)
	}
	cliJSON(t, &g, "role", "grant", "--user", "eve", "--replace")
	if len(g.Roles) != 0 {
		t.Errorf("replace with none: %+v", g)
	}
	if code, _, errs := cli(t, "role", "grant", "--user", "eve", "--role", "no-such-role"); code != 1 || !strings.Contains(errs, "no-such-role") {
		t.Errorf("grant unknown role: exit %d, %q", code, errs)
	}

	out = cliOK(t, "role", "delete", "auditors")
	if !strings.Contains(out, "deleted role auditors") {
		t.Errorf("delete: %q", out)
	}
	if code, _, _ := cli(t, "role", "show", "auditors"); code != 1 {
		t.Errorf("show deleted: exit %d, want 1", code)
	}
	if code, _, errs := cli(t, "role", "create", "--name", "bad", "--permission", "fly"); code != 1 || errs == "" {
		t.Errorf("unknown permission: exit %d, %q", code, errs)
	}
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func TestAuditList(t *testing.T) {
	startServer(t)
	cliOK(t, "user", "create", "--login", "audited")
	out := cliOK(t, "audit", "list")
	if !strings.Contains(out, "EVENT") || !strings.Contains(out, "success") || !strings.Contains(out, "acme:user:audited") {
		t.Errorf("audit list:\n%s", out)
	}
	var list struct {
		Items []struct {
			Seq   int64
			Event string
		}
		Total int
	}
	cliJSON(t, &list, "audit", "list", "--limit", "2")
	if len(list.Items) != 2 || list.Total < 3 || list.Items[0].Seq < list.Items[1].Seq {
		t.Fatalf("audit list --limit 2: %+v", list)
	}
	var skipped struct {
		Items []struct{ Seq int64 }
	}
	// Every call is itself audited, so the newest records move on; the
	// oldest do not: an offset of all but one reaches back near seq 1,
	// far older than the second-newest seen above.
	cliJSON(t, &skipped, "audit", "list", "--limit", "1", "--offset", strconv.Itoa(list.Total-1))
	if len(skipped.Items) != 1 || skipped.Items[0].Seq >= list.Items[1].Seq {
		t.Errorf("offset %d: %+v, second-newest was %d", list.Total-1, skipped, list.Items[1].Seq)
	}
	if code, _, _ := cli(t, "audit", "list", "--limit", "-3"); code != 2 {
		t.Errorf("negative limit: exit %d, want 2", code)
	}
}
