package core

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/crypto"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/pkg/argussig"
)

// Signed-request limits (ARGUS-SIG-V1).
const (
	// SignatureWindow is how far a request's ts may be from server time
	// (|now - ts| <= SignatureWindow is inside); a nonce is kept until
	// nonceUntil, strictly beyond the last millisecond its request is
	// inside the window.
	SignatureWindow = 300 * time.Second
	// SignatureSkew is how far below its key's session's highest accepted
	// ts a request's ts may be.
	SignatureSkew = 30 * time.Second
	// SignatureSessionIdle: a session is forgotten this long after its last
	// accepted request.
	SignatureSessionIdle = 300 * time.Second
)

// signatureService is signature keys (enrolled public keys) and the
// signed requests they prove: enrolment, listing, deletion, verification
// with replay and clock-skew protection in the store, and eviction of a
// user's signature sessions.
type signatureService struct {
	st     store.Store
	sealer *crypto.Sealer
	now    func() time.Time
	keys   *keyring
	audit  *auditor
	access *accessService

	touchMu sync.Mutex
	touched map[string]time.Time // last use written per key, so a busy key writes at most once a second
}

// SignatureKeyID is a signature key's keyId: <userID>/<id>.
func SignatureKeyID(k model.SignatureKey) string { return k.PrincipalID + "/" + k.ID }

// mayManageSignatures resolves the principal whose signature keys the
// access reads (change false) or changes: one's own need no permission;
// another's api-keys-manage, and a change also every permission the other
// could hold. Refusals are audited.
func (c *signatureService) mayManageSignatures(ctx context.Context, a *Access, principalID string, change bool) (model.Principal, error) {
	if principalID != a.Session.PrincipalID {
		if err := c.access.Require(ctx, a, PermAPIKeysManage); err != nil {
			return model.Principal{}, err
		}
	}
	owner, err := c.access.principalIn(ctx, a, principalID)
	if err != nil {
		return model.Principal{}, err
	}
	if change {
		return owner, c.access.mayMint(ctx, a, owner)
	}
	return owner, nil
}

// EnrolSignatureKey enrols a public key (PEM PKIX or one OpenSSH line:
// Ed25519, ECDSA P-256 or RSA 2048 to 8192 bits) for a principal.
func (c *signatureService) EnrolSignatureKey(ctx context.Context, a *Access, principalID, publicKey, description string, idem *Idempotency) (model.SignatureKey, error) {
	owner, err := c.mayManageSignatures(ctx, a, principalID, true)
	if err != nil {
		return model.SignatureKey{}, err
	}
	now := c.now().UTC()
	if idem != nil {
		ans, found, err := idemLookup(ctx, c.st, c.sealer, a, *idem, owner.ID, now)
		if err != nil {
			return model.SignatureKey{}, err
		}
		if found {
			k, err := c.st.GetSignatureKey(ctx, ans.ID)
			return k, wrapStore(err, "signature key")
		}
	}
	var bad fieldErrors
	pk, perr := argussig.ParsePublicKey(publicKey)
	if perr != nil {
		bad.add("publicKey", "", "%v", perr)
	}
	if len(description) > 1024 {
		bad.add("description", "", "description is at most 1024 characters")
	}
	if err := bad.err(); err != nil {
		return model.SignatureKey{}, err
	}
	id := crypto.NewKeyID()
	k := model.SignatureKey{ID: id, Account: a.Session.Account, PrincipalID: owner.ID, Algorithm: pk.Alg, PublicKey: pk.DER,
		Fingerprint: pk.Fingerprint, Description: description, CreatedAt: now}
	ev := c.audit.event(a.Caller, a.Session.Account, "signature_key.create")
	ev.Actor, ev.Subject, ev.KeyID, ev.Detail = a.Session.RoleID(), owner.RoleID(), id, joinDetail(pk.Alg+" "+pk.Fingerprint, actingKey(a))
	var rec *model.IdempotencyRecord
	if idem != nil {
		r, err := newIdemRecord(c.sealer, a, *idem, owner.ID, now, idemAnswer{ID: id})
		if err != nil {
			return model.SignatureKey{}, err
		}
		rec = &r
	}
	if err := c.st.CreateSignatureKey(ctx, k, rec, ev); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			if idem != nil {
				if ans, found, lerr := idemLookup(ctx, c.st, c.sealer, a, *idem, owner.ID, now); found || lerr != nil {
					if lerr != nil {
						return model.SignatureKey{}, lerr
					}
					k, err := c.st.GetSignatureKey(ctx, ans.ID)
					return k, wrapStore(err, "signature key")
				}
			}
			return model.SignatureKey{}, &Error{Kind: Invalid, Field: "publicKey", Msg: "this public key is already enrolled for this user", Err: err}
		}
		return model.SignatureKey{}, wrapStore(err, "signature key")
	}
	return k, nil
}

