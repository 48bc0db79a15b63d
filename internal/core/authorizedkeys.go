package core

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/base64"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/crypto"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/netpolicy"
)

// ParseAuthorizedKey parses an SSH public key given as an authorized_keys
// line (options and comment allowed) or as the bare base64 blob. It accepts
// Ed25519, ECDSA P-256/384/521 and RSA of 2048 bits or more, nothing else
// (DSA, short RSA, certificates, security keys), and returns the key as
// "<type> <base64>" and its SHA256 fingerprint as ssh-keygen -l shows it.
func ParseAuthorizedKey(s string) (line, fingerprint string, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", "", invalid("public_key", "public_key is required")
	}
	var pub ssh.PublicKey
	if !strings.ContainsAny(s, " \t") {
		blob, derr := base64.StdEncoding.DecodeString(s)
		if derr != nil {
			return "", "", invalid("public_key", "public_key is neither an authorized_keys line nor a base64 key")
		}
		pub, err = ssh.ParsePublicKey(blob)
	} else {
		pub, _, _, _, err = ssh.ParseAuthorizedKey([]byte(s))
	}
	if err != nil {
		return "", "", invalid("public_key", "public_key is not an SSH public key")
	}
	if err := checkKeyType(pub); err != nil {
		return "", "", err
	}
	line = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
	return line, ssh.FingerprintSHA256(pub), nil
}

func checkKeyType(pub ssh.PublicKey) error {
	switch pub.Type() {
	case ssh.KeyAlgoED25519:
		return nil
	case ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521:
		cp, ok := pub.(ssh.CryptoPublicKey)
		if ok {
			if _, ok := cp.CryptoPublicKey().(*ecdsa.PublicKey); ok {
				return nil
			}
		}
	case ssh.KeyAlgoRSA:
		cp, ok := pub.(ssh.CryptoPublicKey)
		if ok {
			if k, ok := cp.CryptoPublicKey().(*rsa.PublicKey); ok {
				if k.N.BitLen() >= 2048 {
					return nil
				}
				return invalid("public_key", "an RSA key must have at least 2048 bits")
			}
		}
	}
	return invalid("public_key", "public_key must be an Ed25519, ECDSA (P-256, P-384, P-521) or RSA (2048 bits or more) key, not %s", pub.Type())
}

// NormalizeSourceAddresses parses CIDRs or addresses and answers them as
// canonical prefixes (an address as /32 or /128).
func NormalizeSourceAddresses(ss []string) ([]string, error) {
	out, err := netpolicy.Normalize(ss)
	if err != nil {
		return nil, invalid("source_address", "%v", err)
	}
	if out == nil {
		out = []string{}
	}
	return out, nil
}

// AuthorizedKeySpec is an authorized key's content, for create and replace.
type AuthorizedKeySpec struct {
	Name, Comment, PublicKey string
	NotBefore, NotAfter      *time.Time
	// ExpiresIn (seconds) applies when neither NotBefore nor NotAfter is
	// given: they become now and now + ExpiresIn.
	ExpiresIn     int64
	SourceAddress []string
}

