// Package crypto holds every cryptographic primitive keyward uses: sealing under the master key, API key format and hashing, token signing keys.
package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/crypto/hkdf"
)

// MasterKeySize is the length of the master key in bytes (AES-256).
const MasterKeySize = 32

// Sealer encrypts reversible secrets at rest with AES-256-GCM under a key
// derived from the master key, and derives the HMAC keys for secrets kept
// only as hashes.
type Sealer struct {
	aead     cipher.AEAD
	keyHMAC  []byte
	auditKey []byte
	chainKey []byte
	// macs pools HMAC states keyed with keyHMAC: building one costs two
	// SHA-256 states and a key schedule, on every API-key check otherwise.
	macs sync.Pool
}

// NewSealer derives the sealing and HMAC keys from a 32-byte master key.
func NewSealer(master []byte) (*Sealer, error) {
	if len(master) != MasterKeySize {
		return nil, fmt.Errorf("master key must be %d bytes, got %d", MasterKeySize, len(master))
	}
	derive := func(info string) []byte {
		k := make([]byte, 32)
		if _, err := io.ReadFull(hkdf.New(sha256.New, master, nil, []byte(info)), k); err != nil {
			panic(err) // HKDF-SHA256 cannot fail for 32 bytes
		}
		return k
	}
	block, err := aes.NewCipher(derive("keyward seal v1"))
	if err != nil {
		return nil, fmt.Errorf("seal cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal gcm: %w", err)
	}
	s := &Sealer{aead: aead, keyHMAC: derive("keyward api-key hmac v1"), auditKey: derive("keyward audit hmac v1"),
		chainKey: derive("keyward audit chain v1")}
	s.macs.New = func() any { return hmac.New(sha256.New, s.keyHMAC) }
	return s, nil
}

// Seal encrypts plaintext; aad binds the ciphertext to its owner (a key id,
// say), so a sealed value moved to another row does not open.
func (s *Sealer) Seal(plaintext, aad []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return s.aead.Seal(nonce, nonce, plaintext, aad)
}

// Open decrypts what Seal produced with the same aad.
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, errors.New("sealed value too short")
	}
	out, err := s.aead.Open(nil, sealed[:n], sealed[n:], aad)
	if err != nil {
		return nil, fmt.Errorf("open sealed value: %w", err)
	}
	return out, nil
}

// KeyHash returns the HMAC-SHA256 under which an API key secret is kept.
func (s *Sealer) KeyHash(secret string) []byte {
	m := s.macs.Get().(hash.Hash)
	m.Reset()
	m.Write([]byte(secret))
	out := m.Sum(make([]byte, 0, sha256.Size))
	s.macs.Put(m)
	return out
}

// AuditKey is the HMAC key for secrets that appear in audit records.
func (s *Sealer) AuditKey() []byte { return s.auditKey }

// AuditChainKey is the key the audit chain's records are MACed with
// (audit.NewKey), so nobody without the master key can rewrite or add one.
func (s *Sealer) AuditChainKey() []byte { return s.chainKey }

// LoadOrCreateMasterKey reads the master key file at path, creating it with
// mode 0600 and a fresh random key if it does not exist. created reports
// whether it was made now.
func LoadOrCreateMasterKey(path string) (key []byte, created bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) != MasterKeySize {
			return nil, false, fmt.Errorf("master key %s: want %d bytes, found %d", path, MasterKeySize, len(b))
		}
		return b, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, fmt.Errorf("read master key: %w", err)
	}
	key = make([]byte, MasterKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, false, fmt.Errorf("generate master key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("create data folder: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("create master key: %w", err)
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("write master key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("sync master key: %w", err)
	}
	return key, true, f.Close()
}
