package gcp_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/authn"
	"github.com/keyward/keyward/internal/authn/gcp"
	"github.com/keyward/keyward/internal/authn/jwt/jwttest"
)

func setup(t *testing.T) (*jwttest.Issuer, *gcp.Authenticator) {
	t.Helper()
	iss := jwttest.NewIssuer(t)
	a, err := gcp.New(authn.Config{Account: "acme", Values: map[string]string{"issuer": iss.URL, "jwks-uri": iss.JWKSURL}})
	if err != nil {
		t.Fatal(err)
	}
	return iss, a.(*gcp.Authenticator)
}

func gceClaims(iss *jwttest.Issuer, aud string) map[string]any {
	c := iss.Claims("1234567890", aud)
	c["email"] = "vm@proj.iam.gserviceaccount.com"
	c["google"] = map[string]any{"compute_engine": map[string]any{"project_id": "proj", "instance_name": "vm-1"}}
	return c
}

func TestVerify(t *testing.T) {
	iss, a := setup(t)
	with := func(k string, v any) map[string]any {
		c := gceClaims(iss, "conjur/acme/host/gcp/vm")
		c[k] = v
		return c
	}
	cases := []struct {
		name, login, token string
		want               authn.Outcome
	}{
		{"good", "", iss.Sign(gceClaims(iss, "conjur/acme/host/gcp/vm")), authn.OK},
		{"route login agrees", "host/gcp/vm", iss.Sign(gceClaims(iss, "conjur/acme/host/gcp/vm")), authn.OK},
		{"route login differs", "host/other", iss.Sign(gceClaims(iss, "conjur/acme/host/gcp/vm")), authn.Bad},
		{"wrong account", "", iss.Sign(gceClaims(iss, "conjur/other/host/gcp/vm")), authn.Bad},
		{"bad audience", "", iss.Sign(gceClaims(iss, "https://conjur")), authn.Bad},
		{"no sub", "", iss.Sign(with("sub", "")), authn.Bad},
		{"wrong issuer", "", iss.Sign(with("iss", "https://accounts.example")), authn.Bad},
		{"expired", "", iss.Sign(with("exp", time.Now().Add(-time.Hour).Unix())), authn.Expired},
		{"wrong key", "", iss.SignUnknownKey(gceClaims(iss, "conjur/acme/host/gcp/vm")), authn.Bad},
		{"alg none", "", iss.SignNone(gceClaims(iss, "conjur/acme/host/gcp/vm")), authn.Bad},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, o, err := a.Verify(context.Background(), authn.Request{Account: "acme", Login: tc.login, Credential: tc.token, Now: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			if o != tc.want {
				t.Fatalf("outcome %v (%s), want %v", o, id.Reason, tc.want)
			}
			if o == authn.OK && id.Login != "host/gcp/vm" {
				t.Fatalf("login %q", id.Login)
			}
		})
	}
}

func TestCheckAnnotations(t *testing.T) {
	iss, a := setup(t)
	id := authn.Identity{Claims: gceClaims(iss, "conjur/acme/host/x")}
	cases := []struct {
		name string
		ann  map[string]string
		want authn.Outcome
	}{
		{"all match", map[string]string{"authn-gcp/project-id": "proj", "authn-gcp/instance-name": "vm-1",
			"authn-gcp/service-account-id": "1234567890", "authn-gcp/service-account-email": "vm@proj.iam.gserviceaccount.com"}, authn.OK},
		{"project only", map[string]string{"authn-gcp/project-id": "proj"}, authn.OK},
		{"project mismatch", map[string]string{"authn-gcp/project-id": "other"}, authn.Mismatch},
		{"email mismatch", map[string]string{"authn-gcp/project-id": "proj", "authn-gcp/service-account-email": "x@y"}, authn.Mismatch},
		{"instance name alone", map[string]string{"authn-gcp/instance-name": "vm-1"}, authn.Mismatch},
		{"none", map[string]string{"description": "x"}, authn.Mismatch},
		{"empty ignored", map[string]string{"authn-gcp/project-id": ""}, authn.Mismatch},
		{"not permitted", map[string]string{"authn-gcp/project-id": "proj", "authn-gcp/zone": "eu"}, authn.Mismatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if o, why := a.CheckAnnotations(id, "host", tc.ann); o != tc.want {
				t.Fatalf("outcome %v (%s), want %v", o, why, tc.want)
			}
		})
	}
	noGCE := authn.Identity{Claims: map[string]any{"sub": "1"}}
	if o, _ := a.CheckAnnotations(noGCE, "host", map[string]string{"authn-gcp/project-id": "proj"}); o != authn.Mismatch {
		t.Fatalf("project-id on token without it: %v", o)
	}
}

func TestConfigAndStatus(t *testing.T) {
	a, err := gcp.New(authn.Config{Account: "acme", Values: map[string]string{}})
	if err != nil {
		t.Fatalf("defaults: %v", err)
	}
	_ = a
	_, err = gcp.New(authn.Config{Values: map[string]string{"jwks-uri": "nope", "audience": "x"}})
	var ce authn.ConfigErrors
	if !errors.As(err, &ce) || len(ce) != 2 || ce[0].Key != "audience" || ce[1].Key != "jwks-uri" {
		t.Fatalf("config errors = %v", err)
	}
	iss, g := setup(t)
	_ = iss
	if err := g.Status(context.Background()); err != nil {
		t.Fatalf("Status: %v", err)
	}
	down, _ := gcp.New(authn.Config{Values: map[string]string{"jwks-uri": "http://127.0.0.1:1/certs"}})
	if err := down.(authn.StatusChecker).Status(context.Background()); err == nil {
		t.Fatal("Status: want error")
	}
	if _, _, err := down.Verify(context.Background(), authn.Request{Credential: iss.Sign(gceClaims(iss, "conjur/acme/host/x"))}); err == nil {
		t.Fatal("Verify with keys unreachable: want error")
	}
}
