package argus_test

import (
	"testing"
)

// TestNativeCustomerField: customer on POST and PATCH /api/v1/users,
// validated (400 field customer), "" clears, shown on every user object.
func TestNativeCustomerField(t *testing.T) {
	e := newEnv(t)
	var u struct {
		ID       string  `json:"id"`
		Customer *string `json:"customer"`
	}
	e.native("POST", "/api/v1/users", e.admin, map[string]any{"login": "alice", "customer": "acme-eu"}).want(201).decode(&u)
	if u.Customer == nil || *u.Customer != "acme-eu" {
		t.Fatalf("created customer %v", u.Customer)
	}
	e.native("GET", "/api/v1/users/"+u.ID, e.admin, nil).want(200).decode(&u)
	if *u.Customer != "acme-eu" {
		t.Fatalf("read customer %v", *u.Customer)
	}
	var errBody struct {
		Error struct {
			Field string `json:"field"`
		} `json:"error"`
	}
	for _, bad := range []string{"Acme", "-acme", "acme_eu", "a234567890123456789012345678901234567890123456789012345678901234"} {
		e.native("POST", "/api/v1/users", e.admin, map[string]any{"login": "bob", "customer": bad}).want(400).decode(&errBody)
		if errBody.Error.Field != "customer" {
			t.Fatalf("%q: field %q", bad, errBody.Error.Field)
		}
		e.native("PATCH", "/api/v1/users/"+u.ID, e.admin, map[string]any{"customer": bad}).want(400).decode(&errBody)
		if errBody.Error.Field != "customer" {
			t.Fatalf("patch %q: field %q", bad, errBody.Error.Field)
		}
	}
	e.native("PATCH", "/api/v1/users/"+u.ID, e.admin, map[string]any{"customer": "acme-us"}).want(200).decode(&u)
	if *u.Customer != "acme-us" {
		t.Fatalf("patched customer %v", *u.Customer)
	}
	e.native("PATCH", "/api/v1/users/"+u.ID, e.admin, map[string]any{"customer": ""}).want(200).decode(&u)
	if u.Customer == nil || *u.Customer != "" {
		t.Fatalf("cleared customer %v", u.Customer)
	}
	var none struct {
		Customer *string `json:"customer"`
	}
	e.native("POST", "/api/v1/users", e.admin, map[string]any{"login": "carol"}).want(201).decode(&none)
	if none.Customer == nil || *none.Customer != "" {
		t.Fatal(`a user without customer must show "customer":""`)
	}
}
