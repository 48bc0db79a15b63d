package main

import (
	"regexp"
	"strings"
	"testing"
)

func TestUserCreateListShowUpdateDelete(t *testing.T) {
	startServer(t)
	const pw = "S3cret-Passw0rd-Long!"
	withStdin(t, pw+"\n")
	code, out, errs := cli(t, "user", "create", "--login", "alice", "--email", "alice@example.com",
		"--display-name", "Alice", "--annotation", "team=blue", "--annotation", "env=prod",
		"--restricted-to", "10.0.0.0/8,192.168.0.0/16", "--password-stdin")
	if code != 0 {
		t.Fatalf("create: exit %d: %s", code, errs)
	}
	for _, want := range []string{"alice", "alice@example.com", "team=blue", "10.0.0.0/8,192.168.0.0/16", "api_key:"} {
		if !strings.Contains(out, want) {
			t.Errorf("create output lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`has_password:\s+true`).MatchString(out) {
		t.Errorf("create output does not say the user has a password:\n%s", out)
	}
	if strings.Contains(out, pw) || strings.Contains(errs, pw) {
		t.Error("the password was printed")
	}

	// The table lists the new user; --json parses and holds it.
	out = cliOK(t, "user", "list")
	if !strings.Contains(out, "LOGIN") || !strings.Contains(out, "alice") || !strings.Contains(out, "admin") {
		t.Errorf("list:\n%s", out)
	}
	var list struct {
		Items []struct{ ID, Login string }
		Total int
	}
	cliJSON(t, &list, "user", "list", "--search", "ali")
	if list.Total != 1 || len(list.Items) != 1 || list.Items[0].Login != "alice" {
		t.Fatalf("list --search ali --json: %+v", list)
	}
	id := list.Items[0].ID

	// show by login and by id agree.
	out = cliOK(t, "user", "show", "alice")
	if !strings.Contains(out, id) || !strings.Contains(out, "env=prod") {
		t.Errorf("show alice:\n%s", out)
	}
	var u struct{ ID, Login, Status string }
	cliJSON(t, &u, "user", "show", id)
	if u.Login != "alice" || u.ID != id {
		t.Errorf("show by id: %+v", u)
	}
	if code, _, errs := cli(t, "user", "show", "nobody"); code != 1 || !strings.Contains(errs, "nobody") {
		t.Errorf("show nobody: exit %d, %q", code, errs)
	}

	// update: status, annotation set and removal; flags may follow the argument.
	out = cliOK(t, "user", "update", "alice", "--status", "disabled", "--annotation", "team=red", "--remove-annotation", "env")
	if !strings.Contains(out, "disabled") || !strings.Contains(out, "team=red") || strings.Contains(out, "env=prod") {
		t.Errorf("update:\n%s", out)
	}
	if code, _, _ := cli(t, "user", "update", "alice"); code != 2 {
		t.Errorf("update with nothing to change: exit %d, want 2", code)
	}
	code, _, errs = cli(t, "user", "update", "alice", "--restricted-to", "not-a-cidr")
	if code != 1 || !strings.Contains(errs, "not-a-cidr") && !strings.Contains(errs, "restricted_to") {
		t.Errorf("bad CIDR: exit %d, %q", code, errs)
	}

	// A duplicate login is the server's error, exit 1.
	if code, _, errs := cli(t, "user", "create", "--login", "alice"); code != 1 || errs == "" {
		t.Errorf("duplicate: exit %d, %q", code, errs)
	}

	out = cliOK(t, "user", "delete", "alice")
	if !strings.Contains(out, "deleted user alice") {
		t.Errorf("delete: %q", out)
	}
	if out := cliOK(t, "user", "list"); strings.Contains(out, "alice") {
		t.Errorf("alice still listed:\n%s", out)
	}
}

func TestUserCreateHostJSONAndPasswordStdinEmpty(t *testing.T) {
	startServer(t)
	var h struct {
		Login, Kind string
		APIKey      string `json:"api_key"`
	}
	cliJSON(t, &h, "user", "create", "--login", "apps/web", "--kind", "host")
	if h.Login != "apps/web" || h.Kind != "host" || h.APIKey == "" {
		t.Fatalf("host: %+v", h)
	}
	// A login with a slash resolves too.
	if out := cliOK(t, "user", "show", "apps/web"); !strings.Contains(out, "host") {
		t.Errorf("show apps/web:\n%s", out)
	}
	withStdin(t, "")
	if code, _, errs := cli(t, "user", "create", "--login", "carol", "--password-stdin"); code != 1 || !strings.Contains(errs, "standard input") {
		t.Errorf("empty stdin: exit %d, %q", code, errs)
	}
}
