package argus_test

import (
	"slices"
	"sort"
	"testing"
)

// TestCustomerScopePrivX: the PrivX role-store lists (POST users/search,
// GET roles/{id}/members) show a customer-limited key only the users of its
// customers and itself, count included, as the native list does (the core's
// searchUsers); reading a user of another customer is refused; the owner's
// unconstrained key sees all. (Here because Argus makes customer-limited
// keys; the routes are PrivX's.)
func TestCustomerScopePrivX(t *testing.T) {
	e := newEnv(t)
	e.role("viewer", "users-view", "roles-view")
	owner := e.newUser("owner", "cust-a", true, "viewer")
	e.newUser("mate", "cust-a", false, "viewer")
	other := e.newUser("other", "cust-b", false, "viewer")
	e.newUser("loner", "", false, "viewer")
	strong := e.session(owner)
	limited := nativeToken(t, e, e.createKey(strong, "owner", map[string]any{"sessionConstraints": map[string]any{"customer": []string{"cust-a"}}}).APIKey)
	free := nativeToken(t, e, e.createKey(strong, "owner", map[string]any{}).APIKey)

	list := func(method, path, tok string, body any) ([]string, int) {
		t.Helper()
		var l struct {
			Count int `json:"count"`
			Items []struct {
				Principal string `json:"principal"`
			} `json:"items"`
		}
		e.native(method, path, tok, body).want(200).decode(&l)
		var out []string
		for _, it := range l.Items {
			out = append(out, it.Principal)
		}
		sort.Strings(out)
		return out, l.Count
	}
	const p = "/role-store/api/v1/"
	if got, n := list("POST", p+"users/search", limited, map[string]any{}); !slices.Equal(got, []string{"mate", "owner"}) || n != 2 {
		t.Errorf("users/search with the customer-limited key: %v (count %d), want mate and owner", got, n)
	}
	if got, n := list("POST", p+"users/search", free, map[string]any{}); len(got) != 5 || n != 5 {
		t.Errorf("users/search with the unconstrained key: %v (count %d), want all 5", got, n)
	}
	members := p + "roles/" + e.roleID("viewer") + "/members"
	if got, n := list("GET", members, limited, nil); !slices.Equal(got, []string{"mate", "owner"}) || n != 2 {
		t.Errorf("role members with the customer-limited key: %v (count %d), want mate and owner", got, n)
	}
	if got, n := list("GET", members, free, nil); len(got) != 4 || n != 4 {
		t.Errorf("role members with the unconstrained key: %v (count %d), want all 4", got, n)
	}
	if r := e.native("GET", p+"users/"+other.id, limited, nil); r.status != 403 {
		t.Errorf("another customer's user with the customer-limited key: %d %s, want 403", r.status, r.body)
	}
	e.native("GET", p+"users/"+other.id, free, nil).want(200)
}
