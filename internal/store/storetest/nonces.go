package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/store"
)

func testNonces(t *testing.T, s store.Store) {
	ctx := context.Background()
	future := time.Now().Add(time.Hour)
	ok, err := s.UseOnce(ctx, "jti-1", future)
	must(t, "first use", err)
	if !ok {
		t.Fatal("first use of a new key lost")
	}
	ok, err = s.UseOnce(ctx, "jti-1", future)
	must(t, "replay", err)
	if ok {
		t.Fatal("a replay won")
	}
	ok, _ = s.UseOnce(ctx, "jti-2", future)
	if !ok {
		t.Fatal("another key lost")
	}
	// An expired entry may be used again, once.
	past := time.Now().Add(-time.Minute)
	ok, _ = s.UseOnce(ctx, "jti-3", past)
	if !ok {
		t.Fatal("first use of jti-3 lost")
	}
	ok, _ = s.UseOnce(ctx, "jti-3", future)
	if !ok {
		t.Fatal("an expired entry could not be reused")
	}
	ok, _ = s.UseOnce(ctx, "jti-3", future)
	if ok {
		t.Fatal("a renewed entry was reusable")
	}
}
