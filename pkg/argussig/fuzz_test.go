package argussig_test

import (
	"bytes"
	"testing"

	"github.com/keyward/keyward/pkg/argussig"
)

// FuzzArgusSignatureHeader: the header parser never panics, and what it
// accepts renders back to a value it parses to the same header.
func FuzzArgusSignatureHeader(f *testing.F) {
	for _, s := range []string{goodHeader, "", ";;;", "keyId=a/b", "sig=" + goodHeader, goodHeader + ";", " keyId=u1/k1 ;\talg=x;ts=9;nonce=AAAAAAAAAAAAAAAA;sig=_-_-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := argussig.ParseHeader(s)
		if err != nil {
			return
		}
		h2, err := argussig.ParseHeader(h.String())
		if err != nil || h2.KeyID != h.KeyID || h2.Alg != h.Alg || h2.TS != h.TS || h2.Nonce != h.Nonce || !bytes.Equal(h2.Sig, h.Sig) {
			t.Fatalf("%q parsed to %+v, which does not round-trip: %+v %v", s, h, h2, err)
		}
		if _, _, ok := argussig.SplitKeyID(h.KeyID); !ok {
			t.Fatalf("accepted keyId %q does not split", h.KeyID)
		}
	})
}

// FuzzArgusPublicKey: public-key parsing (PEM PKIX and OpenSSH lines)
// never panics, and what it accepts is a supported key whose DER reads
// back to the same algorithm and fingerprint.
func FuzzArgusPublicKey(f *testing.F) {
	f.Add("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA6kpsY+KcUgq+9VB7Ey7F+ZVHdq6+vnuSQh7qaRRG0iw=\n-----END PUBLIC KEY-----\n")
	f.Add("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOpKbGPinFIKvvVQexMuxfmVR3aurr57kkIe6mkURtIs me@host")
	f.Add("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBA==")
	f.Add("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ==")
	f.Add("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		pk, err := argussig.ParsePublicKey(s)
		if err != nil {
			return
		}
		back, err := argussig.ParseDER(pk.DER)
		if err != nil || back.Alg != pk.Alg || back.Fingerprint != pk.Fingerprint {
			t.Fatalf("accepted key does not read back: %+v %v", back, err)
		}
	})
}
