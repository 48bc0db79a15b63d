package azure_test

import (
	"context"
	"errors"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/authn/azure"
	"github.com/keyward/keyward/internal/authn/jwt/jwttest"
)

const (
	userMirid   = "/subscriptions/sub-1/resourcegroups/rg-1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/my-identity"
	systemMirid = "/subscriptions/sub-1/resourcegroups/rg-1/providers/Microsoft.Compute/virtualMachines/vm-1"
)

func setup(t *testing.T) (*jwttest.Issuer, *azure.Authenticator) {
	t.Helper()
	iss := jwttest.NewIssuer(t)
	a, err := azure.New(authn.Config{Account: "acme", ServiceID: "prod", Values: map[string]string{"provider-uri": iss.URL}})
	if err != nil {
		t.Fatal(err)
	}
	return iss, a.(*azure.Authenticator)
}

func azClaims(iss *jwttest.Issuer, mirid string) map[string]any {
	c := iss.Claims("oid-1", "https://management.azure.com/")
	c["iss"] = iss.URL + "/" // Azure issuers end in a slash
	c["xms_mirid"] = mirid
	c["oid"] = "oid-1"
	return c
}

func TestVerify(t *testing.T) {
	iss, a := setup(t)
	with := func(k string, v any) map[string]any { c := azClaims(iss, userMirid); c[k] = v; return c }
	without := func(k string) map[string]any { c := azClaims(iss, userMirid); delete(c, k); return c }
	cases := []struct {
		name, login, token string
		want               authn.Outcome
	}{
		{"good", "host/azure/app", iss.Sign(azClaims(iss, userMirid)), authn.OK},
		{"ES256", "host/azure/app", iss.SignWith(jose.ES256, azClaims(iss, systemMirid)), authn.OK},
		{"no login", "", iss.Sign(azClaims(iss, userMirid)), authn.Bad},
		{"no xms_mirid", "host/a", iss.Sign(without("xms_mirid")), authn.Bad},
		{"no oid", "host/a", iss.Sign(without("oid")), authn.Bad},
		{"bad mirid", "host/a", iss.Sign(with("xms_mirid", "/subscriptions/s/providers/a/b/c")), authn.Bad},
		{"issuer without slash", "host/a", iss.Sign(with("iss", iss.URL)), authn.Bad},
		{"expired", "host/a", iss.Sign(with("exp", time.Now().Add(-time.Hour).Unix())), authn.Expired},
		{"wrong key", "host/a", iss.SignUnknownKey(azClaims(iss, userMirid)), authn.Bad},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, o, err := a.Verify(context.Background(), authn.Request{Login: tc.login, Credential: tc.token, Now: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			if o != tc.want {
				t.Fatalf("outcome %v (%s), want %v", o, id.Reason, tc.want)
			}
			if o == authn.OK && id.Login != tc.login {
				t.Fatalf("login %q", id.Login)
			}
		})
	}
}

func TestCheckAnnotations(t *testing.T) {
	iss, a := setup(t)
	user := authn.Identity{Claims: azClaims(iss, userMirid)}
	system := authn.Identity{Claims: azClaims(iss, systemMirid)}
	base := func(extra ...string) map[string]string {
		m := map[string]string{"authn-azure/subscription-id": "sub-1", "authn-azure/resource-group": "rg-1"}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	cases := []struct {
		name string
		id   authn.Identity
		ann  map[string]string
		want authn.Outcome
	}{
		{"required only", user, base(), authn.OK},
		{"user-assigned", user, base("authn-azure/user-assigned-identity", "my-identity"), authn.OK},
		{"user-assigned mismatch", user, base("authn-azure/user-assigned-identity", "other"), authn.Mismatch},
		{"system-assigned", system, base("authn-azure/system-assigned-identity", "oid-1"), authn.OK},
		{"system-assigned on user identity", user, base("authn-azure/system-assigned-identity", "oid-1"), authn.Mismatch},
		{"both identities", user, base("authn-azure/user-assigned-identity", "my-identity", "authn-azure/system-assigned-identity", "oid-1"), authn.Mismatch},
		{"missing resource-group", user, map[string]string{"authn-azure/subscription-id": "sub-1"}, authn.Mismatch},
		{"subscription mismatch", user, base("authn-azure/subscription-id", "sub-2"), authn.Mismatch},
		{"service-specific overrides general", user, base("authn-azure/subscription-id", "wrong", "authn-azure/prod/subscription-id", "sub-1"), authn.OK},
		{"service-specific mismatch wins", user, base("authn-azure/prod/resource-group", "rg-2"), authn.Mismatch},
		{"other service ignored", user, base("authn-azure/dev/resource-group", "rg-2"), authn.OK},
		{"not permitted", user, base("authn-azure/vm-name", "vm-1"), authn.Mismatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if o, why := a.CheckAnnotations(tc.id, "host", tc.ann); o != tc.want {
				t.Fatalf("outcome %v (%s), want %v", o, why, tc.want)
			}
		})
	}
}

func TestConfigAndStatus(t *testing.T) {
	for _, tc := range []struct {
		values map[string]string
		key    string
	}{
		{map[string]string{}, "provider-uri"},
		{map[string]string{"provider-uri": "sts.windows.net"}, "provider-uri"},
		{map[string]string{"provider-uri": "https://sts.windows.net/t/", "jwks-uri": "x"}, "jwks-uri"},
	} {
		_, err := azure.New(authn.Config{Values: tc.values})
		var ce authn.ConfigErrors
		if !errors.As(err, &ce) || len(ce) != 1 || ce[0].Key != tc.key {
			t.Errorf("New(%v) = %v, want error on %s", tc.values, err, tc.key)
		}
	}
	_, a := setup(t)
	if err := a.Status(context.Background()); err != nil {
		t.Fatalf("Status: %v", err)
	}
	down, _ := azure.New(authn.Config{Values: map[string]string{"provider-uri": "http://127.0.0.1:1"}})
	if err := down.(authn.StatusChecker).Status(context.Background()); err == nil {
		t.Fatal("Status: want error")
	}
}
