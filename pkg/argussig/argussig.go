// Package argussig signs and verifies Argus-compatible signed requests (scheme ARGUS-SIG-V1): the Argus-Signature header, the signed bytes, and the public keys that verify them.
//
// A client signs a request with Signer.SignRequest (or Signer.Sign for a
// request of its own making); keyward verifies it with ParseHeader,
// Canonical and Verify. docs/argus.md describes the scheme for clients in
// other languages, and testdata/argus/signature-vectors.json pins it.
package argussig

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Scheme is the first line of the signed bytes.
const Scheme = "ARGUS-SIG-V1"

// HeaderName is the request header carrying the signature.
const HeaderName = "Argus-Signature"

// Algorithms, as the header's alg names them.
const (
	AlgEd25519   = "ed25519"           // RFC 8032 over the signed bytes
	AlgECDSAP256 = "ecdsa-p256-sha256" // ECDSA P-256 over their SHA-256, ASN.1 DER signature
	AlgRSAPSS    = "rsa-pss-sha256"    // RSASSA-PSS, SHA-256, MGF1-SHA-256, 32-byte salt
)

// Header is a parsed Argus-Signature value.
type Header struct {
	KeyID string // <userID>/<id>
	Alg   string
	TS    int64 // epoch milliseconds
	Nonce string
	Sig   []byte
}

// ErrHeader is the one error of ParseHeader: the value is not a well-formed
// Argus-Signature (which part is wrong is deliberately not told).
var ErrHeader = errors.New("argussig: malformed Argus-Signature header")

// ParseHeader parses an Argus-Signature value: keyId, alg, ts, nonce and
// sig, each exactly once, in any order, separated by ';' with spaces or
// tabs allowed around each parameter; names are case-sensitive.
func ParseHeader(v string) (Header, error) {
	var h Header
	var seen [5]bool
	for part := range strings.SplitSeq(v, ";") {
		part = strings.Trim(part, " \t")
		name, val, ok := strings.Cut(part, "=")
		if !ok || val == "" {
			return Header{}, ErrHeader
		}
		idx := -1
		switch name {
		case "keyId":
			idx = 0
			if !validKeyID(val) {
				return Header{}, ErrHeader
			}
			h.KeyID = val
		case "alg":
			idx = 1
			if !validToken(val, false) || len(val) > 32 {
				return Header{}, ErrHeader
			}
			h.Alg = val
		case "ts":
			idx = 2
			ts, ok := parseTS(val)
			if !ok {
				return Header{}, ErrHeader
			}
			h.TS = ts
		case "nonce":
			idx = 3
			if len(val) < 16 || len(val) > 64 || !validToken(val, true) {
				return Header{}, ErrHeader
			}
			h.Nonce = val
		case "sig":
			idx = 4
			if len(val) > 2048 {
				return Header{}, ErrHeader
			}
			sig, err := base64.RawURLEncoding.Strict().DecodeString(val)
			if err != nil || len(sig) == 0 {
				return Header{}, ErrHeader
			}
			h.Sig = sig
		default:
			return Header{}, ErrHeader
		}
		if seen[idx] {
			return Header{}, ErrHeader
		}
		seen[idx] = true
	}
	for _, s := range seen {
		if !s {
			return Header{}, ErrHeader
		}
	}
	return h, nil
}

// String renders the header value with the parameters in the usual order.
func (h Header) String() string {
	return "keyId=" + h.KeyID + ";alg=" + h.Alg + ";ts=" + strconv.FormatInt(h.TS, 10) + ";nonce=" + h.Nonce +
		";sig=" + base64.RawURLEncoding.EncodeToString(h.Sig)
}

// parseTS reads epoch milliseconds: decimal digits, no sign, no leading zero.
func parseTS(s string) (int64, bool) {
	if len(s) > 18 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n, true
}

// validToken: letters, digits and '-' (and '_' when underscore).
func validToken(s string, underscore bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-':
		case c == '_' && underscore:
		default:
			return false
		}
	}
	return true
}

// validKeyID: <userID>/<id>, both non-empty tokens.
func validKeyID(s string) bool {
	user, id, ok := strings.Cut(s, "/")
	return ok && user != "" && id != "" && len(s) <= 128 && validToken(user, true) && validToken(id, true)
}

// SplitKeyID splits a keyId into the user's id and the signature key's id.
func SplitKeyID(keyID string) (userID, id string, ok bool) {
	if !validKeyID(keyID) {
		return "", "", false
	}
	userID, id, _ = strings.Cut(keyID, "/")
	return userID, id, true
}

// Request is what of an HTTP request is signed.
type Request struct {
	Method string
	// Path is exactly as in the request line, before "?".
	Path string
	// Query is exactly as sent after "?", "" if none.
	Query string
	Body  []byte
}

