package argus_test

import (
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/server"
)

// TestKeyConstraints: each constraint of a key's session, allowed and refused.
func TestKeyConstraints(t *testing.T) {
	e := newEnv(t)
	e.role("keymgr", "api-keys-manage")
	e.role("viewer", "users-view")
	owner := e.newUser("owner", "", true, "keymgr", "viewer")
	tok := e.session(owner)
	e.newUser("cust-a-user", "cust-a", false)
	e.newUser("cust-b-user", "cust-b", false)
	e.newUser("no-customer", "", false)
	list := func(login string, k keyObj) *resp {
		return e.call("GET", "/authentication/v1/user/"+login+"/apikey", nil, apiKey(k.APIKey))
	}

	t.Run("source", func(t *testing.T) {
		in := e.createKey(tok, "owner", map[string]any{"validSources": "127.0.0.0/8"})
		out := e.createKey(tok, "owner", map[string]any{"validSources": []string{"10.40.0.0/16"}})
		list("owner", in).want(200)
		list("owner", out).fails(401, "authentication.apikey.source")
		// A wrong secret from outside the sources says nothing of the sources.
		bad := out.Prefix + "/" + "WRONGSECRETWRONGSECRETWRONGSECRETWRONGSE"
		e.call("GET", "/authentication/v1/user/owner/apikey", nil, apiKey(bad)).fails(401, "authentication.apikey.invalid")
	})
	t.Run("expiry", func(t *testing.T) {
		k := e.createKey(tok, "owner", map[string]any{"expirationTimestamp": e.clock.Now().Add(5 * time.Second).UnixMilli()})
		list("owner", k).want(200)
		e.clock.Add(4 * time.Second)
		list("owner", k).want(200)
		e.clock.Add(2 * time.Second)
		list("owner", k).fails(401, "authentication.apikey.expired")
	})
	tok = e.session(owner) // the clock moved
	t.Run("function", func(t *testing.T) {
		mgr := e.createKey(tok, "owner", map[string]any{"sessionConstraints": map[string]any{"function": []string{"keymgr"}}})
		view := e.createKey(tok, "owner", map[string]any{"sessionConstraints": map[string]any{"function": []string{"viewer"}}})
		if len(view.SessionConstraints.Function) != 1 || view.SessionConstraints.Function[0] != "viewer" {
			t.Fatalf("function shown %v", view.SessionConstraints.Function)
		}
		list("no-customer", mgr).want(200)
		list("no-customer", view).fails(403, "authorization.permission")
		list("owner", view).want(200) // one's own keys need no permission
	})
	t.Run("customer", func(t *testing.T) {
		k := e.createKey(tok, "owner", map[string]any{"sessionConstraints": map[string]any{"customer": []string{"cust-a", "cust-c"}}})
		if len(k.SessionConstraints.Customer) != 2 {
			t.Fatalf("customers shown %v", k.SessionConstraints.Customer)
		}
		list("cust-a-user", k).want(200)
		list("cust-b-user", k).fails(403, "authorization.customer")
		if rec := e.lastAudit(1)[0]; rec.Event != "authorize" || rec.Outcome != "failure" || rec.Reason != "customer_not_allowed" || rec.KeyID != k.ID {
			t.Fatalf("customer refusal recorded %+v", rec)
		}
		list("no-customer", k).fails(403, "authorization.customer")
		list("owner", k).want(200) // acting on oneself is always allowed
		unconstrained := e.createKey(tok, "owner", nil)
		list("cust-b-user", unconstrained).want(200)
	})
}

