package sqlite

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/store"
)

// TestReplayCacheFull: at its bound the cache refuses a new nonce with
// store.ErrFull and keeps every live entry; once entries expire the sweep
// makes room again.
func TestReplayCacheFull(t *testing.T) {
	s := openTemp(t)
	s.SetReplayEntries(10)
	ctx := context.Background()
	now := time.UnixMilli(1_765_130_400_000)
	until := now.Add(5 * time.Minute)
	for i := range 10 {
		if ok, err := s.UseSignatureNonce(ctx, "u/k", fmt.Sprintf("nonce-%012d", i), until, now); !ok || err != nil {
			t.Fatalf("nonce %d: %v %v", i, ok, err)
		}
	}
	if _, err := s.UseSignatureNonce(ctx, "u/k", "nonce-overflow00", until, now); !errors.Is(err, store.ErrFull) {
		t.Fatalf("11th nonce: err %v, want ErrFull", err)
	}
	for i := range 10 {
		if ok, _ := s.UseSignatureNonce(ctx, "u/k", fmt.Sprintf("nonce-%012d", i), until, now.Add(time.Second)); ok {
			t.Fatalf("live nonce %d was dropped to make room", i)
		}
	}
	later := until.Add(time.Millisecond)
	if ok, err := s.UseSignatureNonce(ctx, "u/k", "nonce-overflow00", later.Add(5*time.Minute), later); !ok || err != nil {
		t.Fatalf("after expiry: %v %v, want room", ok, err)
	}
}

// BenchmarkReplayCacheMemory reports the heap the replay cache takes per
// entry, filled with b.N nonces (go test -bench ReplayCacheMemory -benchtime 1000000x).
func BenchmarkReplayCacheMemory(b *testing.B) {
	s := &Store{replay: newReplayCache(b.N + 1)}
	ctx := context.Background()
	now := time.UnixMilli(1_765_130_400_000)
	until := now.Add(5 * time.Minute)
	nonces := make([]string, b.N)
	for i := range nonces {
		nonces[i] = fmt.Sprintf("n%021d", i)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.UseSignatureNonce(ctx, "u7x2kq/sk1", nonces[i], until, now); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(b.N), "heap-bytes/entry")
	runtime.KeepAlive(s)
	runtime.KeepAlive(nonces)
}
