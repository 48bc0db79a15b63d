package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// kids lists the key ids the server's JWKS publishes.
func kids(t *testing.T, url string) map[string]bool {
	t.Helper()
	resp, err := http.Get(url + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, k := range set.Keys {
		out[k.Kid] = true
	}
	return out
}

// TestSigningKeyRotate: keyward signing-key rotate publishes a new signing
// key beside the old one (which keeps verifying its tokens); without the
// permission it fails with exit 1.
func TestSigningKeyRotate(t *testing.T) {
	ts := startServer(t)
	before := kids(t, ts.URL)
	out := cliOK(t, "signing-key", "rotate")
	if !strings.Contains(out, "rotated") { // the sentence, or {"rotated":true} where the output is JSON
		t.Errorf("rotate output %q", out)
	}
	after := kids(t, ts.URL)
	if len(after) != len(before)+1 {
		t.Fatalf("JWKS kids before %v, after %v: want one more", before, after)
	}
	for k := range before {
		if !after[k] {
			t.Errorf("the old key %s is no longer published", k)
		}
	}
	var created struct {
		APIKey string `json:"api_key"`
	}
	cliJSON(t, &created, "user", "create", "--login", "bob")
	t.Setenv("KEYWARD_TOKEN", created.APIKey)
	if code, _, errs := cli(t, "signing-key", "rotate"); code != exitFail || errs == "" {
		t.Errorf("rotate without the permission: exit %d, %q; want 1 and the refusal", code, errs)
	}
	if code, _, _ := cli(t, "signing-key", "rotate", "extra"); code != exitUsage {
		t.Errorf("rotate with an argument: exit %d, want 2", code)
	}
}
