package core

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

// Review r25b R7: the change feed applies a round's principal and key
// payloads in batches (one store query per 1,000). A batch must decide as
// Changed does one by one: a principal named under another account (a
// spoofed payload) drops nothing, a principal changed in the store is
// re-read (a disabled user refused), and a key named in a batch is
// re-read (a revoked key refused, a missing one dropped).
func TestBatchedChangesApplyLikeOneByOne(t *testing.T) {
	ctx := context.Background()
	c, admin, key := testCore(t, time.Now)
	h := &changeHandler{c: c, log: slog.Default(), now: time.Now}
	valid := func() bool {
		kc, _, err := c.VerifyKey(ctx, loopback, key, Vouch{})
		if err != nil {
			t.Fatal(err)
		}
		return kc.Valid
	}
	if !valid() {
		t.Fatal("the admin key is not valid to begin with")
	}
	if err := h.PrincipalsChanged(ctx, []store.ItemRef{{Account: "nosuchaccount", ID: admin.PrincipalID}, {Account: "acme", ID: "nosuchid"}}); err != nil {
		t.Fatal(err)
	}
	if !valid() {
		t.Fatal("a batch naming the admin's principal id under another account made its valid key invalid")
	}
	if err := h.KeysChanged(ctx, []string{admin.KeyID, "nosuchkey"}); err != nil {
		t.Fatal(err)
	}
	if !valid() {
		t.Fatal("a batch re-reading the admin's unchanged key made it invalid")
	}

	// Another instance disables the admin (here: straight in the store, so
	// only the notification can tell this instance).
	if _, err := c.st.UpdatePrincipal(ctx, "acme", admin.PrincipalID, func(p model.Principal) (model.Principal, error) {
		p.Status = model.StatusDisabled
		return p, nil
	}); err != nil {
		t.Fatal(err)
	}
	valid() // cached as active
	if err := h.PrincipalsChanged(ctx, []store.ItemRef{{Account: "acme", ID: admin.PrincipalID}}); err != nil {
		t.Fatal(err)
	}
	if valid() {
		t.Fatal("a user disabled on another instance is still admitted after its principal was in a batch")
	}
	if _, err := c.st.UpdatePrincipal(ctx, "acme", admin.PrincipalID, func(p model.Principal) (model.Principal, error) {
		p.Status = model.StatusActive
		return p, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := h.PrincipalsChanged(ctx, []store.ItemRef{{Account: "acme", ID: admin.PrincipalID}}); err != nil {
		t.Fatal(err)
	}
	if !valid() {
		t.Fatal("a user re-enabled on another instance is still refused after its principal was in a batch")
	}

	// Another instance revokes the key.
	if _, err := c.st.UpdateAPIKey(ctx, admin.KeyID, func(k model.APIKey) (model.APIKey, error) {
		now := time.Now()
		k.RevokedAt = &now
		return k, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := h.KeysChanged(ctx, []string{"nosuchkey", admin.KeyID}); err != nil {
		t.Fatal(err)
	}
	if valid() {
		t.Fatal("a key revoked on another instance is still valid after it was in a batch")
	}
}
