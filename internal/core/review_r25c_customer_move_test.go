package core

import (
	"context"
	"testing"
	"time"
)

// review r25c F5: a key limited to customer cust-a may move a user of
// cust-a into another customer (or into none) with UpdatePrincipal's
// customer field: it decides the membership of a customer it has no access
// to (the user then shows up to, and is managed by, cust-b's limited keys,
// and leaves every customer's view when cleared). Assigning a customer is
// about that customer: a customer-limited session should only set one of
// its own customers.
func TestReviewR25cCustomerKeyMovesUserToOtherCustomer(t *testing.T) {
	ctx := context.Background()
	c, admin, _ := testCore(t, time.Now)
	full := acc(c, admin)
	u, _, err := c.CreatePrincipal(ctx, full, PrincipalSpec{Login: "alice", Kind: "user", Customer: "cust-a"})
	if err != nil {
		t.Fatal(err)
	}
	scoped := admin
	scoped.Customers, scoped.Narrowed = []string{"cust-a"}, true
	sa := acc(c, scoped)
	for _, to := range []string{"cust-b", ""} {
		to := to
		p, err := c.UpdatePrincipal(ctx, sa, u.ID, PrincipalPatch{Customer: &to})
		if AsError(err).Kind != Forbidden {
			t.Errorf("the cust-a-limited session set alice's customer to %q: %+v, err %v; want forbidden", to, p.Customer, err)
		}
		back := "cust-a"
		if _, err := c.UpdatePrincipal(ctx, full, u.ID, PrincipalPatch{Customer: &back}); err != nil {
			t.Fatal(err)
		}
	}
}