// TestAnotherUsersKeys: another user's keys need api-keys-manage, and
// changing them every permission that user could hold.
func TestAnotherUsersKeys(t *testing.T) {
	e := newEnv(t)
	e.role("keymgr", "api-keys-manage")
	e.role("auditor", "audit-view")
	plain := e.newUser("plain", "", true)
	mgr := e.newUser("mgr", "", true, "keymgr")
	e.newUser("target", "", false)
	e.newUser("stronger", "", false, "keymgr", "auditor")
	ptok, mtok := e.session(plain), e.session(mgr)
	e.call("GET", "/authentication/v1/user/target/apikey", nil, bearer(ptok)).fails(403, "authorization.permission")
	e.call("POST", "/authentication/v1/user/target/apikey", "{never read", bearer(ptok)).fails(403, "authorization.permission")
	e.call("GET", "/authentication/v1/user/target/signature", nil, bearer(ptok)).fails(403, "authorization.permission")
	e.call("GET", "/authentication/v1/user/nobody/apikey", nil, bearer(mtok)).fails(404, "object.notfound")
	k := e.createKey(mtok, "target", map[string]any{"description": "for target"})
	if rec := e.findAudit("apikey.create"); rec.Actor != account+":user:mgr" || rec.Subject != account+":user:target" || rec.KeyID != k.ID {
		t.Fatalf("apikey.create recorded %+v", rec)
	}
	e.call("GET", "/authentication/v1/user/target/apikey", nil, bearer(mtok)).want(200)
	e.call("DELETE", "/authentication/v1/user/target/apikey/"+k.Prefix, nil, bearer(ptok)).fails(403, "authorization.permission")
	e.call("DELETE", "/authentication/v1/user/target/apikey/"+k.Prefix, nil, bearer(mtok)).want(200)
	// A user who could hold more than the caller: refused.
	e.call("POST", "/authentication/v1/user/stronger/apikey", map[string]any{}, bearer(mtok)).fails(403, "authorization.permission")
}

// TestIdempotency: a repeated creating POST with the same Idempotency-Key
// and body gets the first answer; another body 409; concurrent repeats
// make one key.
func TestIdempotency(t *testing.T) { idempotency(t, server.Config{}) }

func idempotency(t *testing.T, cfg server.Config) {
	e := newEnvWith(t, cfg)
	u := e.newUser("alice", "", true)
	tok := e.session(u)
	path := "/authentication/v1/user/alice/apikey"
	body := `{"description":"retry me"}`
	var first, again keyObj
	e.call("POST", path, body, bearer(tok), header("Idempotency-Key", "req-1")).want(200).data(&first)
	e.call("POST", path, body, bearer(tok), header("Idempotency-Key", "req-1")).want(200).data(&again)
	if first.ID == "" || again.ID != first.ID || again.APIKey != first.APIKey {
		t.Fatalf("retry answered %s/%s, first %s/%s", again.ID, again.APIKey, first.ID, first.APIKey)
	}
	e.call("POST", path, `{"description":"other"}`, bearer(tok), header("Idempotency-Key", "req-1")).fails(409, "request.idempotency.conflict")
	e.call("POST", path, body, bearer(tok), header("Idempotency-Key", "bad key")).fieldErrors("Idempotency-Key")
	e.call("POST", path, body, bearer(tok), header("Idempotency-Key", "")).fieldErrors("Idempotency-Key")
	// Another key makes another object; after 24 h the key is free again.
	var other keyObj
	e.call("POST", path, body, bearer(tok), header("Idempotency-Key", "req-2")).want(200).data(&other)
	if other.ID == first.ID {
		t.Fatal("another Idempotency-Key got the first answer")
	}
	// Concurrent repeats create one key.
	var wg sync.WaitGroup
	ids := make([]string, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var k keyObj
			r := e.call("POST", path, `{"description":"race"}`, bearer(tok), header("Idempotency-Key", "race"))
			if r.status == 200 {
				r.data(&k)
			}
			ids[i] = k.ID
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id == "" || id != ids[0] {
			t.Fatalf("concurrent repeats answered %v", ids)
		}
	}
	var all []keyObj
	e.call("GET", path, nil, bearer(tok)).want(200).data(&all)
	if len(all) != 3 {
		t.Fatalf("%d keys, want 3 (req-1, req-2, race)", len(all))
	}
	e.clock.Add(24*time.Hour + time.Second)
	tok = e.session(u)
	e.call("POST", path, `{"description":"other"}`, bearer(tok), header("Idempotency-Key", "req-1")).want(200).data(&other)
	if other.ID == first.ID {
		t.Fatal("an idempotency record outlived 24 h")
	}
}
