package core

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func mustSSHKey(t testing.TB, k any) ssh.PublicKey {
	t.Helper()
	pub, err := ssh.NewPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func authorizedLine(pub ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
}

// TestParseAuthorizedKey: the accepted types in both forms (line with
// options and comment, bare base64), the refused ones, and the fingerprint
// as ssh-keygen -l prints it.
func TestParseAuthorizedKey(t *testing.T) {
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	var accepted []ssh.PublicKey
	accepted = append(accepted, mustSSHKey(t, edPub), mustSSHKey(t, &rsa2048.PublicKey))
	for _, c := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		k, _ := ecdsa.GenerateKey(c, rand.Reader)
		accepted = append(accepted, mustSSHKey(t, &k.PublicKey))
	}
	for _, pub := range accepted {
		line := authorizedLine(pub)
		for _, in := range []string{line, line + " someone@laptop", `from="10.0.0.0/8",no-pty ` + line + " c",
			base64.StdEncoding.EncodeToString(pub.Marshal()), "  " + line + "\n"} {
			got, fp, err := ParseAuthorizedKey(in)
			if err != nil || got != line || fp != ssh.FingerprintSHA256(pub) {
				t.Errorf("%s: got %q %q %v", in, got, fp, err)
			}
		}
	}

	// A DSA key's wire form (crypto/dsa is deprecated; the numbers need
	// not form a real key for the parser to refuse the type).
	big1024 := new(big.Int).Lsh(big.NewInt(1), 1023)
	dk := struct{ P, Q, G, Y *big.Int }{big1024, new(big.Int).Lsh(big.NewInt(1), 159), big.NewInt(2), big.NewInt(12345)}
	signer, _ := ssh.NewSignerFromKey(edPriv)
	cert := &ssh.Certificate{Key: mustSSHKey(t, edPub), CertType: ssh.UserCert, ValidPrincipals: []string{"alice"}, ValidBefore: ssh.CertTimeInfinity}
	if err := cert.SignCert(rand.Reader, signer); err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string]string{
		"dsa": "ssh-dss " + base64.StdEncoding.EncodeToString(ssh.Marshal(struct {
			Name       string
			P, Q, G, Y *big.Int
		}{"ssh-dss", dk.P, dk.Q, dk.G, dk.Y})),
		"rsa-1024":    authorizedLine(mustSSHKey(t, &rsa1024.PublicKey)),
		"certificate": authorizedLine(cert),
		"garbage":     "ssh-ed25519 AAAA!!",
		"base64-junk": "aGVsbG8=",
		"empty":       "  ",
		"truncated":   authorizedLine(mustSSHKey(t, edPub))[:40],
	} {
		_, _, err := ParseAuthorizedKey(in)
		var e *Error
		if !errors.As(err, &e) || e.Kind != Invalid || e.Field != "public_key" {
			t.Errorf("%s accepted or wrongly refused: %v", name, err)
		}
	}

	// The fingerprint is ssh-keygen's.
	if _, err := exec.LookPath("ssh-keygen"); err == nil {
		f := filepath.Join(t.TempDir(), "k.pub")
		line := authorizedLine(accepted[1])
		if err := os.WriteFile(f, []byte(line+" x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("ssh-keygen", "-l", "-f", f).Output()
		if err != nil {
			t.Fatal(err)
		}
		_, fp, _ := ParseAuthorizedKey(line)
		if fields := strings.Fields(string(out)); len(fields) < 2 || fields[1] != fp {
			t.Errorf("ssh-keygen says %q, we say %q", out, fp)
		}
	}
}

// FuzzParseAuthorizedKey: never panics; what it accepts is an allowed type,
// parses back to itself and carries that key's fingerprint; what it refuses
// is Invalid on public_key.
func FuzzParseAuthorizedKey(f *testing.F) {
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	line := authorizedLine(mustSSHKey(f, edPub))
	for _, s := range []string{line, line + " comment", base64.StdEncoding.EncodeToString(mustSSHKey(f, edPub).Marshal()),
		`command="x" ` + line, "ssh-rsa AAAA", "ssh-dss AAAAB3NzaC1kc3MAAACBAP", "", " ", "\x00", "ecdsa-sha2-nistp256 AAAAE2VjZHNh"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, fp, err := ParseAuthorizedKey(s)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Kind != Invalid || e.Field != "public_key" {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		pub, _, _, _, perr := ssh.ParseAuthorizedKey([]byte(got))
		if perr != nil || authorizedLine(pub) != got || ssh.FingerprintSHA256(pub) != fp {
			t.Fatalf("%q: accepted as %q %q, which does not parse back (%v)", s, got, fp, perr)
		}
		switch pub.Type() {
		case ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521, ssh.KeyAlgoRSA:
		default:
			t.Fatalf("%q: accepted type %s", s, pub.Type())
		}
		again, fp2, err := ParseAuthorizedKey(got)
		if err != nil || again != got || fp2 != fp {
			t.Fatalf("%q: canonical form %q does not parse to itself", s, got)
		}
	})
}

// FuzzNormalizeSourceAddresses: the source_address parser never panics;
// what it accepts is canonical prefixes that normalize to themselves; what
// it refuses is Invalid on source_address.
func FuzzNormalizeSourceAddresses(f *testing.F) {
	for _, s := range []string{"10.1.2.3", "192.168.100.7/24", "2001:db8::1", "::ffff:10.0.0.1", "10.0.0.0/33", "x", "", "1.2.3.4/8,5.6.7.8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		in := strings.Split(s, ",")
		out, err := NormalizeSourceAddresses(in)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Kind != Invalid || e.Field != "source_address" {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		if len(out) != len(in) {
			t.Fatalf("%q: %d in, %d out", s, len(in), len(out))
		}
		for _, p := range out {
			if !strings.Contains(p, "/") {
				t.Fatalf("%q: %q is not a prefix", s, p)
			}
		}
		again, err := NormalizeSourceAddresses(out)
		if err != nil || strings.Join(again, ",") != strings.Join(out, ",") {
			t.Fatalf("%q: %v does not normalize to itself: %v %v", s, out, again, err)
		}
	})
}
