package core

import (
	"context"
	"runtime"
	"testing"
)

// The hot paths over a real core on SQLite. Run with
// go test -run '^$' -bench . -benchmem ./internal/core.

// BenchmarkVerifyKey is POST /api-keys/verify without HTTP: parse, lookup,
// HMAC compare, permissions, and the group-committed audit record, with
// 16 callers per core as under load, so audit batches form.
func BenchmarkVerifyKey(b *testing.B) {
	ctx := context.Background()
	c, _, key := testCore(b, nil)
	b.SetParallelism(16 / max(1, runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			kc, _, err := c.VerifyKey(ctx, loopback, key, Vouch{})
			if err != nil || !kc.Valid {
				b.Fatalf("verify: %v %s", err, kc.Code)
			}
		}
	})
}

// BenchmarkVerifyKeySerial is one verification at a time: its latency
// includes a whole audit commit.
func BenchmarkVerifyKeySerial(b *testing.B) {
	ctx := context.Background()
	c, _, key := testCore(b, nil)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if kc, _, err := c.VerifyKey(ctx, loopback, key, Vouch{}); err != nil || !kc.Valid {
			b.Fatalf("verify: %v %s", err, kc.Code)
		}
	}
}

// BenchmarkVerifyToken checks an access token: cached is the same token
// presented again (a map read), uncached a fresh token each time (a
// signature check; the tokens are issued outside the timer).
func BenchmarkVerifyToken(b *testing.B) {
	ctx := context.Background()
	c, admin, _ := testCore(b, nil)
	b.Run("cached", func(b *testing.B) {
		tok, err := c.IssueToken(admin, FormatNative)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := verifyToken(ctx, c, tok.Value); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if _, err := verifyToken(ctx, c, tok.Value); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("uncached", func(b *testing.B) {
		const batch = 1024
		toks := make([]string, 0, batch)
		b.ReportAllocs()
		b.ResetTimer()
		i := 0
		for b.Loop() {
			if i == len(toks) {
				b.StopTimer()
				toks, i = toks[:0], 0
				for range batch {
					tok, err := c.IssueToken(admin, FormatNative)
					if err != nil {
						b.Fatal(err)
					}
					toks = append(toks, tok.Value)
				}
				b.StartTimer()
			}
			if _, err := verifyToken(ctx, c, toks[i]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkIssueToken signs a native access token.
func BenchmarkIssueToken(b *testing.B) {
	c, admin, _ := testCore(b, nil)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.IssueToken(admin, FormatNative); err != nil {
			b.Fatal(err)
		}
	}
}