// ListSignatureKeys lists a principal's signature keys.
func (c *signatureService) ListSignatureKeys(ctx context.Context, a *Access, principalID string) ([]model.SignatureKey, error) {
	if _, err := c.mayManageSignatures(ctx, a, principalID, false); err != nil {
		return nil, err
	}
	ks, err := c.st.ListSignatureKeys(ctx, a.Session.Account, principalID)
	return ks, wrapStore(err, "signature keys")
}

// DeleteSignatureKey deletes a principal's signature key; it is refused at
// once afterwards. A key that is not the principal's is NotFound.
func (c *signatureService) DeleteSignatureKey(ctx context.Context, a *Access, principalID, id string) (model.SignatureKey, error) {
	owner, err := c.mayManageSignatures(ctx, a, principalID, true)
	if err != nil {
		return model.SignatureKey{}, err
	}
	k, err := c.st.GetSignatureKey(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return model.SignatureKey{}, wrapStore(err, "signature key")
	}
	if err != nil || k.Account != a.Session.Account || k.PrincipalID != owner.ID {
		return model.SignatureKey{}, &Error{Kind: NotFound, Msg: "signature key " + id + " not found"}
	}
	ev := c.audit.event(a.Caller, a.Session.Account, "signature_key.delete")
	ev.Actor, ev.Subject, ev.KeyID, ev.Detail = a.Session.RoleID(), owner.RoleID(), id, actingKey(a)
	if err := c.st.DeleteSignatureKey(ctx, id, ev); err != nil {
		return model.SignatureKey{}, wrapStore(err, "signature key "+id)
	}
	return k, nil
}

// EvictSignatureSessions forgets every signature session of the access's
// principal, so a client whose clock was set back is accepted again; the
// recorded nonces stay, so no replay reopens.
func (c *signatureService) EvictSignatureSessions(ctx context.Context, a *Access) error {
	ev := c.audit.event(a.Caller, a.Session.Account, "signature.session.evict")
	ev.Actor, ev.Subject, ev.KeyID = a.Session.RoleID(), a.Session.RoleID(), a.Session.KeyID
	// The record commits with the change (review r25c F1).
	_, err := c.st.ForgetSignatureSessions(ctx, a.Session.Account, a.Session.PrincipalID, func(n int) audit.Event {
		ev.Detail = strconv.Itoa(n) + " sessions"
		return ev
	})
	return wrapStore(err, "signature sessions")
}

