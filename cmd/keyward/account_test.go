package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/server"
)

// initAnswerOf decodes init's (or account add's) answer, refusing members
// other than account, login and api_key.
func initAnswerOf(t *testing.T, out string) initAnswer {
	t.Helper()
	var a initAnswer
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil || a.Login != "admin" || !strings.HasPrefix(a.APIKey, "kw_") {
		t.Fatalf("answer %q: %+v %v", out, a, err)
	}
	return a
}

// usersAs lists the users an API key's account holds, through HTTP.
func usersAs(t *testing.T, url, key string) map[string]string {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/api/v1/users", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var list struct {
		Items []struct {
			ID, Login string
			RoleID    string `json:"role_id"`
		}
	}
	if res.StatusCode != 200 {
		t.Fatalf("GET /api/v1/users: status %d", res.StatusCode)
	}
	if err := json.NewDecoder(res.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, u := range list.Items {
		out[u.RoleID] = u.ID
	}
	return out
}

// accessToken exchanges an API key for an access token.
func accessToken(t *testing.T, url, key string) string {
	t.Helper()
	res, err := http.Post(url+"/api/v1/token", "application/json", strings.NewReader(`{"api_key":"`+key+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || res.StatusCode != 200 || tok.AccessToken == "" {
		t.Fatalf("token: status %d, %v", res.StatusCode, err)
	}
	return tok.AccessToken
}

// TestAccountAdd: structure item 7 of issue 17. account add makes a second
// account with its own admin and prints what init prints; each admin works
// only in its own account; a second add of a name, or an add while a server
// holds the folder, is refused with nothing on stdout.
func TestAccountAdd(t *testing.T) {
	t.Setenv("KEYWARD_ACCOUNT", "")
	t.Setenv("KEYWARD_STORE", "")
	t.Setenv("KEYWARD_CONFIG", "")
	dir := t.TempDir()
	acme := initAnswerOf(t, cliOK(t, "init", "--data", dir, "--account", "acme"))
	beta := initAnswerOf(t, cliOK(t, "account", "add", "--data", dir, "--account", "beta"))
	if acme.Account != "acme" || beta.Account != "beta" || acme.APIKey == beta.APIKey {
		t.Fatalf("init %+v, account add %+v", acme, beta)
	}

	// Refused: a name that exists (either), a missing --account, a folder
	// without a database. Nothing reaches stdout.
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"account", "add", "--data", dir, "--account", "beta"}, 1, "already exists"},
		{[]string{"account", "add", "--data", dir, "--account", "acme"}, 1, "already exists"},
		{[]string{"account", "add", "--data", dir}, 2, "--account"},
		{[]string{"account", "add", "--data", t.TempDir(), "--account", "x"}, 1, "keyward init"},
		{[]string{"account", "remove", "--data", dir}, 2, "unknown subcommand"},
	} {
		code, out, errs := cli(t, tc.args...)
		if code != tc.code || out != "" || !strings.Contains(errs, tc.want) {
			t.Errorf("keyward %v: exit %d, stdout %q, stderr %q; want exit %d and %q", tc.args, code, out, errs, tc.code, tc.want)
		}
	}

	// While a server holds the folder: refused, "in use".
	ctx := context.Background()
	s, err := server.Open(ctx, server.Config{DataDir: dir, Account: "acme"}, false)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	stop := func() { ts.Close(); s.Close() }
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	code, out, errs := cli(t, "account", "add", "--data", dir, "--account", "gamma")
	if code != 1 || out != "" || !strings.Contains(errs, "in use") {
		t.Errorf("account add while serving: exit %d, stdout %q, stderr %q", code, out, errs)
	}

	// Each admin sees and manages only its own account.
	t.Setenv("KEYWARD_ADDR", ts.URL)
	t.Setenv("KEYWARD_TOKEN", beta.APIKey)
	cliOK(t, "user", "create", "--login", "bob")
	inA, inB := usersAs(t, ts.URL, acme.APIKey), usersAs(t, ts.URL, accessToken(t, ts.URL, beta.APIKey))
	if len(inA) != 1 || inA["acme:user:admin"] == "" {
		t.Errorf("acme's admin lists %v; want acme's admin only", inA)
	}
	if len(inB) != 2 || inB["beta:user:admin"] == "" || inB["beta:user:bob"] == "" {
		t.Errorf("beta's admin lists %v; want beta's admin and bob", inB)
	}
	// beta's admin reaching acme's admin by id finds nothing.
	code, _, errs = cli(t, "user", "show", inA["acme:user:admin"])
	if code != 1 || !strings.Contains(errs, "no user") {
		t.Errorf("beta's admin showing acme's admin: exit %d, %q", code, errs)
	}
	// Stopped, the refused name is added: the refusal left nothing behind.
	stop()
	stop = nil
	if g := initAnswerOf(t, cliOK(t, "account", "add", "--data", dir, "--account", "gamma")); g.Account != "gamma" {
		t.Errorf("gamma: %+v", g)
	}
}