func (c *principalService) buildAuthorizedKey(spec AuthorizedKeySpec, k *model.AuthorizedKey) error {
	if strings.TrimSpace(spec.Name) == "" || len(spec.Name) > 256 {
		return invalid("name", "name is required (at most 256 characters)")
	}
	if len(spec.Comment) > 4096 {
		return invalid("comment", "comment must be at most 4096 characters")
	}
	line, fp, err := ParseAuthorizedKey(spec.PublicKey)
	if err != nil {
		return err
	}
	src, err := NormalizeSourceAddresses(spec.SourceAddress)
	if err != nil {
		return err
	}
	if spec.ExpiresIn < 0 || spec.ExpiresIn > 100*365*24*3600 {
		return invalid("expires_in", "expires_in must be 0 or a positive number of seconds")
	}
	nb, na := spec.NotBefore, spec.NotAfter
	if nb == nil && na == nil && spec.ExpiresIn > 0 {
		now := c.now().UTC().Truncate(time.Second)
		end := now.Add(time.Duration(spec.ExpiresIn) * time.Second)
		nb, na = &now, &end
	}
	if nb != nil && na != nil && !na.After(*nb) {
		return invalid("not_after", "not_after must be after not_before")
	}
	k.Name, k.Comment, k.PublicKey, k.Fingerprint = spec.Name, spec.Comment, line, fp
	k.NotBefore, k.NotAfter, k.ExpiresIn, k.SourceAddress = utcPtr(nb), utcPtr(na), spec.ExpiresIn, src
	return nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// keyOwner resolves the principal whose authorized keys a change touches:
// the caller itself (not through a narrowed key), or another with
// users-manage that the caller outranks.
func (c *principalService) keyOwner(ctx context.Context, a *Access, principalID string) (model.Principal, error) {
	if err := c.access.notNarrowed(ctx, a); err != nil {
		return model.Principal{}, err
	}
	if principalID == a.Session.PrincipalID {
		return c.access.principalIn(ctx, a, principalID)
	}
	return c.access.managed(ctx, a, principalID)
}

func (c *principalService) keyEvent(a *Access, p model.Principal, name string, k model.AuthorizedKey) []audit.Event {
	ev := c.audit.event(a.Caller, a.Session.Account, name)
	ev.Actor, ev.Subject, ev.KeyID = a.Session.RoleID(), p.RoleID(), a.Session.KeyID
	ev.Detail = joinDetail("authorized key "+k.ID, k.Fingerprint)
	return []audit.Event{ev}
}

// CreateAuthorizedKey adds an SSH public key to principal principalID. The
// same key twice for one user is a Conflict (public_key).
func (c *principalService) CreateAuthorizedKey(ctx context.Context, a *Access, principalID string, spec AuthorizedKeySpec) (model.AuthorizedKey, error) {
	p, err := c.keyOwner(ctx, a, principalID)
	if err != nil {
		return model.AuthorizedKey{}, err
	}
	now := c.now().UTC()
	k := model.AuthorizedKey{ID: crypto.NewID(), Account: p.Account, PrincipalID: p.ID, CreatedAt: now, UpdatedAt: now,
		Author: a.Session.PrincipalID, UpdatedBy: a.Session.PrincipalID}
	if err := c.buildAuthorizedKey(spec, &k); err != nil {
		return model.AuthorizedKey{}, err
	}
	if err := c.st.CreateAuthorizedKey(ctx, k, c.keyEvent(a, p, "authorized_key.create", k)...); err != nil {
		return model.AuthorizedKey{}, keyStoreError(err, k.ID)
	}
	return k, nil
}

func keyStoreError(err error, id string) error {
	e := wrapStore(err, "authorized key "+id)
	if ce, ok := e.(*Error); ok && ce.Kind == Conflict {
		ce.Field, ce.Msg = "public_key", "the user has this public key already"
	}
	return e
}

// ListAuthorizedKeys returns principal principalID's keys: users-view, or
// the principal itself.
func (c *principalService) ListAuthorizedKeys(ctx context.Context, a *Access, principalID string) ([]model.AuthorizedKey, error) {
	if principalID != a.Session.PrincipalID {
		if err := c.access.Require(ctx, a, PermUsersView); err != nil {
			return nil, err
		}
	}
	if _, err := c.access.principalIn(ctx, a, principalID); err != nil {
		return nil, err
	}
	ks, err := c.st.ListAuthorizedKeys(ctx, a.Session.Account, principalID)
	return ks, wrapStore(err, "authorized keys")
}

// GetAuthorizedKey returns key keyID of principal principalID (a key of
// another principal is NotFound): users-view, or the principal itself.
func (c *principalService) GetAuthorizedKey(ctx context.Context, a *Access, principalID, keyID string) (model.AuthorizedKey, error) {
	if principalID != a.Session.PrincipalID {
		if err := c.access.Require(ctx, a, PermUsersView); err != nil {
			return model.AuthorizedKey{}, err
		}
	}
	return c.ownedKey(ctx, a, principalID, keyID)
}

func (c *principalService) ownedKey(ctx context.Context, a *Access, principalID, keyID string) (model.AuthorizedKey, error) {
	k, err := c.st.GetAuthorizedKey(ctx, a.Session.Account, keyID)
	if err == nil && k.PrincipalID != principalID {
		return model.AuthorizedKey{}, &Error{Kind: NotFound, Msg: "authorized key " + keyID + " not found"}
	}
	return k, wrapStore(err, "authorized key "+keyID)
}

// ReplaceAuthorizedKey replaces key keyID of principal principalID.
func (c *principalService) ReplaceAuthorizedKey(ctx context.Context, a *Access, principalID, keyID string, spec AuthorizedKeySpec) (model.AuthorizedKey, error) {
	p, err := c.keyOwner(ctx, a, principalID)
	if err != nil {
		return model.AuthorizedKey{}, err
	}
	old, err := c.ownedKey(ctx, a, p.ID, keyID)
	if err != nil {
		return model.AuthorizedKey{}, err
	}
	next := old
	if err := c.buildAuthorizedKey(spec, &next); err != nil {
		return model.AuthorizedKey{}, err
	}
	next.UpdatedAt, next.UpdatedBy = c.now().UTC(), a.Session.PrincipalID
	k, err := c.st.UpdateAuthorizedKey(ctx, a.Session.Account, keyID, func(cur model.AuthorizedKey) (model.AuthorizedKey, error) {
		n := next
		n.CreatedAt, n.Author = cur.CreatedAt, cur.Author
		return n, nil
	}, c.keyEvent(a, p, "authorized_key.update", next)...)
	if err != nil {
		return model.AuthorizedKey{}, keyStoreError(err, keyID)
	}
	return k, nil
}

// DeleteAuthorizedKey removes key keyID of principal principalID.
func (c *principalService) DeleteAuthorizedKey(ctx context.Context, a *Access, principalID, keyID string) error {
	p, err := c.keyOwner(ctx, a, principalID)
	if err != nil {
		return err
	}
	k, err := c.ownedKey(ctx, a, p.ID, keyID)
	if err != nil {
		return err
	}
	return wrapStore(c.st.DeleteAuthorizedKey(ctx, a.Session.Account, keyID, c.keyEvent(a, p, "authorized_key.delete", k)...), "authorized key "+keyID)
}
