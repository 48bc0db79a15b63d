package argussig_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/keyward/keyward/pkg/argussig"
)

const goodHeader = "keyId=u1/k1;alg=ed25519;ts=1765130400000;nonce=AAAAAAAAAAAAAAAAAAAAAA;sig=AQID"

func TestParseHeader(t *testing.T) {
	ok := []string{
		goodHeader,
		"sig=AQID; nonce=AAAAAAAAAAAAAAAAAAAAAA ;\tts=1765130400000\t; alg=ed25519;keyId=u1/k1",
		"keyId=u1/k1;alg=ed25519;ts=0;nonce=AAAAAAAAAAAAAAAAAAAAAA;sig=AQID",
	}
	for _, h := range ok {
		if _, err := argussig.ParseHeader(h); err != nil {
			t.Errorf("%q: %v", h, err)
		}
	}
	bad := []string{
		"",
		goodHeader + ";",
		goodHeader + ";sig=AQID", // twice
		strings.Replace(goodHeader, "keyId", "keyid", 1),            // case-sensitive
		strings.Replace(goodHeader, ";alg=ed25519", "", 1),          // missing
		strings.Replace(goodHeader, "ts=1765130400000", "ts=+1", 1), // sign
		strings.Replace(goodHeader, "ts=1765130400000", "ts=01", 1), // leading zero
		strings.Replace(goodHeader, "ts=1765130400000", "ts=1e3", 1),
		strings.Replace(goodHeader, "AAAAAAAAAAAAAAAAAAAAAA", "short", 1),
		strings.Replace(goodHeader, "AAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAA!", 1),
		strings.Replace(goodHeader, "AAAAAAAAAAAAAAAAAAAAAA", strings.Repeat("A", 65), 1),
		strings.Replace(goodHeader, "sig=AQID", "sig=AQI=", 1), // padding
		strings.Replace(goodHeader, "sig=AQID", "sig=AQ+/", 1), // standard alphabet
		strings.Replace(goodHeader, "keyId=u1/k1", "keyId=u1", 1),
		strings.Replace(goodHeader, "keyId=u1/k1", "keyId=u1/k1/x", 1),
		strings.Replace(goodHeader, "; ", " ; ", 1) + ";other=1",
		strings.Replace(goodHeader, "ts=", "ts = ", 1),
	}
	for _, h := range bad {
		if _, err := argussig.ParseHeader(h); err == nil {
			t.Errorf("%q parsed", h)
		}
	}
}

func TestSignAndVerifyEachAlgorithm(t *testing.T) {
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	for name, s := range map[string]*argussig.Signer{"ed": mustSigner(t, ed), "ec": mustSigner(t, ec), "rsa": mustSigner(t, rk)} {
		s.Now = func() time.Time { return time.UnixMilli(1765130400000) }
		req, _ := http.NewRequest("POST", "http://h/authentication/v1/user/a/apikey?x=1%202", strings.NewReader(`{"a":1}`))
		if err := s.SignRequest(req); err != nil {
			t.Fatal(err)
		}
		h, err := argussig.ParseHeader(req.Header.Get(argussig.HeaderName))
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := x509.MarshalPKIXPublicKey(publicOf(s))
		pk, err := argussig.ParseDER(pub)
		if err != nil {
			t.Fatal(err)
		}
		canon := argussig.Canonical(argussig.Request{Method: "POST", Path: "/authentication/v1/user/a/apikey", Query: "x=1%202", Body: []byte(`{"a":1}`)},
			h.KeyID, h.Alg, h.TS, h.Nonce)
		if !argussig.Verify(pk.Key, h.Alg, canon, h.Sig) {
			t.Errorf("%s: signature does not verify", name)
		}
		if argussig.Verify(pk.Key, h.Alg, append(canon, 'x'), h.Sig) {
			t.Errorf("%s: signature verifies over other bytes", name)
		}
		other := map[string]string{argussig.AlgEd25519: argussig.AlgRSAPSS, argussig.AlgECDSAP256: argussig.AlgEd25519, argussig.AlgRSAPSS: argussig.AlgECDSAP256}
		if argussig.Verify(pk.Key, other[h.Alg], canon, h.Sig) {
			t.Errorf("%s: verifies under another alg", name)
		}
		if h.TS != 1765130400000 || len(h.Nonce) != 22 {
			t.Errorf("%s: ts %d nonce %q", name, h.TS, h.Nonce)
		}
	}
}

func mustSigner(t *testing.T, k crypto.Signer) *argussig.Signer {
	t.Helper()
	var s *argussig.Signer
	var err error
	switch k := k.(type) {
	case ed25519.PrivateKey:
		s, err = argussig.NewSigner("u/ed", k)
	case *ecdsa.PrivateKey:
		s, err = argussig.NewSigner("u/ec", k)
	case *rsa.PrivateKey:
		s, err = argussig.NewSigner("u/rsa", k)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func publicOf(s *argussig.Signer) any { return s.PublicKey() }

func TestParsePublicKey(t *testing.T) {
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaSmall, _ := rsa.GenerateKey(rand.Reader, 1024)
	pemOf := func(k any) string {
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	}
	sshOf := func(k any) string {
		pk, err := ssh.NewPublicKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk))) + " comment@host"
	}
	for name, tc := range map[string]struct {
		text string
		alg  string
	}{
		"ed25519 pem": {pemOf(edPub), argussig.AlgEd25519},
		"ed25519 ssh": {sshOf(edPub), argussig.AlgEd25519},
		"p256 pem":    {pemOf(&ec.PublicKey), argussig.AlgECDSAP256},
		"p256 ssh":    {sshOf(&ec.PublicKey), argussig.AlgECDSAP256},
		"p384":        {pemOf(&ec384.PublicKey), ""},
		"rsa1024":     {pemOf(&rsaSmall.PublicKey), ""},
		"rsa1024 ssh": {sshOf(&rsaSmall.PublicKey), ""},
		"garbage":     {"not a key", ""},
		"two lines":   {sshOf(edPub) + "\n" + sshOf(edPub), ""},
		"private":     {"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH\n-----END PRIVATE KEY-----\n", ""},
	} {
		pk, err := argussig.ParsePublicKey(tc.text)
		if tc.alg == "" {
			if err == nil {
				t.Errorf("%s: accepted", name)
			}
			continue
		}
		if err != nil || pk.Alg != tc.alg || !strings.HasPrefix(pk.Fingerprint, "SHA256:") || strings.HasSuffix(pk.Fingerprint, "=") {
			t.Errorf("%s: %+v, %v", name, pk.Alg, err)
		}
	}
	// The same key in both formats has one fingerprint.
	a, _ := argussig.ParsePublicKey(pemOf(edPub))
	b, _ := argussig.ParsePublicKey(sshOf(edPub))
	if a.Fingerprint != b.Fingerprint {
		t.Errorf("fingerprints differ: %s %s", a.Fingerprint, b.Fingerprint)
	}
}
