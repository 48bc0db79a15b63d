package core

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/crypto"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

// Claims are the contents of an access token. Conjur clients read iat, exp
// and sub; the rest is keyward's.
type Claims struct {
	Issuer        string   `json:"iss"`
	Subject       string   `json:"sub"` // Conjur-style login: alice, host/myapp
	Account       string   `json:"account"`
	PrincipalID   string   `json:"pid"`
	Kind          string   `json:"kind"`
	Level         int      `json:"lvl"`
	KeyID         string   `json:"key_id,omitempty"`
	Scope         []string `json:"scope,omitempty"`
	Narrowed      bool     `json:"nrw,omitempty"`
	Authenticator string   `json:"authn,omitempty"`
	IssuedAt      int64    `json:"iat"`
	ExpiresAt     int64    `json:"exp"`
	ID            string   `json:"jti"`
}

// TokenFormat picks a token's rendering; the core verifies both.
type TokenFormat int

// Token formats.
const (
	FormatNative TokenFormat = iota // compact JWS (a JWT)
	FormatConjur                    // Conjur's {"protected","payload","signature"}
)

// Token is an issued access token.
type Token struct {
	Value     string
	ExpiresAt time.Time
	TTL       time.Duration
}

const issuer = "keyward"

// tokenKeys holds the signing key in use and every key still verifying, and
// a bounded cache of verified tokens so a token presented again costs a map
// read instead of a signature check.
type tokenKeys struct {
	mu      sync.RWMutex
	signer  crypto.SigningKey
	verify  map[string]verifyKey
	jwks    []json.RawMessage
	cacheMu sync.Mutex
	cache   map[[32]byte]Claims
}

type verifyKey struct {
	key     crypto.SigningKey
	expires time.Time // zero: no end
}

const tokenCacheMax = 100_000

func loadTokenKeys(ctx context.Context, st store.Store, sealer *crypto.Sealer, now time.Time, ttl time.Duration) (*tokenKeys, error) {
	tk := &tokenKeys{cache: map[[32]byte]Claims{}}
	if err := tk.reload(ctx, st, sealer, now); err != nil {
		return nil, err
	}
	if tk.signer.ID == "" {
		if err := rotateSigningKey(ctx, st, sealer, now, ttl, audit.Event{}); err != nil {
			return nil, err
		}
		if err := tk.reload(ctx, st, sealer, now); err != nil {
			return nil, err
		}
	}
	return tk, nil
}

func (tk *tokenKeys) reload(ctx context.Context, st store.Store, sealer *crypto.Sealer, now time.Time) error {
	stored, err := st.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("list signing keys: %w", err)
	}
	var (
		signer crypto.SigningKey
		newest time.Time
		verify = map[string]verifyKey{}
		jwks   []json.RawMessage
	)
	for _, sk := range stored {
		if sk.ExpiresAt != nil && !now.Before(*sk.ExpiresAt) {
			continue
		}
		k, err := crypto.OpenSigningKey(sealer, sk.ID, sk.Private)
		if err != nil {
			return fmt.Errorf("open signing key: %w", err)
		}
		vk := verifyKey{key: k}
		if sk.ExpiresAt != nil {
			vk.expires = *sk.ExpiresAt
		}
		verify[sk.ID] = vk
		jwks = append(jwks, json.RawMessage(sk.Public))
		if sk.RetiredAt == nil && sk.CreatedAt.After(newest) || signer.ID == "" && sk.RetiredAt == nil {
			signer, newest = k, sk.CreatedAt
		}
	}
	tk.mu.Lock()
	tk.signer, tk.verify, tk.jwks = signer, verify, jwks
	tk.mu.Unlock()
	return nil
}

