package core

import (
	"context"
	"errors"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/crypto"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

// keyService is API keys and each principal's Conjur key: create, list,
// rotate, revoke and read them, each change checked by the access service
// and refreshed into the hot-path cache after it commits.
type keyService struct {
	st      store.Store
	sealer  *crypto.Sealer
	now     func() time.Time
	keys    *keyring
	touches *toucher
	audit   *auditor
	access  *accessService
}

// KeySpec is a new API key's constraints; every field is optional.
type KeySpec struct {
	Description   string
	ValidSources  []string
	ExpiresInDays *int
	// ExpiresAt is an expiry as a time (future, at most 3650 days ahead);
	// not with ExpiresInDays.
	ExpiresAt *time.Time
	// Roles narrows the key to these of the owner's roles; empty means all of them.
	Roles []string
	// Functions narrows the key to the owner's roles of these names, each
	// held by an explicit grant (Argus's function constraint).
	Functions []string
	// Customers constrains the key's sessions to principals of these customers.
	Customers []string
	// Idempotency makes a retried creation answer the first one again.
	Idempotency *Idempotency
}

// maxGrace bounds a rotation's grace period.
const maxGrace = 30 * 24 * time.Hour

// MayChangeKey answers, and audits a refusal, whether the access may
// rotate or revoke the key: the pipeline asks it before a body is read,
// since whose key it is decides (the change checks again).
func (c *keyService) MayChangeKey(ctx context.Context, a *Access, keyID string) error {
	_, err := c.keyForChange(ctx, a, keyID)
	return err
}

// keyForChange loads a key the access may rotate or revoke: as keyAccess,
// and then as mayMint for the key's owner.
func (c *keyService) keyForChange(ctx context.Context, a *Access, keyID string) (model.APIKey, error) {
	k, err := c.keyAccess(ctx, a, keyID)
	if err != nil {
		return model.APIKey{}, err
	}
	owner, err := c.access.principalIn(ctx, a, k.PrincipalID)
	if err != nil {
		return model.APIKey{}, err
	}
	return k, c.access.mayMint(ctx, a, owner)
}

// keyAccess loads a key the access may act on. Without api-keys-manage a
// key that is not the caller's is refused exactly like one that does not
// exist, so the answer reveals nothing.
func (c *keyService) keyAccess(ctx context.Context, a *Access, keyID string) (model.APIKey, error) {
	k, err := c.st.GetAPIKey(ctx, keyID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return model.APIKey{}, wrapStore(err, "API key")
	}
	owned := err == nil && k.Account == a.Session.Account && k.PrincipalID == a.Session.PrincipalID
	if !a.Has(PermAPIKeysManage) && !owned {
		return model.APIKey{}, c.access.deny(ctx, a, ReasonMissingPermission, PermAPIKeysManage, "permission "+PermAPIKeysManage+" is required")
	}
	if err != nil || k.Account != a.Session.Account {
		return model.APIKey{}, &Error{Kind: NotFound, Msg: "API key " + keyID + " not found"}
	}
	return k, nil
}

// CreateAPIKey makes a new key for a principal and returns it with its
// secret, shown this once.
func (c *keyService) CreateAPIKey(ctx context.Context, a *Access, principalID string, spec KeySpec) (model.APIKey, string, error) {
	if principalID != a.Session.PrincipalID {
		if err := c.access.Require(ctx, a, PermAPIKeysManage); err != nil {
			return model.APIKey{}, "", err
		}
	}
	owner, err := c.access.principalIn(ctx, a, principalID)
	if err != nil {
		return model.APIKey{}, "", err
	}
	if err := c.access.mayMint(ctx, a, owner); err != nil {
		return model.APIKey{}, "", err
	}
	now := c.now().UTC()
	if spec.Idempotency != nil {
		if k, key, found, err := c.idempotentKey(ctx, a, *spec.Idempotency, owner, now); found || err != nil {
			return k, key, err
		}
	}
	sources, expires, roles, err := c.checkKeySpec(ctx, a, principalID, spec, now)
	if err != nil {
		return model.APIKey{}, "", err
	}
	id := crypto.NewKeyID()
	key, secret := crypto.NewAPIKey(id)
	k := model.APIKey{ID: id, Account: a.Session.Account, PrincipalID: principalID, Description: spec.Description,
		Hash: c.sealer.KeyHash(secret), ExpiresAt: expires, ValidSources: sources, Roles: roles, CreatedAt: now,
		Customers: spec.Customers, Author: a.Session.PrincipalID, UpdatedBy: a.Session.PrincipalID}
	ev := c.audit.event(a.Caller, a.Session.Account, "apikey.create")
	ev.Actor, ev.Subject, ev.KeyID, ev.Detail = a.Session.RoleID(), owner.RoleID(), id, actingKey(a)
	if spec.Idempotency != nil {
		rec, err := c.idempotencyRecord(a, *spec.Idempotency, owner.ID, now, idemAnswer{ID: id, Key: key})
		if err != nil {
			return model.APIKey{}, "", err
		}
		if err := c.st.CreateAPIKeyOnce(ctx, k, rec, ev); err != nil {
			if errors.Is(err, store.ErrAlreadyExists) {
				// A concurrent repeat committed first: its answer is ours.
				if k, key, found, err := c.idempotentKey(ctx, a, *spec.Idempotency, owner, now); found || err != nil {
					return k, key, err
				}
			}
			return model.APIKey{}, "", wrapStore(err, "API key")
		}
	} else if err := c.st.CreateAPIKey(ctx, k, ev); err != nil {
		return model.APIKey{}, "", wrapStore(err, "API key")
	}
	c.keys.refreshKey(ctx, id)
	k.Hash = nil // what the caller sees of a key never includes its HMAC
	return k, key, nil
}

// ListAPIKeys lists a principal's keys, never their secrets.
func (c *keyService) ListAPIKeys(ctx context.Context, a *Access, principalID string) ([]model.APIKey, error) {
	if principalID != a.Session.PrincipalID {
		if err := c.access.Require(ctx, a, PermAPIKeysManage); err != nil {
			return nil, err
		}
	}
	if _, err := c.access.principalIn(ctx, a, principalID); err != nil {
		return nil, err
	}
	c.touches.flush() // so last use is current
	ks, err := c.st.ListAPIKeys(ctx, a.Session.Account, principalID)
	for i := range ks {
		ks[i].Sealed, ks[i].Hash, ks[i].PrevHash = nil, nil, nil
	}
	return ks, wrapStore(err, "API keys")
}

// RevokeAPIKey revokes a key at once. It stays as a tombstone, so a later
// verification can answer "revoked".
func (c *keyService) RevokeAPIKey(ctx context.Context, a *Access, keyID string) error {
	k, err := c.keyForChange(ctx, a, keyID)
	if err != nil {
		return err
	}
	if k.Conjur {
		return invalid("id", "a principal's Conjur API key cannot be revoked, only rotated (it is what Conjur's login returns)")
	}
	if k.RevokedAt != nil {
		return &Error{Kind: NotFound, Msg: "API key " + keyID + " is already revoked"}
	}
	now := c.now().UTC()
	ev := c.audit.event(a.Caller, a.Session.Account, "apikey.revoke")
	ev.Actor, ev.Subject, ev.KeyID, ev.Detail = a.Session.RoleID(), c.subjectOf(ctx, a.Session.Account, k.PrincipalID), keyID, actingKey(a)
	if _, err := c.st.UpdateAPIKey(ctx, keyID, func(k model.APIKey) (model.APIKey, error) {
		k.RevokedAt, k.Sealed, k.PrevHash, k.PrevUntil = &now, nil, nil, nil
		k.UpdatedBy = a.Session.PrincipalID
		return k, nil
	}, ev); err != nil {
		return wrapStore(err, "API key "+keyID)
	}
	c.keys.refreshKey(ctx, keyID)
	return nil
}

// RotateAPIKey gives a key a new secret. During grace the old secret still
// works, never past the key's expiry. Of concurrent rotations the last to
// commit wins; only its secret (and its grace secret) stays valid.
func (c *keyService) RotateAPIKey(ctx context.Context, a *Access, keyID string, grace time.Duration) (model.APIKey, string, error) {
	if grace < 0 || grace > maxGrace {
		return model.APIKey{}, "", invalid("grace_period_seconds", "grace_period_seconds must be 0 to %d", int(maxGrace.Seconds()))
	}
	k, err := c.keyForChange(ctx, a, keyID)
	if err != nil {
		return model.APIKey{}, "", err
	}
	if k.RevokedAt != nil {
		return model.APIKey{}, "", &Error{Kind: NotFound, Msg: "API key " + keyID + " is revoked"}
	}
	ev := c.audit.event(a.Caller, a.Session.Account, "rotate")
	ev.Actor, ev.Subject, ev.KeyID, ev.Detail = a.Session.RoleID(), c.subjectOf(ctx, a.Session.Account, k.PrincipalID), keyID, actingKey(a)
	return c.rotate(ctx, keyID, grace, ev, a.Session.PrincipalID)
}

// rotate gives key keyID a new secret; by is the principal doing it ("" for
// the operator's recovery).
func (c *keyService) rotate(ctx context.Context, keyID string, grace time.Duration, ev audit.Event, by string) (model.APIKey, string, error) {
	key, secret := crypto.NewAPIKey(keyID)
	hash := c.sealer.KeyHash(secret)
	now := c.now().UTC()
	k, err := c.st.UpdateAPIKey(ctx, keyID, func(k model.APIKey) (model.APIKey, error) {
		if k.RevokedAt != nil {
			return k, &Error{Kind: NotFound, Msg: "API key " + keyID + " is revoked"}
		}
		k.PrevHash, k.PrevUntil, k.UpdatedBy = nil, nil, by
		if grace > 0 {
			until := now.Add(grace)
			if k.ExpiresAt != nil && k.ExpiresAt.Before(until) {
				until = *k.ExpiresAt
			}
			k.PrevHash, k.PrevUntil = k.Hash, &until
		}
		k.Hash = hash
		if k.Conjur {
			k.Sealed = c.sealer.Seal([]byte(secret), []byte("apikey:"+keyID))
		}
		k.RotatedAt = &now
		return k, nil
	}, ev)
	if err != nil {
		return model.APIKey{}, "", wrapStore(err, "API key "+keyID)
	}
	c.keys.refreshKey(ctx, keyID)
	k.Sealed, k.Hash, k.PrevHash = nil, nil, nil
	return k, key, nil
}

// subjectOf names a principal as a role id for audit records.
func (c *keyService) subjectOf(ctx context.Context, account, principalID string) string {
	if pe, err := c.keys.principal(ctx, account, principalID); err == nil {
		return pe.p.RoleID()
	}
	return account + ":unknown:" + principalID
}

// ConjurKey returns a principal's current Conjur API key (what Conjur's
// login answers), reading its sealed secret; the read is audited.
func (c *keyService) ConjurKey(ctx context.Context, caller Caller, s Session) (string, error) {
	k, err := c.st.GetConjurKey(ctx, s.Account, s.PrincipalID)
	if err != nil {
		return "", wrapStore(err, "API key")
	}
	if k.RevokedAt != nil || len(k.Sealed) == 0 {
		return "", &Error{Kind: NotFound, Msg: "the principal has no readable Conjur API key"}
	}
	secret, err := c.sealer.Open(k.Sealed, []byte("apikey:"+k.ID))
	if err != nil {
		return "", &Error{Kind: Internal, Msg: "API key cannot be read", Err: err}
	}
	ev := c.audit.event(caller, s.Account, "apikey.read")
	ev.Actor, ev.Subject, ev.KeyID, ev.Authenticator = s.RoleID(), s.RoleID(), k.ID, s.Authenticator
	if err := c.audit.record(ctx, ev); err != nil {
		return "", err
	}
	return crypto.FormatAPIKey(k.ID, string(secret)), nil
}

// RotateConjurKey gives a principal a new Conjur API key; the old one stops
// working at once. One's own needs a credential, not a token (a token
// session is LevelToken: ReasonCredentialStrength); another's needs
// users-manage and outranking it.
func (c *keyService) RotateConjurKey(ctx context.Context, a *Access, target model.Principal) (string, error) {
	ev := c.audit.event(a.Caller, a.Session.Account, "rotate")
	ev.Actor, ev.Subject, ev.Authenticator, ev.Detail = a.Session.RoleID(), target.RoleID(), "authn", actingKey(a)
	self := target.ID == a.Session.PrincipalID && target.Account == a.Session.Account
	switch {
	case self && a.Session.Level < LevelKey:
		c.audit.recordFailure(ctx, fail(ev, ReasonCredentialStrength))
		return "", &Error{Kind: Unauthenticated, Reason: ReasonCredentialStrength, Msg: "a token cannot change its own credentials"}
	case target.Account != a.Session.Account:
		c.audit.recordFailure(ctx, fail(ev, ReasonNotVisible))
		return "", &Error{Kind: NotFound, Reason: ReasonNotVisible, Msg: "role not found"}
	case !self:
		if err := c.access.Require(ctx, a, PermUsersManage); err != nil {
			return "", err
		}
		if err := c.access.notNarrowed(ctx, a); err != nil {
			return "", err
		}
	}
	if err := c.access.outranks(ctx, a, target); err != nil {
		return "", err
	}
	k, err := c.st.GetConjurKey(ctx, target.Account, target.ID)
	if err != nil {
		return "", wrapStore(err, "API key")
	}
	ev.KeyID = k.ID
	_, key, err := c.rotate(ctx, k.ID, 0, ev, a.Session.PrincipalID)
	return key, err
}

// ConjurKeyRotatedAt returns when a principal's Conjur API key last
// changed (its rotation, else its creation): Conjur's "last rotated" time.
func (c *keyService) ConjurKeyRotatedAt(ctx context.Context, p model.Principal) (time.Time, error) {
	k, err := c.st.GetConjurKey(ctx, p.Account, p.ID)
	if err != nil {
		return time.Time{}, wrapStore(err, "API key")
	}
	if k.RotatedAt != nil {
		return k.RotatedAt.UTC(), nil
	}
	return k.CreatedAt.UTC(), nil
}
