package core

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/crypto"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/netpolicy"
	"github.com/keyward/keyward/internal/store"
)

// maxKeyDays bounds a key's lifetime.
const maxKeyDays = 3650

var customerRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidCustomer reports whether s is a customer name: lowercase letters,
// digits and '-', 1 to 63, not starting with '-'.
func ValidCustomer(s string) bool { return customerRE.MatchString(s) }

func invalidCustomer(field, value string) *Error {
	return &Error{Kind: Invalid, Field: field, Value: value,
		Msg: "a customer is 1 to 63 lowercase letters, digits and '-', starting with a letter or digit"}
}

// fieldErrors collects every bad field of a request; err returns them as
// one Invalid error (nil when none), the first also as its Field.
type fieldErrors []FieldError

func (fe *fieldErrors) add(field, value, format string, args ...any) {
	*fe = append(*fe, FieldError{Field: field, Value: value, Msg: fmt.Sprintf(format, args...)})
}

func (fe fieldErrors) err() error {
	if len(fe) == 0 {
		return nil
	}
	return &Error{Kind: Invalid, Field: fe[0].Field, Msg: fe[0].Msg, Value: fe[0].Value, Fields: fe}
}

// checkKeySpec validates a new key's constraints, every bad field at once,
// and returns them normalised: sources, expiry, and the role ids the key
// is narrowed to.
func (c *keyService) checkKeySpec(ctx context.Context, a *Access, principalID string, spec KeySpec, now time.Time) ([]string, *time.Time, []string, error) {
	var bad fieldErrors
	sources := make([]string, 0, len(spec.ValidSources))
	for _, src := range spec.ValidSources {
		n, err := netpolicy.Normalize([]string{src})
		if err != nil {
			bad.add("valid_sources", src, "%v", err)
			continue
		}
		sources = append(sources, n[0])
	}
	if len(spec.Description) > 1024 {
		bad.add("description", "", "description is at most 1024 characters")
	}
	var expires *time.Time
	switch {
	case spec.ExpiresInDays != nil && spec.ExpiresAt != nil:
		bad.add("expires_at", "", "give expires_in_days or expires_at, not both")
	case spec.ExpiresInDays != nil:
		if d := *spec.ExpiresInDays; d <= 0 || d > maxKeyDays {
			bad.add("expires_in_days", fmt.Sprint(d), "expires_in_days must be 1 to %d", maxKeyDays)
		} else {
			e := now.Add(time.Duration(d) * 24 * time.Hour)
			expires = &e
		}
	case spec.ExpiresAt != nil:
		e := spec.ExpiresAt.UTC()
		if !e.After(now) || e.After(now.Add(maxKeyDays*24*time.Hour)) {
			bad.add("expires_at", fmt.Sprint(e.UnixMilli()), "the expiry must be in the future and at most %d days ahead", maxKeyDays)
		} else {
			expires = &e
		}
	}
	roles := slices.Clone(spec.Roles)
	if len(spec.Roles) > 0 || len(spec.Functions) > 0 {
		grants, err := c.st.ListGrants(ctx, a.Session.Account, principalID)
		if err != nil {
			return nil, nil, nil, wrapStore(err, "grants")
		}
		for _, r := range spec.Roles {
			if !slices.ContainsFunc(grants, func(g model.Grant) bool { return g.RoleID == r }) {
				bad.add("roles", r, "role %s is not one of the owner's roles", r)
			}
		}
		for _, name := range spec.Functions {
			id := ""
			for _, g := range grants {
				if g.Source != model.GrantExplicit {
					continue
				}
				if r, err := c.keys.role(ctx, a.Session.Account, g.RoleID); err == nil && r.Name == name {
					id = r.ID
					break
				}
			}
			if id == "" {
				bad.add("functions", name, "%q is not a role the owner holds by an explicit grant", name)
				continue
			}
			if !slices.Contains(roles, id) {
				roles = append(roles, id)
			}
		}
	}
	for _, cu := range spec.Customers {
		if !ValidCustomer(cu) {
			bad.add("customers", cu, "a customer is 1 to 63 lowercase letters, digits and '-', starting with a letter or digit")
		}
	}
	if err := bad.err(); err != nil {
		return nil, nil, nil, err
	}
	return sources, expires, roles, nil
}

