package argus_test

import (
	"slices"
	"sort"
	"testing"
)

// TestCustomerScopeReads (review 22 F3): a key limited to customers (and
// the native token minted from it) sees only principals of its customers
// and itself: Conjur's GET /resources and GET /roles of another user answer
// 404 (audited customer_not_allowed), a group's members are filtered, the
// native user list is filtered (total too), and the audit log, which spans
// every customer, is refused 403. The owner's unconstrained key sees all.
func TestCustomerScopeReads(t *testing.T) {
	e := newEnv(t)
	e.role("viewer", "users-view", "roles-view", "audit-view")
	owner := e.newUser("owner", "cust-a", true, "viewer")
	e.newUser("mate", "cust-a", false, "viewer")
	e.newUser("other", "cust-b", false, "viewer")
	e.newUser("loner", "", false, "viewer")
	strong := e.session(owner)
	limited := nativeToken(t, e, e.createKey(strong, "owner", map[string]any{"sessionConstraints": map[string]any{"customer": []string{"cust-a"}}}).APIKey)
	free := nativeToken(t, e, e.createKey(strong, "owner", map[string]any{}).APIKey)

	for _, c := range []struct {
		path    string
		limited int // status with the customer-limited token
	}{
		{"/resources/" + account + "/user/owner", 200},
		{"/roles/" + account + "/user/owner", 200},
		{"/resources/" + account + "/user/mate", 200},
		{"/roles/" + account + "/user/mate", 200},
		{"/resources/" + account + "/user/other", 404},
		{"/roles/" + account + "/user/other", 404},
		{"/resources/" + account + "/user/loner", 404},
		{"/roles/" + account + "/user/loner", 404},
	} {
		if r := e.native("GET", c.path, limited, nil); r.status != c.limited {
			t.Errorf("GET %s with the customer-limited key: %d %s, want %d", c.path, r.status, r.body, c.limited)
		}
		if r := e.native("GET", c.path, free, nil); r.status != 200 {
			t.Errorf("GET %s with the unconstrained key: %d, want 200", c.path, r.status)
		}
	}
	if rec := e.findAudit("authorize"); rec.Outcome != "failure" || rec.Reason != "customer_not_allowed" || rec.Subject != "acme:user:loner" {
		t.Errorf("the hidden read was audited %+v", rec)
	}

	members := func(tok string) []string {
		var role struct {
			Members []struct {
				Member string `json:"member"`
			} `json:"members"`
		}
		e.native("GET", "/roles/"+account+"/group/viewer", tok, nil).want(200).decode(&role)
		var out []string
		for _, m := range role.Members {
			out = append(out, m.Member)
		}
		sort.Strings(out)
		return out
	}
	if got, want := members(limited), []string{account + ":user:mate", account + ":user:owner"}; !slices.Equal(got, want) {
		t.Errorf("group members seen by the customer-limited key: %v, want %v", got, want)
	}
	if got := members(free); len(got) != 4 {
		t.Errorf("group members seen by the unconstrained key: %v, want all 4", got)
	}

	users := func(tok, query string) ([]string, int) {
		var list struct {
			Items []struct {
				Login string `json:"login"`
			} `json:"items"`
			Total int `json:"total"`
		}
		e.native("GET", "/api/v1/users"+query, tok, nil).want(200).decode(&list)
		var out []string
		for _, u := range list.Items {
			out = append(out, u.Login)
		}
		sort.Strings(out)
		return out, list.Total
	}
	if got, total := users(limited, ""); !slices.Equal(got, []string{"mate", "owner"}) || total != 2 {
		t.Errorf("users listed for the customer-limited key: %v (total %d), want mate and owner", got, total)
	}
	if got, total := users(limited, "?search=o&limit=1&offset=0"); len(got) != 1 || total != 1 {
		t.Errorf("search o for the customer-limited key: %v (total %d), want owner only", got, total)
	}
	if got, total := users(free, ""); len(got) != 5 || total != 5 {
		t.Errorf("users listed for the unconstrained key: %v (total %d), want all 5 (admin included)", got, total)
	}

	if r := e.native("GET", "/api/v1/audit?limit=5", limited, nil); r.status != 403 {
		t.Errorf("audit log with the customer-limited key: %d %s, want 403", r.status, r.body)
	}
	if rec := e.findAudit("authorize"); rec.Outcome != "failure" || rec.Reason != "customer_not_allowed" || rec.Detail != "the audit log" {
		t.Errorf("the audit refusal was audited %+v", rec)
	}
	e.native("GET", "/api/v1/audit?limit=5", free, nil).want(200)
}