// rotateSigningKey makes a new signing key and retires the others: they keep
// verifying for one token lifetime, so tokens already issued stay good.
func rotateSigningKey(ctx context.Context, st store.Store, sealer *crypto.Sealer, now time.Time, ttl time.Duration, ev audit.Event) error {
	k, err := crypto.NewSigningKey()
	if err != nil {
		return err
	}
	pub, err := k.PublicJWK()
	if err != nil {
		return fmt.Errorf("signing key JWK: %w", err)
	}
	old, err := st.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("list signing keys: %w", err)
	}
	var evs []audit.Event
	if ev.Event != "" {
		evs = append(evs, ev)
	}
	if err := st.CreateSigningKey(ctx, model.SigningKey{ID: k.ID, Alg: string(crypto.TokenAlg), Private: k.SealPrivate(sealer), Public: pub, CreatedAt: now}, evs...); err != nil {
		return fmt.Errorf("store signing key: %w", err)
	}
	until := now.Add(ttl + time.Minute)
	for _, o := range old {
		if o.RetiredAt != nil {
			continue
		}
		if _, err := st.UpdateSigningKey(ctx, o.ID, func(sk model.SigningKey) (model.SigningKey, error) {
			sk.RetiredAt, sk.ExpiresAt = &now, &until
			return sk, nil
		}); err != nil {
			return fmt.Errorf("retire signing key: %w", err)
		}
	}
	return nil
}

// RotateSigningKey replaces the token signing key; tokens signed by the old
// one verify until they expire.
func (c *Core) RotateSigningKey(ctx context.Context, a *Access) error {
	if err := c.Require(ctx, a, PermSigningKeysManage); err != nil {
		return err
	}
	s, caller := a.Session, a.Caller
	ev := c.event(caller, s.Account, "signing_key.rotate")
	ev.Actor, ev.KeyID = s.RoleID(), s.KeyID
	if err := rotateSigningKey(ctx, c.st, c.sealer, c.now(), c.tokenTTL, ev); err != nil {
		return err
	}
	return c.tokens.reload(ctx, c.st, c.sealer, c.now())
}

// JWKS returns the public token keys as a JSON Web Key Set.
func (c *Core) JWKS() []byte {
	c.tokens.mu.RLock()
	keys := c.tokens.jwks
	c.tokens.mu.RUnlock()
	out, _ := json.Marshal(map[string]any{"keys": keys})
	return out
}

// TokenTTL is the default access-token lifetime.
func (c *Core) TokenTTL() time.Duration { return c.tokenTTL }

// IssueToken signs an access token for the session. ttl 0 means the default.
func (c *Core) IssueToken(s Session, format TokenFormat) (Token, error) {
	ttl := s.TTL
	if ttl <= 0 {
		ttl = c.tokenTTL
	}
	now := c.now()
	exp := now.Add(ttl)
	claims := Claims{Issuer: issuer, Subject: s.Login, Account: s.Account, PrincipalID: s.PrincipalID, Kind: s.Kind,
		Level: s.Level, KeyID: s.KeyID, Scope: s.Scope, Narrowed: s.Narrowed, Authenticator: s.Authenticator,
		IssuedAt: now.Unix(), ExpiresAt: exp.Unix(), ID: crypto.NewID()}
	payload, err := json.Marshal(claims)
	if err != nil {
		return Token{}, fmt.Errorf("token claims: %w", err)
	}
	c.tokens.mu.RLock()
	signer := c.tokens.signer
	c.tokens.mu.RUnlock()
	var value string
	if format == FormatConjur {
		value, err = signer.SignConjur(payload)
	} else {
		value, err = signer.Sign(payload)
	}
	if err != nil {
		return Token{}, err
	}
	return Token{Value: value, ExpiresAt: time.Unix(claims.ExpiresAt, 0), TTL: ttl}, nil
}

