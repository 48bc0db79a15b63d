package main

import (
	"regexp"
	"strings"
	"testing"
)

var kwKey = regexp.MustCompile(`kw_[A-Za-z0-9_]+`)

func TestAPIKeyCreateVerifyRevoke(t *testing.T) {
	srv := startServer(t)
	cliOK(t, "user", "create", "--login", "svc")
	out := cliOK(t, "apikey", "create", "--user", "svc", "--description", "ci deploys", "--valid-sources", "127.0.0.0/8",
		"--expires-in-days", "30")
	key := kwKey.FindString(out)
	if key == "" {
		t.Fatalf("create printed no kw_ key:\n%s", out)
	}
	v := verifyKey(t, srv, key)
	if v["valid"] != true || v["principal"] != "svc" {
		t.Fatalf("verify: %v", v)
	}
	keyID, _ := v["key_id"].(string)

	// list never shows the secret; it shows the key and its description.
	out = cliOK(t, "apikey", "list", "--user", "svc")
	if strings.Contains(out, key) || !strings.Contains(out, keyID) || !strings.Contains(out, "ci deploys") || !strings.Contains(out, "active") {
		t.Errorf("list:\n%s", out)
	}
	var list struct {
		Items []map[string]any
	}
	cliJSON(t, &list, "apikey", "list", "svc")
	if len(list.Items) == 0 {
		t.Fatal("list --json: no keys")
	}
	for _, it := range list.Items {
		if _, ok := it["key"]; ok {
			t.Error("list --json holds a secret")
		}
	}

	out = cliOK(t, "apikey", "revoke", keyID)
	if !strings.Contains(out, "revoked") {
		t.Errorf("revoke: %q", out)
	}
	v = verifyKey(t, srv, key)
	if v["valid"] != false || v["code"] != "revoked" {
		t.Fatalf("verify after revoke: %v", v)
	}
	if out := cliOK(t, "apikey", "list", "--user", "svc"); !strings.Contains(out, "revoked") {
		t.Errorf("list after revoke:\n%s", out)
	}
	if code, _, errs := cli(t, "apikey", "revoke", "nosuchkey"); code != 1 || errs == "" {
		t.Errorf("revoke unknown: exit %d, %q", code, errs)
	}
	if code, _, _ := cli(t, "apikey", "create"); code != 2 {
		t.Errorf("create without --user: exit %d, want 2", code)
	}
}

func TestAPIKeyRotate(t *testing.T) {
	srv := startServer(t)
	cliOK(t, "user", "create", "--login", "svc")
	var k struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	cliJSON(t, &k, "apikey", "create", "--user", "svc")
	if !strings.HasPrefix(k.Key, "kw_") {
		t.Fatalf("create --json: %+v", k)
	}
	out := cliOK(t, "apikey", "rotate", k.ID)
	newKey := kwKey.FindString(out)
	if newKey == "" || newKey == k.Key {
		t.Fatalf("rotate printed no new key:\n%s", out)
	}
	if v := verifyKey(t, srv, newKey); v["valid"] != true {
		t.Errorf("new key: %v", v)
	}
	if v := verifyKey(t, srv, k.Key); v["valid"] != false {
		t.Errorf("old key without grace: %v", v)
	}
	// With a grace period the previous secret still works.
	out = cliOK(t, "apikey", "rotate", k.ID, "--grace", "300")
	newer := kwKey.FindString(out)
	if v := verifyKey(t, srv, newKey); v["valid"] != true {
		t.Errorf("previous key within grace: %v", v)
	}
	if v := verifyKey(t, srv, newer); v["valid"] != true {
		t.Errorf("newest key: %v", v)
	}
	if code, _, _ := cli(t, "apikey", "rotate", k.ID, "--grace", "-1"); code != 2 {
		t.Errorf("negative grace: exit %d, want 2", code)
	}
}

func TestAPIKeyWorksAsToken(t *testing.T) {
	startServer(t)
	var k struct {
		Key string `json:"key"`
	}
	cliJSON(t, &k, "apikey", "create", "--user", "admin", "--description", "cli")
	t.Setenv("KEYWARD_TOKEN", k.Key)
	if out := cliOK(t, "user", "list"); !strings.Contains(out, "admin") {
		t.Errorf("list with a fresh admin key:\n%s", out)
	}
}
