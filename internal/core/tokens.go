package core

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/keyward/keyward/internal/crypto"
	"github.com/keyward/keyward/internal/store"
)

// tokenService issues access tokens and checks them at each use (signature,
// expiry, then admission against the principal and key in the hot-path
// cache), and keeps each account's signing keys and the JWKS.
type tokenService struct {
	st       store.Store
	sealer   *crypto.Sealer
	now      func() time.Time
	tokenTTL time.Duration
	tokens   *tokenKeys
	keys     *keyring
	audit    *auditor
	access   *accessService
}

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

// TokenTTL is the default access-token lifetime.
func (c *tokenService) TokenTTL() time.Duration { return c.tokenTTL }

// IssueToken signs an access token for the session. ttl 0 means the default.
func (c *tokenService) IssueToken(s Session, format TokenFormat) (Token, error) {
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
	// The session's account picks the key: a token verifies only under a
	// key of the account it names.
	signer, ok := c.tokens.signer(s.Account)
	if !ok {
		return Token{}, &Error{Kind: Unavailable, Msg: "no token signing key for this account",
			Err: fmt.Errorf("no signing key for account %q", s.Account)}
	}
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
func (c *tokenService) parseToken(token string) (Claims, *Error) {
	if len(token) == 0 || len(token) > 16<<10 {
		return Claims{}, unauthenticated(ReasonMalformedToken)
	}
	now := c.now().Unix()
	sum := sha256.Sum256([]byte(token))
	c.tokens.cacheMu.Lock()
	cl, hit := c.tokens.cache[sum]
	c.tokens.cacheMu.Unlock()
	if hit {
		if now >= cl.ExpiresAt {
			return Claims{}, unauthenticated(ReasonExpired)
		}
		return cl, nil
	}
	p, err := crypto.ParseToken(token)
	if err != nil {
		return Claims{}, unauthenticated(ReasonMalformedToken)
	}
	c.tokens.mu.RLock()
	vk, ok := c.tokens.verify[p.KeyID]
	c.tokens.mu.RUnlock()
	if !ok || (!vk.expires.IsZero() && c.now().After(vk.expires)) {
		return Claims{}, unauthenticated(ReasonUnknownSigningKey)
	}
	payload, err := p.Verify(vk.key.Public)
	if err != nil {
		return Claims{}, unauthenticated(ReasonBadSignature)
	}
	if err := json.Unmarshal(payload, &cl); err != nil || cl.Issuer != issuer || cl.Account == "" {
		return Claims{}, unauthenticated(ReasonMalformedToken)
	}
	// A key signs one account's tokens: a token naming another account is
	// not one it signed for. (A key from before keys were per account
	// verifies what it signed for any account until it expires.)
	if vk.account != "" && vk.account != cl.Account {
		return Claims{}, unauthenticated(ReasonUnknownSigningKey)
	}
	if now >= cl.ExpiresAt {
		return Claims{}, unauthenticated(ReasonExpired)
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
func (c *tokenService) checkToken(ctx context.Context, caller Caller, token string) (Session, Reason, error) {
	cl, e := c.parseToken(token)
	if e != nil {
		return Session{}, e.Reason, nil
	}
	s := Session{Account: cl.Account, PrincipalID: cl.PrincipalID, Login: cl.Subject, Kind: cl.Kind, Level: cl.Level,
		KeyID: cl.KeyID, Scope: cl.Scope, Narrowed: cl.Narrowed, Authenticator: cl.Authenticator,
		IssuedAt: time.Unix(cl.IssuedAt, 0), ExpiresAt: time.Unix(cl.ExpiresAt, 0)}
	pe, err := c.keys.principal(ctx, cl.Account, cl.PrincipalID)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			return s, ReasonNone, storeError(err)
		}
		return s, ReasonPrincipalGone, nil
	}
	var kp *keyEntry
	if cl.KeyID != "" {
		ke, ok := c.keys.key(cl.KeyID)
		if !ok {
			return s, ReasonRevoked, nil
		}
		kp = &ke
		s.Customers = ke.customers
	}
	return s, admit(pe, kp, caller, c.now()), nil
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
	// Customers and Narrowed: the token was minted from a key limited to
	// these customers / limited at all (resource servers must scope by
	// them; review r22b R6).
	Customers []string
	Narrowed  bool
}

// Introspect reports whether a token is active, without auditing: it is a
// resource server's cheap check, and the token's issue was audited.
// An error means no answer could be drawn (the store is unavailable or the
// caches stale), not an inactive token.
func (c *tokenService) Introspect(ctx context.Context, caller Caller, token string) (Introspection, error) {
	if err := c.keys.fresh.check(); err != nil {
		return Introspection{}, err
	}
	s, reason, err := c.checkToken(ctx, caller, token)
	if err != nil {
		return Introspection{}, err
	}
	if reason != ReasonNone {
		return Introspection{}, nil
	}
	return Introspection{Active: true, Subject: s.Login, Account: s.Account, ExpiresAt: s.ExpiresAt.Unix(),
		IssuedAt: s.IssuedAt.Unix(), Kind: s.Kind, Level: s.Level, Customers: s.Customers, Narrowed: s.Narrowed}, nil
}
