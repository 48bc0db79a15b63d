package crypto

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testSealer(t *testing.T) *Sealer {
	t.Helper()
	s, err := NewSealer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealRoundTripAndBinding(t *testing.T) {
	s := testSealer(t)
	sealed := s.Seal([]byte("secret"), []byte("a"))
	if bytes.Contains(sealed, []byte("secret")) {
		t.Fatal("plaintext visible in sealed value")
	}
	got, err := s.Open(sealed, []byte("a"))
	if err != nil || string(got) != "secret" {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := s.Open(sealed, []byte("b")); err == nil {
		t.Fatal("sealed value opened under another aad")
	}
	if _, err := s.Open([]byte("x"), nil); err == nil {
		t.Fatal("short value opened")
	}
}

func TestAPIKeyFormat(t *testing.T) {
	id := NewKeyID()
	key, secret := NewAPIKey(id)
	if len(key) != KeyLen || !strings.HasPrefix(key, "kw_") {
		t.Fatalf("bad key %q", key)
	}
	gotID, gotSecret, ok := ParseAPIKey(key)
	if !ok || gotID != id || gotSecret != secret {
		t.Fatalf("parse: %v %q %q", ok, gotID, gotSecret)
	}
	// One changed character anywhere fails the checksum or the shape.
	for i := len(KeyPrefix); i < len(key); i++ {
		b := []byte(key)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		if _, _, ok := ParseAPIKey(string(b)); ok {
			t.Fatalf("altered key at %d accepted", i)
		}
	}
	for _, bad := range []string{"", "kw_", key + "x", "xx" + key[2:]} {
		if _, _, ok := ParseAPIKey(bad); ok {
			t.Fatalf("%q accepted", bad)
		}
	}
}

func TestSignAndVerifyBothRenderings(t *testing.T) {
	s := testSealer(t)
	k, err := NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	again, err := OpenSigningKey(s, k.ID, k.SealPrivate(s))
	if err != nil {
		t.Fatal(err)
	}
	compact, err := again.Sign([]byte(`{"sub":"alice"}`))
	if err != nil {
		t.Fatal(err)
	}
	conjur, err := again.SignConjur([]byte(`{"sub":"alice"}`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(conjur, `"payload":"eyJzdWIiOiJhbGljZSJ9"`) {
		t.Fatalf("conjur payload not standard base64: %s", conjur)
	}
	tampered := strings.Replace(conjur, "eyJzdWIiOiJhbGljZSJ9", "eyJzdWIiOiJib2IifQ==", 1)
	if p, err := ParseToken(tampered); err == nil {
		if _, err := p.Verify(k.Public); err == nil {
			t.Fatal("tampered conjur token verified")
		}
	}
	for _, tok := range []string{compact, conjur} {
		p, err := ParseToken(tok)
		if err != nil {
			t.Fatal(err)
		}
		if p.KeyID != k.ID {
			t.Fatalf("kid %q", p.KeyID)
		}
		payload, err := p.Verify(k.Public)
		if err != nil || string(payload) != `{"sub":"alice"}` {
			t.Fatalf("verify: %s %v", payload, err)
		}
		other, _ := NewSigningKey()
		if _, err := p.Verify(other.Public); err == nil {
			t.Fatal("verified under another key")
		}
	}
	// alg none is refused at parse.
	if _, err := ParseToken("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9."); err == nil {
		t.Fatal("alg none parsed")
	}
}

func TestMasterKeyFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "master.key")
	k1, created, err := LoadOrCreateMasterKey(p)
	if err != nil || !created || len(k1) != 32 {
		t.Fatalf("create: %v %v", created, err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	k2, created, err := LoadOrCreateMasterKey(p)
	if err != nil || created || !bytes.Equal(k1, k2) {
		t.Fatal("reload differs")
	}
}