// parseToken checks a token's signature and expiry and returns its claims.
// Either rendering is accepted. A token seen before is answered from memory.
func (c *Core) parseToken(token string) (Claims, *Error) {
	if len(token) == 0 || len(token) > 16<<10 {
		return Claims{}, unauthenticated("malformed_token")
	}
	now := c.now().Unix()
	sum := sha256.Sum256([]byte(token))
	c.tokens.cacheMu.Lock()
	cl, hit := c.tokens.cache[sum]
	c.tokens.cacheMu.Unlock()
	if hit {
		if now >= cl.ExpiresAt {
			return Claims{}, unauthenticated("expired")
		}
		return cl, nil
	}
	p, err := crypto.ParseToken(token)
	if err != nil {
		return Claims{}, unauthenticated("malformed_token")
	}
	c.tokens.mu.RLock()
	vk, ok := c.tokens.verify[p.KeyID]
	c.tokens.mu.RUnlock()
	if !ok || (!vk.expires.IsZero() && c.now().After(vk.expires)) {
		return Claims{}, unauthenticated("unknown_signing_key")
	}
	payload, err := p.Verify(vk.key.Public)
	if err != nil {
		return Claims{}, unauthenticated("bad_signature")
	}
	if err := json.Unmarshal(payload, &cl); err != nil || cl.Issuer != issuer || cl.Account == "" {
		return Claims{}, unauthenticated("malformed_token")
	}
	if now >= cl.ExpiresAt {
		return Claims{}, unauthenticated("expired")
	}
	c.tokens.cacheMu.Lock()
	if len(c.tokens.cache) >= tokenCacheMax {
		// Drop entries until 90% full: the next 10% of inserts scan nothing
		// (dropping only expired ones meant a full scan per insert when
		// few had expired). A dropped token is verified again if used.
		for k := range c.tokens.cache {
			delete(c.tokens.cache, k)
			if len(c.tokens.cache) < tokenCacheMax*9/10 {
				break
			}
		}
	}
	c.tokens.cache[sum] = cl
	c.tokens.cacheMu.Unlock()
	return cl, nil
}

// checkToken turns a presented access token into a session, or the reason
// it does not prove one: its signature and expiry, then the one admission
// check against its principal and, for a token minted from a key, that key
// (revoked, expired or used from outside its sources, the token stops).
// It reads only memory and writes nothing.
func (c *Core) checkToken(ctx context.Context, caller Caller, token string) (Session, Reason) {
	cl, e := c.parseToken(token)
	if e != nil {
		return Session{}, e.Reason
	}
	s := Session{Account: cl.Account, PrincipalID: cl.PrincipalID, Login: cl.Subject, Kind: cl.Kind, Level: cl.Level,
		KeyID: cl.KeyID, Scope: cl.Scope, Narrowed: cl.Narrowed, Authenticator: cl.Authenticator,
		IssuedAt: time.Unix(cl.IssuedAt, 0), ExpiresAt: time.Unix(cl.ExpiresAt, 0)}
	pe, err := c.keys.principal(ctx, cl.Account, cl.PrincipalID)
	if err != nil {
		return s, ReasonPrincipalGone
	}
	var kp *keyEntry
	if cl.KeyID != "" {
		ke, ok := c.keys.key(cl.KeyID)
		if !ok {
			return s, ReasonRevoked
		}
		kp = &ke
	}
	return s, admit(pe, kp, caller, c.now())
}

// Introspection is RFC 7662's answer about a token.
type Introspection struct {
	Active    bool
	Subject   string
	Account   string
	ExpiresAt int64
	IssuedAt  int64
	Kind      string
	Level     int
}

// Introspect reports whether a token is active, without auditing: it is a
// resource server's cheap check, and the token's issue was audited.
func (c *Core) Introspect(ctx context.Context, caller Caller, token string) Introspection {
	s, reason := c.checkToken(ctx, caller, token)
	if reason != ReasonNone {
		return Introspection{}
	}
	return Introspection{Active: true, Subject: s.Login, Account: s.Account, ExpiresAt: s.ExpiresAt.Unix(),
		IssuedAt: s.IssuedAt.Unix(), Kind: s.Kind, Level: s.Level}
}
