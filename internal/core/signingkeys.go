package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/crypto"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

// tokenKeys holds each account's signing key and every key still verifying,
// and a bounded cache of verified tokens so a token presented again costs a
// map read instead of a signature check.
type tokenKeys struct {
	mu      sync.RWMutex
	signers map[string]crypto.SigningKey // by account
	verify  map[string]verifyKey         // by kid
	jwks    []json.RawMessage
	cacheMu sync.Mutex
	cache   map[[32]byte]Claims
}

type verifyKey struct {
	key     crypto.SigningKey
	account string    // the only account whose tokens it verifies; "": a key from before keys were per account
	expires time.Time // zero: no end
}

const tokenCacheMax = 100_000

// signingKeyGrace is added to a token lifetime when a retired key's end is
// set, so a token issued just before the rotation outlives no key.
const signingKeyGrace = time.Minute

// loadTokenKeys readies the signing keys at start-up (see prepareSigningKeys)
// and loads them.
func loadTokenKeys(ctx context.Context, st store.Store, sealer *crypto.Sealer, now time.Time, ttl time.Duration) (*tokenKeys, error) {
	if err := prepareSigningKeys(ctx, st, sealer, now, ttl); err != nil {
		return nil, err
	}
	tk := &tokenKeys{cache: map[[32]byte]Claims{}}
	if err := tk.reload(ctx, st, sealer, now); err != nil {
		return nil, err
	}
	return tk, nil
}

// startEvent is an audit record of keyward's own doing at start-up about
// signing key kid.
func startEvent(now time.Time, account, name, kid, detail string) audit.Event {
	return audit.Event{Time: now, Account: account, Event: name, Outcome: audit.Success, Actor: "keyward",
		Subject: signingKeySubject(account, kid), RequestID: "start", Detail: detail}
}

// signingKeySubject names a signing key in audit records, as Conjur-style
// role ids name principals: account:signing_key:kid.
func signingKeySubject(account, kid string) string {
	return account + ":signing_key:" + kid
}

// prepareSigningKeys brings the stored keys to what the core expects, each
// step audited in the key's account:
//   - a key from before keys were per account (Account "") that still signs
//     is retired: it verifies what it signed until one token lifetime has
//     passed, and signs nothing more (it would sign for every account);
//   - keys that verify nothing any more are deleted;
//   - an account without a key of its own gets its first.
func prepareSigningKeys(ctx context.Context, st store.Store, sealer *crypto.Sealer, now time.Time, ttl time.Duration) error {
	keys, err := st.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("list signing keys: %w", err)
	}
	until := now.Add(ttl + signingKeyGrace)
	signs := map[string]bool{}
	for _, k := range keys {
		switch {
		case k.Account == "" && k.RetiredAt == nil:
			ev := startEvent(now, "", "signing_key.retire", k.ID, "kid "+k.ID+": it signed every account's tokens; keys are per account now")
			if _, err := st.UpdateSigningKey(ctx, k.ID, func(sk model.SigningKey) (model.SigningKey, error) {
				if sk.RetiredAt == nil {
					sk.RetiredAt, sk.ExpiresAt = &now, &until
				}
				return sk, nil
			}, ev); err != nil {
				return fmt.Errorf("retire signing key: %w", err)
			}
		case k.RetiredAt == nil:
			signs[k.Account] = true
		}
	}
	if err := pruneSigningKeys(ctx, st, keys, now, func(k model.SigningKey) (audit.Event, bool) {
		return startEvent(now, k.Account, "signing_key.delete", k.ID, "kid "+k.ID+": expired"), true
	}); err != nil {
		return err
	}
	accounts, err := st.ListAccounts(ctx)
	if err != nil {
		return fmt.Errorf("list accounts: %w", err)
	}
	for _, a := range accounts {
		if signs[a.Name] {
			continue
		}
		if err := rotateSigningKey(ctx, st, sealer, a.Name, now, ttl, startEvent(now, a.Name, "signing_key.create", "", "")); err != nil {
			return err
		}
	}
	return nil
}

// pruneSigningKeys deletes the keys among keys that have stopped verifying
// (retired longer than a token lifetime ago) and that which picks, with the
// audit record which returns. A key another instance deleted first is no
// error.
func pruneSigningKeys(ctx context.Context, st store.Store, keys []model.SigningKey, now time.Time, which func(model.SigningKey) (audit.Event, bool)) error {
	for _, k := range keys {
		if k.ExpiresAt == nil || now.Before(*k.ExpiresAt) {
			continue
		}
		ev, ok := which(k)
		if !ok {
			continue
		}
		if err := st.DeleteSigningKey(ctx, k.ID, ev); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("prune signing key: %w", err)
		}
	}
	return nil
}

