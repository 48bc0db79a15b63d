package core

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward/pkg/argussig"
)

// BenchmarkArgusVerify compares, in one run, core.Authenticate of an API
// key with that of a signed request (Ed25519, RSA-2048): each with its
// audit record, a signed one also with its nonce and session in the store.
// The requests are signed before the timer starts. Ratio = apikey ns/op ÷
// signed ns/op. go test -run '^$' -bench ArgusVerify -benchtime 3000x ./internal/core
func BenchmarkArgusVerify(b *testing.B) {
	ctx := context.Background()
	c, admin, key := testCore(b, nil)
	a := acc(c, admin)
	b.Run("apikey", func(b *testing.B) {
		b.SetParallelism(16 / max(1, runtime.GOMAXPROCS(0)))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := authKey(ctx, c, "acme", key); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, tc := range []struct {
		name string
		key  crypto.Signer
	}{{"ed25519", ed}, {"rsa2048", rk}} {
		der, _ := x509.MarshalPKIXPublicKey(tc.key.Public())
		sk, err := c.EnrolSignatureKey(ctx, a, admin.PrincipalID, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), "bench", nil)
		if err != nil {
			b.Fatal(err)
		}
		s, err := argussig.NewSigner(SignatureKeyID(sk), tc.key)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			r := argussig.Request{Method: "GET", Path: "/authentication/v1/user/admin/apikey"}
			headers := make([]string, b.N)
			for i := range headers {
				if headers[i], err = s.Sign(r); err != nil {
					b.Fatal(err)
				}
			}
			var next atomic.Int64
			b.SetParallelism(16 / max(1, runtime.GOMAXPROCS(0)))
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					h := headers[next.Add(1)-1]
					if _, err := c.Authenticate(ctx, loopback, Credential{Kind: CredSignature, Account: "acme", Secret: h,
						Signed: &SignedRequest{Method: r.Method, Path: r.Path}}); err != nil {
						panic(fmt.Sprint(err))
					}
				}
			})
		})
	}
}
