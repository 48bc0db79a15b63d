package core

import (
	"context"
	"errors"
	"testing"

	"github.com/keyward/keyward/internal/model"
)

// Review 25, F4: the PS-Auth OAuth token route admits its run-as principal
// from the caches; with stale caches (a shared store whose change listener
// has no recent proof of life) it must answer Unavailable, not a token.
func TestReview25PSAuthTokenNeedsFreshCaches(t *testing.T) {
	e := newPSEnv(t)
	lo := from("127.0.0.1")
	ctx := context.Background()
	_, sec, err := e.c.CreateAPIRegistration(ctx, acc(e.c, e.admin), APIRegSpec{Name: ptrTo("oauth"), Type: model.APIAccessPolicy,
		RunAs: ptrTo("bob"), AccessTokenMinutes: ptrTo(5), Rules: rules(RuleIP, "127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	req := PSTokenRequest{ClientID: sec.ClientID, ClientSecret: sec.ClientSecret, GrantType: "client_credentials"}
	if _, err := e.c.PSAuthToken(ctx, lo, "acme", req); err != nil {
		t.Fatalf("fresh caches: %v", err)
	}
	e.c.accessService.keys.fresh.shared = true // as with PostgreSQL, and no proof of life yet
	_, err = e.c.PSAuthToken(ctx, lo, "acme", req)
	var ce *Error
	if !errors.As(err, &ce) || ce.Kind != Unavailable {
		t.Fatalf("stale caches: got %v, want Unavailable", err)
	}
}