// Idempotency is a creating request's Idempotency-Key: the same caller,
// route (Scope), owner and key within 24 h get the first answer again for
// the same body, and a conflict for another. The owner is the principal
// the core resolved, so naming it by login or by id is the same request.
type Idempotency struct {
	Key   string
	Scope string // what the route creates, e.g. "argus apikey"; not the path, whose {user} has several spellings
	Body  []byte
}

// idempotencyTTL is how long an answer is kept for retries.
const idempotencyTTL = 24 * time.Hour

// idemAnswer is what a creating request made, sealed in its record.
type idemAnswer struct {
	ID  string `json:"id"`
	Key string `json:"key,omitempty"` // an API key's whole key
}

// checkIdempotencyKey: 1 to 255 visible ASCII characters.
func checkIdempotencyKey(k string) error {
	if k == "" || len(k) > 255 || strings.IndexFunc(k, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0 {
		return &Error{Kind: Invalid, Field: "Idempotency-Key", Msg: "Idempotency-Key must be 1 to 255 visible ASCII characters"}
	}
	return nil
}

// idemScope is the record's scope: the caller, the route and the resolved
// owner's principal id.
func idemScope(a *Access, in Idempotency, ownerID string) string {
	return a.Session.PrincipalID + " " + in.Scope + " " + ownerID
}

func idemAAD(account, scope, key string) []byte {
	return []byte("idempotency:" + account + "\x00" + scope + "\x00" + key)
}

// newIdemRecord seals what a creation made into its idempotency record.
func newIdemRecord(sealer *crypto.Sealer, a *Access, in Idempotency, ownerID string, now time.Time, ans idemAnswer) (model.IdempotencyRecord, error) {
	if err := checkIdempotencyKey(in.Key); err != nil {
		return model.IdempotencyRecord{}, err
	}
	plain, err := json.Marshal(ans)
	if err != nil {
		return model.IdempotencyRecord{}, fmt.Errorf("idempotency answer: %w", err)
	}
	scope := idemScope(a, in, ownerID)
	sum := sha256.Sum256(in.Body)
	return model.IdempotencyRecord{Account: a.Session.Account, Scope: scope, Key: in.Key, RequestHash: sum[:],
		Answer: sealer.Seal(plain, idemAAD(a.Session.Account, scope, in.Key)), CreatedAt: now,
		ExpiresAt: now.Add(idempotencyTTL)}, nil
}

// idemLookup returns the first answer to a repeated request: found false
// when there is none; a Conflict when the body differs.
func idemLookup(ctx context.Context, st store.Store, sealer *crypto.Sealer, a *Access, in Idempotency, ownerID string, now time.Time) (idemAnswer, bool, error) {
	if err := checkIdempotencyKey(in.Key); err != nil {
		return idemAnswer{}, false, err
	}
	scope := idemScope(a, in, ownerID)
	rec, err := st.GetIdempotency(ctx, a.Session.Account, scope, in.Key, now)
	if errors.Is(err, store.ErrNotFound) {
		return idemAnswer{}, false, nil
	}
	if err != nil {
		return idemAnswer{}, false, wrapStore(err, "idempotency record")
	}
	sum := sha256.Sum256(in.Body)
	if subtle.ConstantTimeCompare(sum[:], rec.RequestHash) != 1 {
		return idemAnswer{}, false, &Error{Kind: Conflict, Reason: ReasonIdempotencyConflict,
			Msg: "this Idempotency-Key was used with another request body"}
	}
	plain, err := sealer.Open(rec.Answer, idemAAD(rec.Account, rec.Scope, rec.Key))
	if err != nil {
		return idemAnswer{}, false, &Error{Kind: Internal, Msg: "idempotency record cannot be read", Err: err}
	}
	var ans idemAnswer
	if err := json.Unmarshal(plain, &ans); err != nil {
		return idemAnswer{}, false, &Error{Kind: Internal, Msg: "idempotency record cannot be read", Err: err}
	}
	return ans, true, nil
}

// idempotentKey answers a repeated key creation with the first one's key.
// The repeat discloses the secret again, so it is audited (apikey.read,
// as Conjur's login answering an existing secret); a key revoked, rotated
// or expired since is not handed out again: 409, audited (review r22b R4).
func (c *keyService) idempotentKey(ctx context.Context, a *Access, in Idempotency, owner model.Principal, now time.Time) (model.APIKey, string, bool, error) {
	ans, found, err := idemLookup(ctx, c.st, c.sealer, a, in, owner.ID, now)
	if !found || err != nil {
		return model.APIKey{}, "", found, err
	}
	k, err := c.st.GetAPIKey(ctx, ans.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return model.APIKey{}, "", true, wrapStore(err, "API key")
	}
	ev := c.audit.event(a.Caller, a.Session.Account, "apikey.read")
	ev.Actor, ev.Subject, ev.KeyID = a.Session.RoleID(), owner.RoleID(), ans.ID
	ev.Detail = "idempotent repeat of apikey.create"
	if ak := actingKey(a); ak != "" {
		ev.Detail = joinDetail(ev.Detail, ak)
	}
	_, secret, ok := crypto.ParseAPIKey(ans.Key)
	switch {
	case err != nil || k.RevokedAt != nil || !ok || subtle.ConstantTimeCompare(c.sealer.KeyHash(secret), k.Hash) != 1:
		c.audit.recordFailure(ctx, fail(ev, ReasonRevoked))
		return model.APIKey{}, "", true, &Error{Kind: Conflict, Reason: ReasonIdempotencyConflict,
			Msg: "the key this Idempotency-Key created has been revoked or rotated since; send a new Idempotency-Key"}
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		c.audit.recordFailure(ctx, fail(ev, ReasonExpired))
		return model.APIKey{}, "", true, &Error{Kind: Conflict, Reason: ReasonIdempotencyConflict,
			Msg: "the key this Idempotency-Key created has expired; send a new Idempotency-Key"}
	}
	if err := c.audit.record(ctx, ev); err != nil {
		return model.APIKey{}, "", true, err
	}
	k.Sealed, k.Hash, k.PrevHash = nil, nil, nil
	return k, ans.Key, true, nil
}

func (c *keyService) idempotencyRecord(a *Access, in Idempotency, ownerID string, now time.Time, ans idemAnswer) (model.IdempotencyRecord, error) {
	return newIdemRecord(c.sealer, a, in, ownerID, now, ans)
}

// ArgusKey renders a key made by CreateAPIKey as Argus shows it:
// <userID>/<keyID>/<secret>, the owner's principal id, the key's id and
// its secret (which holds neither '/' nor whitespace).
func ArgusKey(k model.APIKey, key string) string {
	id, secret, ok := crypto.ParseAPIKey(key)
	if !ok {
		return ""
	}
	return k.PrincipalID + "/" + id + "/" + secret
}

// ArgusKeyCredential is the API key an Argus-API-Key value names, owned by
// userID: the core key of that id and secret.
func ArgusKeyCredential(account, userID, keyID, secret string) Credential {
	key := ""
	if keyID != "" && secret != "" {
		key = crypto.FormatAPIKey(keyID, secret)
	}
	return Credential{Kind: CredAPIKey, Account: account, Owner: userID, Secret: key}
}

// RevokeUserKey revokes principal ownerID's key keyID (Argus's delete by
// prefix) and returns it as it was: another's key needs what RevokeAPIKey
// needs, and a key that is not ownerID's live, deletable key is NotFound.
func (c *keyService) RevokeUserKey(ctx context.Context, a *Access, ownerID, keyID string) (model.APIKey, error) {
	if ownerID != a.Session.PrincipalID {
		if err := c.access.Require(ctx, a, PermAPIKeysManage); err != nil {
			return model.APIKey{}, err
		}
	}
	owner, err := c.access.principalIn(ctx, a, ownerID)
	if err != nil {
		return model.APIKey{}, err
	}
	if err := c.access.mayMint(ctx, a, owner); err != nil {
		return model.APIKey{}, err
	}
	k, err := c.st.GetAPIKey(ctx, keyID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return model.APIKey{}, wrapStore(err, "API key")
	}
	if err != nil || k.Account != a.Session.Account || k.PrincipalID != ownerID || k.RevokedAt != nil || k.Conjur {
		return model.APIKey{}, &Error{Kind: NotFound, Msg: "API key " + ownerID + "/" + keyID + " not found"}
	}
	if err := c.RevokeAPIKey(ctx, a, keyID); err != nil {
		return model.APIKey{}, err
	}
	k.Sealed, k.Hash, k.PrevHash = nil, nil, nil
	return k, nil
}

// RoleNames names the roles of ids in the access's account, in order; a
// role deleted since is left out.
func (c *keyService) RoleNames(ctx context.Context, a *Access, ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if r, err := c.keys.role(ctx, a.Session.Account, id); err == nil {
			out = append(out, r.Name)
		}
	}
	return out
}