// Canonical returns the signed bytes: nine lines joined by "\n", no
// trailing newline, nothing normalised.
func Canonical(r Request, keyID, alg string, ts int64, nonce string) []byte {
	sum := sha256.Sum256(r.Body)
	var b bytes.Buffer
	for i, line := range []string{Scheme, r.Method, r.Path, r.Query, keyID, alg, strconv.FormatInt(ts, 10), nonce,
		hex.EncodeToString(sum[:])} {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(line)
	}
	return b.Bytes()
}

// pssOptions are the scheme's RSASSA-PSS parameters.
var pssOptions = &rsa.PSSOptions{SaltLength: 32, Hash: crypto.SHA256}

// Verify reports whether sig is alg's signature of canonical under pub. An
// alg that does not fit the key's type never verifies.
func Verify(pub crypto.PublicKey, alg string, canonical, sig []byte) bool {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return alg == AlgEd25519 && len(k) == ed25519.PublicKeySize && ed25519.Verify(k, canonical, sig)
	case *ecdsa.PublicKey:
		sum := sha256.Sum256(canonical)
		return alg == AlgECDSAP256 && ecdsa.VerifyASN1(k, sum[:], sig)
	case *rsa.PublicKey:
		sum := sha256.Sum256(canonical)
		return alg == AlgRSAPSS && rsa.VerifyPSS(k, crypto.SHA256, sum[:], sig, pssOptions) == nil
	}
	return false
}

// Signer signs requests with one enrolled key.
type Signer struct {
	// KeyID is the enrolled key's keyId, <userID>/<id>.
	KeyID string
	key   crypto.Signer
	alg   string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Rand is the source of nonces and of ECDSA and PSS randomness
	// (crypto/rand when nil).
	Rand io.Reader
}

// NewSigner returns a signer for an Ed25519, ECDSA P-256 or RSA private key.
func NewSigner(keyID string, key crypto.Signer) (*Signer, error) {
	alg, err := algOf(key.Public())
	if err != nil {
		return nil, err
	}
	if !validKeyID(keyID) {
		return nil, fmt.Errorf("argussig: keyId %q is not <userID>/<id>", keyID)
	}
	return &Signer{KeyID: keyID, key: key, alg: alg}, nil
}

// PublicKey is the public half of the signer's key, to enrol.
func (s *Signer) PublicKey() crypto.PublicKey { return s.key.Public() }

// Alg is the signer's algorithm.
func (s *Signer) Alg() string { return s.alg }

func (s *Signer) rand() io.Reader {
	if s.Rand != nil {
		return s.Rand
	}
	return rand.Reader
}

// Sign signs r at the current time with a fresh 128-bit nonce and returns
// the Argus-Signature value.
func (s *Signer) Sign(r Request) (string, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	var nb [16]byte
	if _, err := io.ReadFull(s.rand(), nb[:]); err != nil {
		return "", fmt.Errorf("argussig: nonce: %w", err)
	}
	return s.SignAt(r, now().UnixMilli(), base64.RawURLEncoding.EncodeToString(nb[:]))
}

// SignAt signs r with the given ts (epoch ms) and nonce.
func (s *Signer) SignAt(r Request, ts int64, nonce string) (string, error) {
	msg := Canonical(r, s.KeyID, s.alg, ts, nonce)
	var sig []byte
	var err error
	switch s.alg {
	case AlgEd25519:
		sig, err = s.key.Sign(s.rand(), msg, crypto.Hash(0))
	case AlgECDSAP256:
		sum := sha256.Sum256(msg)
		sig, err = s.key.Sign(s.rand(), sum[:], crypto.SHA256)
	case AlgRSAPSS:
		sum := sha256.Sum256(msg)
		sig, err = s.key.Sign(s.rand(), sum[:], pssOptions)
	}
	if err != nil {
		return "", fmt.Errorf("argussig: sign: %w", err)
	}
	return Header{KeyID: s.KeyID, Alg: s.alg, TS: ts, Nonce: nonce, Sig: sig}.String(), nil
}

// SignRequest signs an outgoing HTTP request and sets its Argus-Signature
// header. It reads the body (and puts it back); the path and query signed
// are what net/http will send: URL.EscapedPath and URL.RawQuery.
func (s *Signer) SignRequest(req *http.Request) error {
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return fmt.Errorf("argussig: read body: %w", err)
		}
		_ = req.Body.Close()
		body = b
		req.Body = io.NopCloser(bytes.NewReader(b))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	h, err := s.Sign(Request{Method: req.Method, Path: req.URL.EscapedPath(), Query: req.URL.RawQuery, Body: body})
	if err != nil {
		return err
	}
	req.Header.Set(HeaderName, h)
	return nil
}