func (tk *tokenKeys) reload(ctx context.Context, st store.Store, sealer *crypto.Sealer, now time.Time) error {
	stored, err := st.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("list signing keys: %w", err)
	}
	var (
		signers = map[string]crypto.SigningKey{}
		newest  = map[string]time.Time{}
		verify  = map[string]verifyKey{}
		jwks    []json.RawMessage
	)
	for _, sk := range stored {
		if sk.ExpiresAt != nil && !now.Before(*sk.ExpiresAt) {
			continue
		}
		k, err := crypto.OpenSigningKey(sealer, sk.ID, sk.Private)
		if err != nil {
			return fmt.Errorf("open signing key: %w", err)
		}
		vk := verifyKey{key: k, account: sk.Account}
		if sk.ExpiresAt != nil {
			vk.expires = *sk.ExpiresAt
		}
		verify[sk.ID] = vk
		jwks = append(jwks, json.RawMessage(sk.Public))
		// Keys come oldest first: the newest still signing wins (two
		// instances starting at once may each have made a first key).
		if sk.Account != "" && sk.RetiredAt == nil && !sk.CreatedAt.Before(newest[sk.Account]) {
			signers[sk.Account], newest[sk.Account] = k, sk.CreatedAt
		}
	}
	tk.mu.Lock()
	tk.signers, tk.verify, tk.jwks = signers, verify, jwks
	tk.mu.Unlock()
	return nil
}

// signer returns the key signing account's tokens.
func (tk *tokenKeys) signer(account string) (crypto.SigningKey, bool) {
	tk.mu.RLock()
	defer tk.mu.RUnlock()
	k, ok := tk.signers[account]
	return k, ok
}

// rotateSigningKey makes a new signing key for account and, in the same
// transaction as ev, retires the account's others: they keep verifying for
// one token lifetime, so tokens already issued stay good. Other accounts'
// keys are untouched.
func rotateSigningKey(ctx context.Context, st store.Store, sealer *crypto.Sealer, account string, now time.Time, ttl time.Duration, ev audit.Event) error {
	k, err := crypto.NewSigningKey()
	if err != nil {
		return err
	}
	pub, err := k.PublicJWK()
	if err != nil {
		return fmt.Errorf("signing key JWK: %w", err)
	}
	ev.Subject, ev.Detail = signingKeySubject(account, k.ID), "kid "+k.ID
	sk := model.SigningKey{ID: k.ID, Account: account, Alg: string(crypto.TokenAlg), Private: k.SealPrivate(sealer), Public: pub, CreatedAt: now}
	if err := st.RotateSigningKey(ctx, sk, now.Add(ttl+signingKeyGrace), ev); err != nil {
		return fmt.Errorf("store signing key: %w", err)
	}
	return nil
}

// createSigningKey gives a new account its first signing key, audited in it.
func (c *tokenService) createSigningKey(ctx context.Context, ev audit.Event) error {
	ev.Event = "signing_key.create"
	if err := rotateSigningKey(ctx, c.st, c.sealer, ev.Account, c.now(), c.tokenTTL, ev); err != nil {
		return err
	}
	return c.tokens.reload(ctx, c.st, c.sealer, c.now())
}

// RotateSigningKey replaces the signing key of the caller's account, audited
// in that account; tokens signed by the old one verify until they expire,
// and the account's keys that verify nothing any more are deleted. Other
// accounts' keys are untouched. The keys sign every customer's tokens: a
// customer-limited key rotates none (accountWide).
func (c *tokenService) RotateSigningKey(ctx context.Context, a *Access) error {
	if err := c.access.Require(ctx, a, PermSigningKeysManage); err != nil {
		return err
	}
	if err := c.access.accountWide(ctx, a, "rotate", "the signing keys"); err != nil {
		return err
	}
	s := a.Session
	ev := c.audit.event(a.Caller, s.Account, "signing_key.rotate")
	ev.Actor, ev.KeyID = s.RoleID(), s.KeyID
	now := c.now()
	if err := rotateSigningKey(ctx, c.st, c.sealer, s.Account, now, c.tokenTTL, ev); err != nil {
		return err
	}
	keys, err := c.st.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("list signing keys: %w", err)
	}
	if err := pruneSigningKeys(ctx, c.st, keys, now, func(k model.SigningKey) (audit.Event, bool) {
		pev := ev
		pev.Event, pev.Subject, pev.Detail = "signing_key.delete", signingKeySubject(k.Account, k.ID), "kid "+k.ID+": expired"
		return pev, k.Account == s.Account
	}); err != nil {
		return err
	}
	return c.tokens.reload(ctx, c.st, c.sealer, now)
}

// JWKS returns every account's public token keys, current and retired, as a
// JSON Web Key Set; each kid is one account's key.
func (c *tokenService) JWKS() []byte {
	c.tokens.mu.RLock()
	keys := c.tokens.jwks
	c.tokens.mu.RUnlock()
	out, _ := json.Marshal(map[string]any{"keys": keys})
	return out
}

// ErrWrongMasterKey means the master key does not open the store's sealed
// values: it is not the key the store was initialised with.
var ErrWrongMasterKey = errors.New("the master key does not open this store's sealed values; use the master key of the " +
	"instance that ran keyward init (its master.key, or KEYWARD_MASTER_KEY)")

// CheckMasterKey opens the store's signing keys with sealer, before anything
// is written under it.
func CheckMasterKey(ctx context.Context, st store.Store, sealer *crypto.Sealer) error {
	keys, err := st.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("list signing keys: %w", err)
	}
	for _, sk := range keys {
		if _, err := crypto.OpenSigningKey(sealer, sk.ID, sk.Private); err != nil {
			return fmt.Errorf("%w (signing key %s: %w)", ErrWrongMasterKey, sk.ID, err)
		}
	}
	return nil
}