// authenticate checks a signed request, in order: the header, the key
// (enrolled, not deleted, the named user's, of the route's account), the
// algorithm, the signature; the window; the nonce (recorded once, until
// ts plus the window); the key's session clock. Then the one admission
// check of the principal. Every attempt is audited (authenticator
// signature, key_id the signature key's id).
func (c *signatureService) authenticate(ctx context.Context, caller Caller, cred Credential) (Session, error) {
	ev := c.audit.event(caller, cred.Account, cred.Event)
	ev.Authenticator = "signature"
	ev.Actor = unknownActor(cred.Account)
	ev.Subject = ev.Actor
	refuse := func(reason Reason) (Session, error) {
		c.audit.recordFailure(ctx, fail(ev, reason))
		return Session{}, unauthenticated(reason)
	}
	h, err := argussig.ParseHeader(cred.Secret)
	if err != nil || cred.Signed == nil {
		return refuse(ReasonSignatureInvalid)
	}
	userID, id, _ := argussig.SplitKeyID(h.KeyID)
	k, err := c.st.GetSignatureKey(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Session{}, wrapStore(err, "signature key")
	}
	if err != nil || k.PrincipalID != userID || cred.Account != "" && k.Account != cred.Account {
		return refuse(ReasonSignatureInvalid)
	}
	ev.KeyID = k.ID
	ev.Account = k.Account
	pe, perr := c.keys.principal(ctx, k.Account, k.PrincipalID)
	if perr == nil {
		ev.Actor = pe.p.RoleID()
		ev.Subject = ev.Actor
	}
	if h.Alg != k.Algorithm {
		return refuse(ReasonSignatureInvalid)
	}
	pub, err := argussig.ParseDER(k.PublicKey)
	if err != nil {
		return refuse(ReasonSignatureInvalid)
	}
	r := cred.Signed
	msg := argussig.Canonical(argussig.Request{Method: r.Method, Path: r.Path, Query: r.Query, Body: r.Body}, h.KeyID, h.Alg, h.TS, h.Nonce)
	if !argussig.Verify(pub.Key, h.Alg, msg, h.Sig) {
		return refuse(ReasonSignatureInvalid)
	}
	now := c.now()
	nowMS := now.UnixMilli()
	if d := nowMS - h.TS; d > SignatureWindow.Milliseconds() || d < -SignatureWindow.Milliseconds() {
		return refuse(ReasonSignatureTimestamp)
	}
	won, err := c.st.UseSignatureNonce(ctx, h.KeyID, h.Nonce, nonceUntil(h.TS), now)
	switch {
	case errors.Is(err, store.ErrFull):
		c.audit.recordFailure(ctx, fail(ev, ReasonReplayFull))
		return Session{}, &Error{Kind: Unavailable, Reason: ReasonReplayFull, Msg: "the replay cache is full; try again shortly",
			RetryAfter: time.Second, Err: err}
	case err != nil:
		return Session{}, wrapStore(err, "signature nonce")
	case !won:
		return refuse(ReasonSignatureReplay)
	}
	ok, err := c.st.RaiseSignatureSession(ctx, store.SignatureSession{Account: k.Account, PrincipalID: k.PrincipalID, KeyID: h.KeyID},
		h.TS, SignatureSkew, SignatureSessionIdle, now)
	if err != nil {
		return Session{}, wrapStore(err, "signature session")
	}
	if !ok {
		return refuse(ReasonSignatureClockSkew)
	}
	if perr != nil {
		return refuse(ReasonPrincipalGone)
	}
	if reason := admit(pe, nil, caller, now); reason != ReasonNone {
		return refuse(reason)
	}
	if err := c.audit.record(ctx, ev); err != nil {
		return Session{}, err
	}
	c.touch(ctx, k.ID, now)
	p := pe.p
	return Session{Account: p.Account, PrincipalID: p.ID, Login: p.ConjurLogin(), Kind: string(p.Kind), Level: LevelStrong,
		Authenticator: "signature"}, nil
}

// nonceUntil is when a nonce used with ts may be freed. The window is
// inclusive (now - ts == SignatureWindow is accepted) and the stores free an
// entry once now >= until, so the nonce is kept one millisecond past the
// window's last millisecond: a nonce can be free again only when its
// request is already refused as outside the window (review r22b R1).
func nonceUntil(ts int64) time.Time {
	return time.UnixMilli(ts).Add(SignatureWindow + time.Millisecond)
}

// touch records a key's last use, at most once a second per key.
func (c *signatureService) touch(ctx context.Context, id string, now time.Time) {
	c.touchMu.Lock()
	last, seen := c.touched[id]
	if seen && now.Sub(last) < time.Second {
		c.touchMu.Unlock()
		return
	}
	if len(c.touched) > 100_000 {
		clear(c.touched)
	}
	c.touched[id] = now
	c.touchMu.Unlock()
	_ = c.st.TouchSignatureKey(ctx, id, now.UTC()) // bookkeeping: the use itself is audited
}
