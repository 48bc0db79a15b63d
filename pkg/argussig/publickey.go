package argussig

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// PublicKey is an enrollable public key.
type PublicKey struct {
	Key crypto.PublicKey
	// Alg is the one algorithm the key signs with.
	Alg string
	// DER is the key's DER SubjectPublicKeyInfo.
	DER []byte
	// Fingerprint is "SHA256:" and the unpadded standard base64 of the
	// SHA-256 of DER.
	Fingerprint string
}

// Key sizes accepted for RSA.
const (
	MinRSABits = 2048
	MaxRSABits = 8192
)

// maxKeyText bounds what ParsePublicKey reads (an 8192-bit RSA key in PEM is ~1.5 kB).
const maxKeyText = 16 << 10

// ParsePublicKey reads a PEM "PUBLIC KEY" block (PKIX) or one OpenSSH
// authorized-keys line holding an Ed25519, ECDSA P-256 or RSA key of 2048
// to 8192 bits. Anything else is an error.
func ParsePublicKey(text string) (PublicKey, error) {
	if len(text) > maxKeyText {
		return PublicKey{}, errors.New("the key is too long")
	}
	t := strings.TrimSpace(text)
	var key crypto.PublicKey
	if strings.HasPrefix(t, "-----BEGIN") {
		block, rest := pem.Decode([]byte(t))
		switch {
		case block == nil:
			return PublicKey{}, errors.New("not a PEM block")
		case block.Type != "PUBLIC KEY":
			return PublicKey{}, fmt.Errorf("a PEM %q block; want PUBLIC KEY (PKIX)", block.Type)
		case len(strings.TrimSpace(string(rest))) != 0:
			return PublicKey{}, errors.New("more than one PEM block")
		case len(block.Headers) != 0:
			return PublicKey{}, errors.New("PEM headers are not allowed")
		}
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return PublicKey{}, errors.New("not a PKIX public key")
		}
		key = k
	} else {
		if strings.ContainsAny(t, "\r\n") {
			return PublicKey{}, errors.New("an OpenSSH key is one line")
		}
		pk, _, opts, rest, err := ssh.ParseAuthorizedKey([]byte(t))
		if err != nil || len(rest) != 0 || len(opts) != 0 {
			return PublicKey{}, errors.New("neither a PEM PUBLIC KEY nor an OpenSSH public key line")
		}
		cpk, ok := pk.(ssh.CryptoPublicKey)
		if !ok {
			return PublicKey{}, fmt.Errorf("OpenSSH key type %s is not supported", pk.Type())
		}
		key = cpk.CryptoPublicKey()
	}
	alg, err := algOf(key)
	if err != nil {
		return PublicKey{}, err
	}
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		return PublicKey{}, fmt.Errorf("the key cannot be encoded: %w", err)
	}
	return PublicKey{Key: key, Alg: alg, DER: der, Fingerprint: Fingerprint(der)}, nil
}

// Fingerprint is "SHA256:" and the unpadded standard base64 of the SHA-256
// of a DER SubjectPublicKeyInfo.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// ParseDER reads a stored DER SubjectPublicKeyInfo back.
func ParseDER(der []byte) (PublicKey, error) {
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return PublicKey{}, fmt.Errorf("argussig: stored key: %w", err)
	}
	alg, err := algOf(k)
	if err != nil {
		return PublicKey{}, err
	}
	return PublicKey{Key: k, Alg: alg, DER: der, Fingerprint: Fingerprint(der)}, nil
}

// algOf is the algorithm a key signs with, or why it is not accepted.
func algOf(key crypto.PublicKey) (string, error) {
	switch k := key.(type) {
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return "", errors.New("bad Ed25519 key size")
		}
		return AlgEd25519, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("ECDSA curve %s is not supported; use P-256", k.Curve.Params().Name)
		}
		return AlgECDSAP256, nil
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < MinRSABits || n > MaxRSABits {
			return "", fmt.Errorf("RSA keys must have %d to %d bits, not %d", MinRSABits, MaxRSABits, n)
		}
		return AlgRSAPSS, nil
	}
	return "", fmt.Errorf("key type %T is not supported; use Ed25519, ECDSA P-256 or RSA", key)
}
