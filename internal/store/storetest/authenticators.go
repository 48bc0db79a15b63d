package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

func testAuthenticators(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAccount(t, s, "acme")
	a := model.AuthenticatorService{
		Account: "acme", Type: "authn-jwt", ServiceID: "gitlab", Enabled: true,
		Config:  map[string]string{"jwks-uri": "https://gitlab.example.com/jwks"},
		Secrets: map[string][]byte{"client-secret": []byte("sealed\x00bytes")},
		Allowed: []string{"host:ci/runner"}, UpdatedAt: base, DefinedBy: "p-author",
	}
	b := model.AuthenticatorService{Account: "acme", Type: "authn-iam", ServiceID: "prod", UpdatedAt: base}
	must(t, "put a", s.PutAuthenticator(ctx, a, ev("acme", "authn-put")))
	must(t, "put b", s.PutAuthenticator(ctx, b))
	got, err := s.GetAuthenticator(ctx, "acme", "authn-jwt", "gitlab")
	must(t, "get", err)
	wantEqual(t, "authenticator", got, a)
	_, err = s.GetAuthenticator(ctx, "acme", "authn-jwt", "github")
	wantErr(t, "get missing", err, store.ErrNotFound)
	wantErr(t, "put in missing account", s.PutAuthenticator(ctx, model.AuthenticatorService{
		Account: "nope", Type: "authn-jwt", ServiceID: "x", UpdatedAt: base}), store.ErrNotFound)

	a2 := a
	a2.Enabled, a2.Config, a2.Secrets, a2.UpdatedAt, a2.DefinedBy = false, map[string]string{"issuer": "x"}, nil, at(time.Hour), "p-other"
	must(t, "replace", s.PutAuthenticator(ctx, a2, ev("acme", "authn-replace")))
	got, _ = s.GetAuthenticator(ctx, "acme", "authn-jwt", "gitlab")
	wantEqual(t, "replaced", got, a2)
	as, err := s.ListAuthenticators(ctx, "acme")
	must(t, "list", err)
	if len(as) != 2 || as[0].Type != "authn-iam" || as[1].Type != "authn-jwt" {
		t.Fatalf("list = %+v", as)
	}
	wantErr(t, "delete missing", s.DeleteAuthenticator(ctx, "acme", "authn-jwt", "github"), store.ErrNotFound)
	must(t, "delete", s.DeleteAuthenticator(ctx, "acme", "authn-jwt", "gitlab", ev("acme", "authn-delete")))
	_, err = s.GetAuthenticator(ctx, "acme", "authn-jwt", "gitlab")
	wantErr(t, "get deleted", err, store.ErrNotFound)
	if lastEvent(t, s) != "authn-delete" {
		t.Fatal("delete wrote no audit record")
	}
}
