package native

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/api"
)

func TestVerifyResponseEncodingMatchesWriteJSON(t *testing.T) {
	exp := time.Date(2031, 2, 3, 4, 5, 6, 789000000, time.UTC)
	cases := []verifyResponse{
		{Valid: false, Code: "revoked"},
		{Valid: false},
		{Valid: true, Account: "acme", Principal: "bob", PrincipalID: "p1", Kind: "user", KeyID: "k1"},
		{Valid: true, Account: "acme", Principal: "bob", PrincipalID: "p1", Kind: "user", Level: 1, KeyID: "k1"},
		{Valid: true, Level: 3, Permissions: []string{"users-view"}},
		{Valid: true, Account: "acme", Principal: "host/app\"1\n", PrincipalID: "p1", Kind: "host", KeyID: "k1",
			Permissions: []string{"api-keys-verify", "users-view"}, Roles: []string{"r<1>", "ünï"}, ExpiresAt: &exp},
		{Valid: true, Permissions: []string{}, Roles: nil},
		{Valid: true, KeyID: "k1", Permissions: []string{"users-view"}, Customers: []string{"cust-a", "c\"b"}, Narrowed: true, ExpiresAt: &exp},
		{Valid: true, Narrowed: true},
	}
	for _, v := range cases {
		rec := httptest.NewRecorder()
		api.WriteJSON(rec, 200, v)
		if got := string(v.appendJSON(nil)); got != rec.Body.String() {
			t.Errorf("appendJSON = %s\nWriteJSON  = %s", got, rec.Body.String())
		}
	}
}
