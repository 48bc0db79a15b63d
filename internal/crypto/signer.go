package crypto

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// TokenAlg is the algorithm of access-token signatures.
const TokenAlg = jose.EdDSA

// SigningKey is a usable token signing key: its id and both halves.
type SigningKey struct {
	ID      string
	private ed25519.PrivateKey
	Public  ed25519.PublicKey
}

// NewSigningKey generates an Ed25519 signing key; its id is a fingerprint of
// the public key.
func NewSigningKey() (SigningKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return SigningKey{}, fmt.Errorf("generate signing key: %w", err)
	}
	return SigningKey{ID: fingerprint(pub), private: priv, Public: pub}, nil
}

func fingerprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

// SealPrivate returns the private half sealed under s, bound to the key id.
func (k SigningKey) SealPrivate(s *Sealer) []byte {
	return s.Seal(k.private.Seed(), []byte("signing:"+k.ID))
}

// PublicJWK returns the public half as a JWK in JSON.
func (k SigningKey) PublicJWK() ([]byte, error) {
	return json.Marshal(jose.JSONWebKey{Key: k.Public, KeyID: k.ID, Algorithm: string(TokenAlg), Use: "sig"})
}

// OpenSigningKey rebuilds a signing key from its sealed private half.
func OpenSigningKey(s *Sealer, id string, sealed []byte) (SigningKey, error) {
	seed, err := s.Open(sealed, []byte("signing:"+id))
	if err != nil {
		return SigningKey{}, fmt.Errorf("signing key %s: %w", id, err)
	}
	if len(seed) != ed25519.SeedSize {
		return SigningKey{}, errors.New("signing key seed has the wrong size")
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	if fingerprint(pub) != id {
		return SigningKey{}, fmt.Errorf("signing key %s: fingerprint mismatch", id)
	}
	return SigningKey{ID: id, private: priv, Public: pub}, nil
}

// Signed is one signed token in both of its renderings.
type Signed struct {
	Compact string // header.payload.signature: the native bearer token
	JSON    string // {"protected","payload","signature"}: Conjur's access token
}

// Sign signs payload (JSON claims) as a JWS.
func (k SigningKey) Sign(payload []byte) (Signed, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: TokenAlg, Key: k.private},
		(&jose.SignerOptions{}).WithHeader("kid", k.ID).WithType("JWT"))
	if err != nil {
		return Signed{}, fmt.Errorf("token signer: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return Signed{}, fmt.Errorf("sign token: %w", err)
	}
	compact, err := jws.CompactSerialize()
	if err != nil {
		return Signed{}, fmt.Errorf("serialize token: %w", err)
	}
	return Signed{Compact: compact, JSON: jws.FullSerialize()}, nil
}

// ParsedToken is a token whose signature has not been checked yet.
type ParsedToken struct {
	jws *jose.JSONWebSignature
	// KeyID names the key that claims to have signed it.
	KeyID string
}

// ParseToken accepts either rendering of a token: compact or Conjur's JSON.
// Only EdDSA is accepted, so alg:none and key confusion cannot pass.
func ParseToken(token string) (ParsedToken, error) {
	var (
		jws *jose.JSONWebSignature
		err error
	)
	if len(token) > 0 && token[0] == '{' {
		jws, err = jose.ParseSignedJSON(token, []jose.SignatureAlgorithm{TokenAlg})
	} else {
		jws, err = jose.ParseSigned(token, []jose.SignatureAlgorithm{TokenAlg})
	}
	if err != nil {
		return ParsedToken{}, fmt.Errorf("parse token: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return ParsedToken{}, errors.New("token must carry exactly one signature")
	}
	return ParsedToken{jws: jws, KeyID: jws.Signatures[0].Protected.KeyID}, nil
}

// Verify checks the signature with pub and returns the payload.
func (p ParsedToken) Verify(pub ed25519.PublicKey) ([]byte, error) {
	out, err := p.jws.Verify(pub)
	if err != nil {
		return nil, fmt.Errorf("verify token: %w", err)
	}
	return out, nil
}
