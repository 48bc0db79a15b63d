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

// Sign signs payload (JSON claims) as a compact JWS: the native bearer token.
func (k SigningKey) Sign(payload []byte) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: TokenAlg, Key: k.private},
		(&jose.SignerOptions{}).WithHeader("kid", k.ID).WithType("JWT"))
	if err != nil {
		return "", fmt.Errorf("token signer: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	compact, err := jws.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("serialize token: %w", err)
	}
	return compact, nil
}

// ConjurAlg names the signature of Conjur-format tokens.
const ConjurAlg = "keyward/ed25519"

type conjurToken struct {
	Protected string `json:"protected"`
	Payload   string `json:"payload"`
	Signature string `json:"signature"`
}

type conjurHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

// SignConjur signs payload in Conjur's token shape,
// {"protected","payload","signature"}, each member padded standard base64
// (the encoding Conjur's clients decode), the signature covering
// protected + "." + payload as in JWS.
func (k SigningKey) SignConjur(payload []byte) (string, error) {
	hdr, err := json.Marshal(conjurHeader{Alg: ConjurAlg, Kid: k.ID})
	if err != nil {
		return "", fmt.Errorf("conjur token header: %w", err)
	}
	t := conjurToken{Protected: base64.StdEncoding.EncodeToString(hdr), Payload: base64.StdEncoding.EncodeToString(payload)}
	t.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(k.private, []byte(t.Protected+"."+t.Payload)))
	out, err := json.Marshal(t)
	if err != nil {
		return "", fmt.Errorf("conjur token: %w", err)
	}
	return string(out), nil
}

// ParsedToken is a token whose signature has not been checked yet.
type ParsedToken struct {
	jws    *jose.JSONWebSignature
	conjur *conjurToken
	// KeyID names the key that claims to have signed it.
	KeyID string
}

// ParseToken accepts either rendering of a token: compact JWS or Conjur's
// JSON. Only EdDSA (and its Conjur-format twin) is accepted, so alg:none and
// key confusion cannot pass.
func ParseToken(token string) (ParsedToken, error) {
	if len(token) > 0 && token[0] == '{' {
		var t conjurToken
		if err := json.Unmarshal([]byte(token), &t); err != nil {
			return ParsedToken{}, fmt.Errorf("parse token: %w", err)
		}
		raw, err := base64.StdEncoding.DecodeString(t.Protected)
		if err != nil {
			return ParsedToken{}, fmt.Errorf("parse token header: %w", err)
		}
		var h conjurHeader
		if err := json.Unmarshal(raw, &h); err != nil || h.Alg != ConjurAlg {
			return ParsedToken{}, errors.New("parse token: unsupported header")
		}
		return ParsedToken{conjur: &t, KeyID: h.Kid}, nil
	}
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{TokenAlg})
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
	if p.conjur != nil {
		sig, err := base64.StdEncoding.DecodeString(p.conjur.Signature)
		if err != nil || !ed25519.Verify(pub, []byte(p.conjur.Protected+"."+p.conjur.Payload), sig) {
			return nil, errors.New("verify token: bad signature")
		}
		out, err := base64.StdEncoding.DecodeString(p.conjur.Payload)
		if err != nil {
			return nil, fmt.Errorf("verify token payload: %w", err)
		}
		return out, nil
	}
	out, err := p.jws.Verify(pub)
	if err != nil {
		return nil, fmt.Errorf("verify token: %w", err)
	}
	return out, nil
}
