package core

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/crypto"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/netpolicy"
	"github.com/keyward/keyward/internal/store"
)

// KeySpec is a new API key's constraints; every field is optional.
type KeySpec struct {
	Description   string
	ValidSources  []string
	ExpiresInDays *int
	// Roles narrows the key to these of the owner's roles; empty means all of them.
	Roles []string
}

// maxGrace bounds a rotation's grace period.
const maxGrace = 30 * 24 * time.Hour

// ownerAccess lets a session act on a principal's keys: its own, or any with
// api-keys-manage. A refusal says nothing of whether the principal exists.
func (c *Core) ownerAccess(ctx context.Context, s Session, caller Caller, principalID string) error {
	if principalID == s.PrincipalID {
		return nil
	}
	return c.Authorize(ctx, s, caller, PermAPIKeysManage)
}

// MayChangeKey answers, and audits a refusal, whether the session may
// rotate or revoke the key: for a surface to decide before it reads a body,
// since whose key it is decides (the change checks again).
func (c *Core) MayChangeKey(ctx context.Context, s Session, caller Caller, keyID string) error {
	_, err := c.keyForChange(ctx, s, caller, keyID)
	return err
}

// keyForChange loads a key the session may rotate or revoke: as keyAccess,
// and then as mayMint for the key's owner.
func (c *Core) keyForChange(ctx context.Context, s Session, caller Caller, keyID string) (model.APIKey, error) {
	k, err := c.keyAccess(ctx, s, caller, keyID)
	if err != nil {
		return model.APIKey{}, err
	}
	return k, c.mayMint(ctx, s, caller, k.PrincipalID)
}

// keyAccess loads a key the session may act on. Without api-keys-manage a
// key that is not the caller's is refused exactly like one that does not
// exist, so the answer reveals nothing.
func (c *Core) keyAccess(ctx context.Context, s Session, caller Caller, keyID string) (model.APIKey, error) {
	manage := c.can(ctx, s, caller, PermAPIKeysManage)
	k, err := c.st.GetAPIKey(ctx, keyID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return model.APIKey{}, wrapStore(err, "API key")
	}
	owned := err == nil && k.Account == s.Account && k.PrincipalID == s.PrincipalID
	if !manage && !owned {
		return model.APIKey{}, c.deny(ctx, s, caller, "missing_permission", PermAPIKeysManage, "permission "+PermAPIKeysManage+" is required")
	}
	if err != nil || k.Account != s.Account {
		return model.APIKey{}, &Error{Kind: NotFound, Msg: "API key " + keyID + " not found"}
	}
	return k, nil
}

// CreateAPIKey makes a new key for a principal and returns it with its
// secret, shown this once.
func (c *Core) CreateAPIKey(ctx context.Context, s Session, caller Caller, principalID string, spec KeySpec) (model.APIKey, string, error) {
	if err := c.mayMint(ctx, s, caller, principalID); err != nil {
		return model.APIKey{}, "", err
	}
	sources, err := netpolicy.Normalize(spec.ValidSources)
	if err != nil {
		return model.APIKey{}, "", invalid("valid_sources", "%v", err)
	}
	if len(spec.Description) > 1024 {
		return model.APIKey{}, "", invalid("description", "description is at most 1024 characters")
	}
	now := c.now().UTC()
	var expires *time.Time
	if spec.ExpiresInDays != nil {
		if *spec.ExpiresInDays <= 0 || *spec.ExpiresInDays > 3650 {
			return model.APIKey{}, "", invalid("expires_in_days", "expires_in_days must be 1 to 3650")
		}
		e := now.Add(time.Duration(*spec.ExpiresInDays) * 24 * time.Hour)
		expires = &e
	}
	owner, err := c.st.GetPrincipal(ctx, s.Account, principalID)
	if err != nil {
		return model.APIKey{}, "", wrapStore(err, "principal "+principalID)
	}
	if len(spec.Roles) > 0 {
		grants, err := c.st.ListGrants(ctx, s.Account, principalID)
		if err != nil {
			return model.APIKey{}, "", wrapStore(err, "grants")
		}
		for _, r := range spec.Roles {
			if !slices.ContainsFunc(grants, func(g model.Grant) bool { return g.RoleID == r }) {
				return model.APIKey{}, "", invalid("roles", "role %s is not one of the owner's roles", r)
			}
		}
	}
	id := crypto.NewKeyID()
	key, secret := crypto.NewAPIKey(id)
	k := model.APIKey{ID: id, Account: s.Account, PrincipalID: principalID, Description: spec.Description,
		Hash: c.sealer.KeyHash(secret), ExpiresAt: expires, ValidSources: sources, Roles: spec.Roles, CreatedAt: now}
	ev := c.event(caller, s.Account, "apikey.create")
	ev.Actor, ev.Subject, ev.KeyID = s.RoleID(), owner.RoleID(), id
	if err := c.st.CreateAPIKey(ctx, k, ev); err != nil {
		return model.APIKey{}, "", wrapStore(err, "API key")
	}
	c.keys.refreshKey(ctx, id)
	k.Hash = nil // what the caller sees of a key never includes its HMAC
	return k, key, nil
}

