package storetest

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

// testPrincipalMFA: a principal's second factor (state, sealed seed,
// recovery-code HMACs) round-trips, is changed by updaters like any other
// field, and survives updates that do not touch it.
func testPrincipalMFA(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAccount(t, s, "acme")
	p := newUser("acme", "p1", "alice")
	mustPrincipal(t, s, p)
	got, err := s.GetPrincipal(ctx, "acme", "p1")
	must(t, "get", err)
	if got.MFA != "" || got.MFASeed != nil || got.MFARecovery != nil {
		t.Fatalf("a new principal has MFA %q, seed %x, recovery %x", got.MFA, got.MFASeed, got.MFARecovery)
	}
	seed := []byte{0, 1, 2, 0xfe, 0xff, 'x'}
	rec := [][]byte{[]byte("h1\x00"), []byte("h2")}
	up, err := s.UpdatePrincipal(ctx, "acme", "p1", func(old model.Principal) (model.Principal, error) {
		old.MFA, old.MFASeed, old.MFARecovery = model.MFAEnrolling, seed, rec
		return old, nil
	}, ev("acme", "mfa.enroll"))
	must(t, "enroll", err)
	want := p
	want.MFA, want.MFASeed, want.MFARecovery = model.MFAEnrolling, seed, rec
	wantEqual(t, "update result", up, want)
	got, err = s.GetPrincipal(ctx, "acme", "p1")
	must(t, "get enrolling", err)
	wantEqual(t, "enrolling", got, want)
	got, err = s.GetPrincipalByLogin(ctx, "acme", model.KindUser, "alice")
	must(t, "get by login", err)
	wantEqual(t, "enrolling by login", got, want)
	list, _, err := s.ListPrincipals(ctx, "acme", store.Page{})
	must(t, "list", err)
	if len(list) != 1 || list[0].MFA != model.MFAEnrolling || !bytes.Equal(list[0].MFASeed, seed) {
		t.Fatalf("list = %+v", list)
	}
	// Other updates keep it.
	_, err = s.UpdatePrincipal(ctx, "acme", "p1", func(old model.Principal) (model.Principal, error) {
		old.Email = "x@example.com"
		return old, nil
	}, ev("acme", "user-update"))
	must(t, "other update", err)
	got, _ = s.GetPrincipal(ctx, "acme", "p1")
	if got.MFA != model.MFAEnrolling || !bytes.Equal(got.MFASeed, seed) || len(got.MFARecovery) != 2 {
		t.Fatalf("an unrelated update lost MFA: %+v", got)
	}
	// Disabling clears the seed.
	_, err = s.UpdatePrincipal(ctx, "acme", "p1", func(old model.Principal) (model.Principal, error) {
		old.MFA, old.MFASeed, old.MFARecovery = model.MFANone, nil, nil
		return old, nil
	}, ev("acme", "mfa.disable"))
	must(t, "disable", err)
	got, _ = s.GetPrincipal(ctx, "acme", "p1")
	if got.MFA != model.MFANone || got.MFASeed != nil || got.MFARecovery != nil {
		t.Fatalf("after disable: MFA %q, seed %x, recovery %x", got.MFA, got.MFASeed, got.MFARecovery)
	}
}

var errCodeGone = errors.New("recovery code already used")

// testConcurrentRecoveryCode: racers each spend the same recovery code
// through a pure updater; exactly one wins, so a code works once even when
// instances race.
func testConcurrentRecoveryCode(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAccount(t, s, "acme")
	p := newUser("acme", "p1", "alice")
	p.MFA, p.MFASeed = model.MFAEnabled, []byte("sealed")
	p.MFARecovery = [][]byte{[]byte("code-a"), []byte("code-b")}
	mustPrincipal(t, s, p)
	var wins atomic.Int32
	race(t, func(int) error {
		_, err := s.UpdatePrincipal(ctx, "acme", "p1", func(old model.Principal) (model.Principal, error) {
			i := slices.IndexFunc(old.MFARecovery, func(h []byte) bool { return bytes.Equal(h, []byte("code-a")) })
			if i < 0 {
				return old, errCodeGone
			}
			old.MFARecovery = slices.Delete(slices.Clone(old.MFARecovery), i, i+1)
			return old, nil
		}, ev("acme", "mfa.recovery_code_used"))
		if errors.Is(err, errCodeGone) {
			return nil
		}
		if err == nil {
			wins.Add(1)
		}
		return err
	})
	if n := wins.Load(); n != 1 {
		t.Fatalf("%d racers spent the same recovery code, want 1", n)
	}
	got, _ := s.GetPrincipal(ctx, "acme", "p1")
	if len(got.MFARecovery) != 1 || string(got.MFARecovery[0]) != "code-b" {
		t.Fatalf("recovery codes left: %q", got.MFARecovery)
	}
}
