package main

import (
	"regexp"
	"strings"
	"testing"
)

func TestAPIRegistrationCLI(t *testing.T) {
	startServer(t)
	cliOK(t, "user", "create", "--login", "svc")
	out := cliOK(t, "api-registration", "create", "--name", "ci", "--allow", "user:svc", "--rule", "ip:10.0.0.0/8",
		"--rule", "xff:203.0.113.1", "--enforce-mfa=false")
	key := regexp.MustCompile(`[0-9a-f]{128}`).FindString(out)
	if key == "" || !strings.Contains(out, "********"+key[124:]) || !strings.Contains(out, "enforce_mfa:") {
		t.Fatalf("create:\n%s", out)
	}
	var list struct {
		Items []map[string]any
		Total int
	}
	cliJSON(t, &list, "api-registration", "list")
	if list.Total != 1 || list.Items[0]["name"] != "ci" {
		t.Fatalf("list: %+v", list)
	}
	id := list.Items[0]["id"].(string)
	if out := cliOK(t, "api-registration", "list"); strings.Contains(out, key) || !strings.Contains(out, id) {
		t.Fatalf("list table:\n%s", out)
	}
	if out := cliOK(t, "api-registration", "show", id); strings.Contains(out, key) || !strings.Contains(out, "ip:10.0.0.0/8") {
		t.Fatalf("show:\n%s", out)
	}
	if out := cliOK(t, "api-registration", "show-key", id); !strings.Contains(out, key) {
		t.Fatalf("show-key:\n%s", out)
	}
	var before map[string]any
	cliJSON(t, &before, "api-registration", "show", id)
	out = cliOK(t, "api-registration", "update", id, "--rule", "ip:10.0.0.0/8", "--rule", "psrun:127.0.0.1", "--name", "ci2")
	var after map[string]any
	cliJSON(t, &after, "api-registration", "show", id)
	r0, r1 := before["rules"].([]any)[0].(map[string]any), after["rules"].([]any)[0].(map[string]any)
	if after["name"] != "ci2" || r0["id"] != r1["id"] || len(after["rules"].([]any)) != 2 {
		t.Fatalf("update kept no rule id or lost the name:\n%s\n%v", out, after)
	}
	out = cliOK(t, "api-registration", "rotate", id)
	if nk := regexp.MustCompile(`[0-9a-f]{128}`).FindString(out); nk == "" || nk == key {
		t.Fatalf("rotate:\n%s", out)
	}
	if out := cliOK(t, "api-registration", "rotate-psrun-secret", id); !regexp.MustCompile(`psrun_secret:\s+[0-9a-f]{64}`).MatchString(out) {
		t.Fatalf("rotate-psrun-secret:\n%s", out)
	}
	if code, _, errs := cli(t, "api-registration", "create", "--name", "x", "--rule", "ip:1.2.3.4-1.2.3.1"); code != 1 || !strings.Contains(errs, "rules") {
		t.Fatalf("bad rule: exit %d %q", code, errs)
	}
	if code, _, _ := cli(t, "api-registration", "create", "--rule", "ip:1.2.3.4"); code != 2 {
		t.Fatalf("create without --name: exit %d", code)
	}
	cliOK(t, "api-registration", "delete", id)
	if code, _, _ := cli(t, "api-registration", "show", id); code != 1 {
		t.Fatalf("show after delete: exit %d", code)
	}
}