// ListAPIKeys lists a principal's keys, never their secrets.
func (c *Core) ListAPIKeys(ctx context.Context, s Session, caller Caller, principalID string) ([]model.APIKey, error) {
	if err := c.ownerAccess(ctx, s, caller, principalID); err != nil {
		return nil, err
	}
	if _, err := c.st.GetPrincipal(ctx, s.Account, principalID); err != nil {
		return nil, wrapStore(err, "principal "+principalID)
	}
	c.touches.flush() // so last use is current
	ks, err := c.st.ListAPIKeys(ctx, s.Account, principalID)
	for i := range ks {
		ks[i].Sealed, ks[i].Hash, ks[i].PrevHash = nil, nil, nil
	}
	return ks, wrapStore(err, "API keys")
}

// RevokeAPIKey revokes a key at once. It stays as a tombstone, so a later
// verification can answer "revoked".
func (c *Core) RevokeAPIKey(ctx context.Context, s Session, caller Caller, keyID string) error {
	k, err := c.keyForChange(ctx, s, caller, keyID)
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
	ev := c.event(caller, s.Account, "apikey.revoke")
	ev.Actor, ev.Subject, ev.KeyID = s.RoleID(), c.subjectOf(ctx, s.Account, k.PrincipalID), keyID
	if _, err := c.st.UpdateAPIKey(ctx, keyID, func(k model.APIKey) (model.APIKey, error) {
		k.RevokedAt, k.Sealed, k.PrevHash, k.PrevUntil = &now, nil, nil, nil
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
func (c *Core) RotateAPIKey(ctx context.Context, s Session, caller Caller, keyID string, grace time.Duration) (model.APIKey, string, error) {
	if grace < 0 || grace > maxGrace {
		return model.APIKey{}, "", invalid("grace_period_seconds", "grace_period_seconds must be 0 to %d", int(maxGrace.Seconds()))
	}
	k, err := c.keyForChange(ctx, s, caller, keyID)
	if err != nil {
		return model.APIKey{}, "", err
	}
	if k.RevokedAt != nil {
		return model.APIKey{}, "", &Error{Kind: NotFound, Msg: "API key " + keyID + " is revoked"}
	}
	ev := c.event(caller, s.Account, "rotate")
	ev.Actor, ev.Subject, ev.KeyID = s.RoleID(), c.subjectOf(ctx, s.Account, k.PrincipalID), keyID
	return c.rotate(ctx, keyID, grace, ev)
}

func (c *Core) rotate(ctx context.Context, keyID string, grace time.Duration, ev audit.Event) (model.APIKey, string, error) {
	key, secret := crypto.NewAPIKey(keyID)
	hash := c.sealer.KeyHash(secret)
	now := c.now().UTC()
	k, err := c.st.UpdateAPIKey(ctx, keyID, func(k model.APIKey) (model.APIKey, error) {
		if k.RevokedAt != nil {
			return k, &Error{Kind: NotFound, Msg: "API key " + keyID + " is revoked"}
		}
		k.PrevHash, k.PrevUntil = nil, nil
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
func (c *Core) subjectOf(ctx context.Context, account, principalID string) string {
	if pe, err := c.keys.principal(ctx, account, principalID); err == nil {
		return pe.p.RoleID()
	}
	return account + ":unknown:" + principalID
}

// ConjurKey returns a principal's current Conjur API key (what Conjur's
// login answers), reading its sealed secret; the read is audited.
func (c *Core) ConjurKey(ctx context.Context, s Session, caller Caller) (string, error) {
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
	ev := c.event(caller, s.Account, "apikey.read")
	ev.Actor, ev.Subject, ev.KeyID, ev.Authenticator = s.RoleID(), s.RoleID(), k.ID, s.Authenticator
	if err := c.audit.record(ctx, ev); err != nil {
		return "", err
	}
	return crypto.FormatAPIKey(k.ID, string(secret)), nil
}

// RotateConjurKey gives a principal a new Conjur API key; the old one stops
// working at once. Rotating one's own key needs a credential, not a token
// (Conjur: "Credential strength is insufficient"); another's needs
// users-manage, and a principal the caller may not see is reported as not
// found.
func (c *Core) RotateConjurKey(ctx context.Context, s Session, caller Caller, target model.Principal) (string, error) {
	ev := c.event(caller, s.Account, "rotate")
	ev.Actor, ev.Subject, ev.Authenticator = s.RoleID(), target.RoleID(), "authn"
	if target.ID == s.PrincipalID && s.Level < LevelKey {
		c.recordFailure(ctx, fail(ev, "credential_strength"))
		return "", &Error{Kind: Unauthenticated, Reason: "credential_strength", Msg: "Credential strength is insufficient"}
	}
	if target.ID != s.PrincipalID && !c.can(ctx, s, caller, PermUsersManage) {
		c.recordFailure(ctx, fail(ev, "missing_permission"))
		return "", &Error{Kind: NotFound, Reason: "not_visible", Msg: "role not found"}
	}
	if target.Account != s.Account {
		c.recordFailure(ctx, fail(ev, "foreign_account"))
		return "", &Error{Kind: NotFound, Reason: "not_visible", Msg: "role not found"}
	}
	if err := c.outranks(ctx, s, caller, target.ID); err != nil {
		return "", err
	}
	k, err := c.st.GetConjurKey(ctx, target.Account, target.ID)
	if err != nil {
		return "", wrapStore(err, "API key")
	}
	ev.KeyID = k.ID
	_, key, err := c.rotate(ctx, k.ID, 0, ev)
	return key, err
}

// FindPrincipal resolves a Conjur-style login or role id part (alice,
// host/myapp) in an account, for the surfaces.
func (c *Core) FindPrincipal(ctx context.Context, account, login string) (model.Principal, error) {
	p, err := c.findPrincipal(ctx, account, login)
	return p, wrapStore(err, "role "+login)
}
