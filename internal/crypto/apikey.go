package crypto

import (
	"crypto/rand"
	"hash/crc32"
	"strings"
)

// API keys look like kw_<id>_<secret><check>: the kw_ prefix lets secret
// scanners spot them, the 16-character public id makes lookup an index read,
// and a 6-character CRC-32 checksum rejects typos and random strings before
// any lookup. The secret is 40 base-62 characters (about 238 bits).
const (
	KeyPrefix    = "kw_"
	keyIDLen     = 16
	keySecretLen = 40
	keyCheckLen  = 6
	// KeyLen is the length of a whole API key.
	KeyLen = len(KeyPrefix) + keyIDLen + 1 + keySecretLen + keyCheckLen
)

const (
	idAlphabet     = "abcdefghijklmnopqrstuvwxyz234567"
	base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

func randomString(n int, alphabet string) string {
	// Rejection sampling keeps every character uniform.
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, n*2)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out)
}

func checksumBytes(body string) [keyCheckLen]byte {
	c := crc32.Update(0, crc32.IEEETable, []byte(body))
	var out [keyCheckLen]byte
	for i := keyCheckLen - 1; i >= 0; i-- {
		out[i] = base62Alphabet[c%62]
		c /= 62
	}
	return out
}

func checksum(body string) string {
	b := checksumBytes(body)
	return string(b[:])
}

// NewKeyID returns a fresh public key id.
func NewKeyID() string { return randomString(keyIDLen, idAlphabet) }

// NewAPIKey returns a fresh key for the public id: the whole key and its secret part.
func NewAPIKey(id string) (key, secret string) {
	secret = randomString(keySecretLen, base62Alphabet)
	return FormatAPIKey(id, secret), secret
}

// ParseAPIKey splits a key into its public id and secret, checking its shape
// and checksum. It allocates nothing.
func ParseAPIKey(key string) (id, secret string, ok bool) {
	if len(key) != KeyLen || !strings.HasPrefix(key, KeyPrefix) || key[len(KeyPrefix)+keyIDLen] != '_' {
		return "", "", false
	}
	body, check := key[:KeyLen-keyCheckLen], key[KeyLen-keyCheckLen:]
	if sum := checksumBytes(body); string(sum[:]) != check {
		return "", "", false
	}
	id = key[len(KeyPrefix) : len(KeyPrefix)+keyIDLen]
	for i := 0; i < len(id); i++ {
		if strings.IndexByte(idAlphabet, id[i]) < 0 {
			return "", "", false
		}
	}
	return id, body[len(KeyPrefix)+keyIDLen+1:], true
}

// NewID returns a random identifier for records (principals, roles).
func NewID() string { return randomString(20, idAlphabet) }

// FormatAPIKey rebuilds the whole key from its id and secret (for a Conjur
// key, whose secret is kept sealed so its owner can read it again).
func FormatAPIKey(id, secret string) string {
	body := KeyPrefix + id + "_" + secret
	return body + checksum(body)
}
