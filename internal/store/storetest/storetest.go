// Package storetest is the conformance suite every store.Store backend runs in full.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

// Key is the audit chain key every store under test is opened with.
var Key = audit.NewKey([]byte("storetest audit chain key 32 byt"))

// Run runs the whole suite; open must return a fresh, empty store, opened
// with Key, that the test may use until it ends (and close it in t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Accounts", testAccounts},
		{"Principals", testPrincipals},
		{"PrincipalLoginUnique", testPrincipalLoginUnique},
		{"PrincipalList", testPrincipalList},
		{"PrincipalDeleteCascades", testPrincipalDeleteCascades},
		{"PrincipalMFA", testPrincipalMFA},
		{"Roles", testRoles},
		{"RoleList", testRoleList},
		{"Grants", testGrants},
		{"APIKeys", testAPIKeys},
		{"ConjurKey", testConjurKey},
		{"TouchAPIKeys", testTouchAPIKeys},
		{"EachAPIKey", testEachAPIKey},
		{"SigningKeys", testSigningKeys},
		{"SigningKeyRotation", testSigningKeyRotation},
		{"Authenticators", testAuthenticators},
		{"AuditWithChanges", testAuditWithChanges},
		{"AuditAppendList", testAuditAppendList},
		{"AuditRoundTrip", testAuditRoundTrip},
		{"AuditSince", testAuditSince},
		{"AuditPrune", testAuditPrune},
		{"AuditFiltered", testAuditFiltered},
		{"Nonces", testNonces},
		{"APIRegistrations", testAPIRegistrations},
		{"SurfaceSessions", testSurfaceSessions},
		{"SurfaceSessionRace", testSurfaceSessionRace},
		{"APIRegistrationHolders", testAPIRegistrationHolders},
		{"PrincipalNumbers", testPrincipalNumbers},
		{"ConcurrentUpdateAPIKey", testConcurrentUpdateAPIKey},
		{"ConcurrentUpdateAPIKeyAudited", testConcurrentUpdateAPIKeyAudited},
		{"ConcurrentUseOnce", testConcurrentUseOnce},
		{"ConcurrentAppendAudit", testConcurrentAppendAudit},
		{"ConcurrentRecoveryCode", testConcurrentRecoveryCode},
		{"AuthorsAndRoleFields", testAuthorsAndRoleFields},
		{"AuthorizedKeys", testAuthorizedKeys},
		{"SearchPrincipals", testSearchPrincipals},
		{"RoleMemberCounts", testRoleMemberCounts},
		{"SignatureKeys", testSignatureKeys},
		{"Idempotency", testIdempotency},
		{"ConcurrentIdempotency", testConcurrentIdempotency},
		{"SignatureNonces", testSignatureNonces},
		{"ConcurrentSignatureNonce", testConcurrentSignatureNonce},
		{"SignatureSessions", testSignatureSessions},
		{"ConcurrentSignatureSession", testConcurrentSignatureSession},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// base is a fixed, microsecond-precise UTC instant the fixtures build on.
var base = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)

func at(d time.Duration) time.Time { return base.Add(d) }

func ptr[T any](v T) *T { return &v }

func mustAccount(t *testing.T, s store.Store, name string) {
	t.Helper()
	if err := s.CreateAccount(context.Background(), model.Account{Name: name, CreatedAt: base}); err != nil {
		t.Fatalf("create account %s: %v", name, err)
	}
}

func newUser(account, id, login string) model.Principal {
	return model.Principal{
		ID: id, Account: account, Login: login, Kind: model.KindUser,
		Email: login + "@example.com", DisplayName: "D " + login, FullName: "F " + login,
		Attributes: map[string]string{"dept": "ops"}, Tags: []string{"a", "b"}, Source: "local",
		Settings: []byte(`{"theme":"dark"}`), Status: model.StatusActive,
		RestrictedTo: []string{"10.0.0.0/8"}, Annotations: map[string]string{"note": "x"},
		PasswordHash: "$2a$10$hash", CreatedAt: at(time.Second), UpdatedAt: at(2 * time.Second),
		Customer: "cust-" + login,
	}
}

func mustPrincipal(t *testing.T, s store.Store, p model.Principal) {
	t.Helper()
	if err := s.CreatePrincipal(context.Background(), p, nil); err != nil {
		t.Fatalf("create principal %s: %v", p.ID, err)
	}
}

func newRole(account, id, name string) model.Role {
	return model.Role{
		ID: id, Account: account, Name: name, Description: "role " + name,
		Permissions: []string{"users-view", "keys-manage"},
		Context:     &model.RoleContext{Weekdays: []string{"mon"}, IPMasks: []string{"10.0.0.0/8"}, Block: true},
		CreatedAt:   at(time.Minute), UpdatedAt: at(2 * time.Minute),
	}
}

func newKey(account, principalID, id string) model.APIKey {
	return model.APIKey{
		ID: id, Account: account, PrincipalID: principalID, Description: "key " + id,
		Hash: []byte("hash-" + id), PrevHash: []byte("prev-" + id), PrevUntil: ptr(at(time.Hour)),
		ExpiresAt: ptr(at(24 * time.Hour)), ValidSources: []string{"192.0.2.0/24"}, Roles: []string{"r1"},
		CreatedAt: at(3 * time.Second), Customers: []string{"c1", "c2"},
	}
}

// ev returns an audit event naming what it records.
func ev(account, name string) audit.Event {
	return audit.Event{
		Time: base, Account: account, Event: name, Outcome: audit.Success,
		Actor: account + ":user:admin", Subject: account + ":user:alice",
		ClientIP: "192.0.2.1", RequestID: "req-" + name,
	}
}

// auditCount returns how many audit records the store holds.
func auditCount(t *testing.T, s store.Store) int {
	t.Helper()
	_, n, err := s.ListAudit(context.Background(), "", 1, 0)
	if err != nil {
		t.Fatalf("list audit: %v", err)
	}
	return n
}

// lastEvent returns the newest audit record's event name.
func lastEvent(t *testing.T, s store.Store) string {
	t.Helper()
	recs, _, err := s.ListAudit(context.Background(), "", 1, 0)
	if err != nil || len(recs) == 0 {
		t.Fatalf("list audit: %v (%d records)", err, len(recs))
	}
	return recs[0].Event.Event
}

// mustVerify fails unless the audit chain verifies.
func mustVerify(t *testing.T, s store.Store) {
	t.Helper()
	c, err := s.VerifyAudit(context.Background())
	if err != nil || c.Broken != 0 || c.Why != "" || c.Unkeyed != 0 {
		t.Fatalf("verify audit = %+v, %v; want a valid, keyed chain", c, err)
	}
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}

func wantEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func name(i int) string { return fmt.Sprintf("%03d", i) }
