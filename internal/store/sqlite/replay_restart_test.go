package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/store/storetest"
)

// TestNonceSurvivesReopen (review 22 F1): a nonce taken before the store
// is closed is still taken after it is opened again on the same file, until
// it expires; expired rows are pruned from the table as nonces are written.
func TestNonceSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keyward.db")
	now := time.Now()
	until := now.Add(5 * time.Minute)
	s, err := Open(ctx, path, storetest.Key)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.UseSignatureNonce(ctx, "u/k", "nonce-0123456789ab", until, now); !ok || err != nil {
		t.Fatalf("first use: %v %v", ok, err)
	}
	// One that expires before the reopen is used: free again afterwards.
	if ok, err := s.UseSignatureNonce(ctx, "u/k", "nonce-short-00000", now.Add(time.Second), now); !ok || err != nil {
		t.Fatalf("short nonce: %v %v", ok, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, path, storetest.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	later := now.Add(2 * time.Second)
	if ok, err := s.UseSignatureNonce(ctx, "u/k", "nonce-0123456789ab", until, later); ok || err != nil {
		t.Fatalf("after reopen the nonce was accepted again (ok %v, err %v)", ok, err)
	}
	if ok, err := s.UseSignatureNonce(ctx, "u/k", "nonce-short-00000", later.Add(5*time.Minute), later); !ok || err != nil {
		t.Fatalf("expired nonce after reopen: %v %v, want it free", ok, err)
	}
	// Past every expiry, a write prunes the table (the first write of a
	// store prunes; the next after pruneEvery).
	end := until.Add(11 * time.Minute)
	for i := range 2 {
		if ok, err := s.UseSignatureNonce(ctx, "u/k", fmt.Sprintf("nonce-late-%06d", i), end.Add(5*time.Minute), end.Add(time.Duration(i)*time.Minute)); !ok || err != nil {
			t.Fatalf("late nonce: %v %v", ok, err)
		}
	}
	var n int
	if err := s.db.r.QueryRowContext(ctx, "SELECT count(*) FROM signature_nonces").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("table holds %d nonces after pruning, want the 2 live ones", n)
	}
}
