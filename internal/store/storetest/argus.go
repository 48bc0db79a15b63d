package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/audit"
	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

func newSigKey(account, principalID, id string) model.SignatureKey {
	return model.SignatureKey{ID: id, Account: account, PrincipalID: principalID, Algorithm: model.SigEd25519,
		PublicKey: []byte("der-" + id), Fingerprint: "SHA256:fp-" + id, Description: "key " + id, CreatedAt: at(time.Minute)}
}

func newRecord(account, scope, key string, now time.Time) model.IdempotencyRecord {
	return model.IdempotencyRecord{Account: account, Scope: scope, Key: key, RequestHash: []byte("hash-" + key),
		Answer: []byte("sealed-" + key), CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
}

func testSignatureKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAccount(t, s, "acme")
	mustPrincipal(t, s, newUser("acme", "p1", "alice"))
	k := newSigKey("acme", "p1", "sk1")
	n := auditCount(t, s)
	must(t, "create", s.CreateSignatureKey(ctx, k, nil, ev("acme", "signature_key.create")))
	if got := auditCount(t, s); got != n+1 || lastEvent(t, s) != "signature_key.create" {
		t.Fatalf("create recorded %d events", got-n)
	}
	got, err := s.GetSignatureKey(ctx, "sk1")
	must(t, "get", err)
	wantEqual(t, "get", got, k)
	// A fingerprint is enrolled once per principal; another principal, of
	// this account or another, may enrol the same public key (review r22b R5).
	dup := newSigKey("acme", "p1", "sk2")
	dup.Fingerprint = k.Fingerprint
	wantErr(t, "same fingerprint", s.CreateSignatureKey(ctx, dup, nil), store.ErrAlreadyExists)
	mustPrincipal(t, s, newUser("acme", "p2", "bob"))
	other := newSigKey("acme", "p2", "sk2b")
	other.Fingerprint = k.Fingerprint
	must(t, "same fingerprint, another principal", s.CreateSignatureKey(ctx, other, nil))
	mustAccount(t, s, "acme2")
	mustPrincipal(t, s, newUser("acme2", "p9", "alice"))
	far := newSigKey("acme2", "p9", "sk2c")
	far.Fingerprint = k.Fingerprint
	must(t, "same fingerprint, another account", s.CreateSignatureKey(ctx, far, nil))
	wantErr(t, "unknown principal", s.CreateSignatureKey(ctx, newSigKey("acme", "nobody", "sk3"), nil), store.ErrNotFound)
	must(t, "create second", s.CreateSignatureKey(ctx, newSigKey("acme", "p1", "sk4"), nil))
	list, err := s.ListSignatureKeys(ctx, "acme", "p1")
	must(t, "list", err)
	if len(list) != 2 || list[0].ID != "sk1" || list[1].ID != "sk4" {
		t.Fatalf("list = %+v", list)
	}
	must(t, "touch", s.TouchSignatureKey(ctx, "sk1", at(time.Hour)))
	must(t, "touch older", s.TouchSignatureKey(ctx, "sk1", at(time.Minute)))
	got, _ = s.GetSignatureKey(ctx, "sk1")
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(at(time.Hour)) {
		t.Fatalf("last used = %v, want the later use", got.LastUsedAt)
	}
	must(t, "delete", s.DeleteSignatureKey(ctx, "sk1", ev("acme", "signature_key.delete")))
	_, err = s.GetSignatureKey(ctx, "sk1")
	wantErr(t, "get deleted", err, store.ErrNotFound)
	wantErr(t, "delete again", s.DeleteSignatureKey(ctx, "sk1"), store.ErrNotFound)
	// The idempotency record goes with the key, or neither is written.
	rec := newRecord("acme", "p1 POST /sig", "idem-1", at(time.Hour))
	must(t, "create with record", s.CreateSignatureKey(ctx, newSigKey("acme", "p1", "sk5"), &rec))
	wantErr(t, "record reused", s.CreateSignatureKey(ctx, newSigKey("acme", "p1", "sk6"), &rec), store.ErrAlreadyExists)
	_, err = s.GetSignatureKey(ctx, "sk6")
	wantErr(t, "key of a refused record", err, store.ErrNotFound)
	// Deleting the principal deletes its keys.
	must(t, "delete principal", s.DeletePrincipal(ctx, "acme", "p1"))
	_, err = s.GetSignatureKey(ctx, "sk4")
	wantErr(t, "key of a deleted principal", err, store.ErrNotFound)
}

func testIdempotency(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAccount(t, s, "acme")
	mustPrincipal(t, s, newUser("acme", "p1", "alice"))
	now := at(time.Hour)
	rec := newRecord("acme", "p1 POST /k", "idem-1", now)
	k := newKey("acme", "p1", "k1")
	must(t, "create once", s.CreateAPIKeyOnce(ctx, k, rec, ev("acme", "apikey.create")))
	got, err := s.GetIdempotency(ctx, "acme", "p1 POST /k", "idem-1", now.Add(time.Minute))
	must(t, "get record", err)
	want := rec
	want.ExpiresAt = rec.ExpiresAt.Truncate(time.Millisecond) // kept as epoch ms
	wantEqual(t, "record", got, want)
	_, err = s.GetIdempotency(ctx, "acme", "p1 POST /other", "idem-1", now)
	wantErr(t, "other scope", err, store.ErrNotFound)
	n := auditCount(t, s)
	wantErr(t, "same record again", s.CreateAPIKeyOnce(ctx, newKey("acme", "p1", "k2"), rec, ev("acme", "apikey.create")), store.ErrAlreadyExists)
	_, err = s.GetAPIKey(ctx, "k2")
	wantErr(t, "key of a refused record", err, store.ErrNotFound)
	if auditCount(t, s) != n {
		t.Fatal("a refused create left an audit record")
	}
	// Expired after 24 h: gone for reads, and the key may be used again.
	later := now.Add(24*time.Hour + time.Second)
	_, err = s.GetIdempotency(ctx, "acme", "p1 POST /k", "idem-1", later)
	wantErr(t, "expired record", err, store.ErrNotFound)
	again := newRecord("acme", "p1 POST /k", "idem-1", later)
	again.RequestHash = []byte("other")
	must(t, "reuse an expired key", s.CreateAPIKeyOnce(ctx, newKey("acme", "p1", "k3"), again))
	got, err = s.GetIdempotency(ctx, "acme", "p1 POST /k", "idem-1", later)
	must(t, "get replaced", err)
	wantEqual(t, "replaced record", got.RequestHash, []byte("other"))
}

func testConcurrentIdempotency(t *testing.T, s store.Store) {
	mustAccount(t, s, "acme")
	mustPrincipal(t, s, newUser("acme", "p1", "alice"))
	rec := newRecord("acme", "p1 POST /k", "idem-race", at(time.Hour))
	var wins atomic.Int64
	race(t, func(i int) error {
		err := s.CreateAPIKeyOnce(context.Background(), newKey("acme", "p1", "k"+name(i)), rec)
		if err == nil {
			wins.Add(1)
			return nil
		}
		if errors.Is(err, store.ErrAlreadyExists) {
			return nil
		}
		return err
	})
	if w := wins.Load(); w != 1 {
		t.Fatalf("%d of %d racers created a key under one idempotency key, want exactly 1", w, racers)
	}
	ks, err := s.ListAPIKeys(context.Background(), "acme", "p1")
	must(t, "list", err)
	if len(ks) != 1 {
		t.Fatalf("%d keys stored, want 1", len(ks))
	}
}

func testSignatureNonces(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := at(0)
	until := now.Add(5 * time.Minute)
	ok, err := s.UseSignatureNonce(ctx, "u/k1", "nonce-aaaaaaaaaaaa", until, now)
	must(t, "first", err)
	if !ok {
		t.Fatal("first use lost")
	}
	if ok, _ := s.UseSignatureNonce(ctx, "u/k1", "nonce-aaaaaaaaaaaa", until, now.Add(time.Minute)); ok {
		t.Fatal("second use of a live nonce won")
	}
	if ok, _ := s.UseSignatureNonce(ctx, "u/k2", "nonce-aaaaaaaaaaaa", until, now); !ok {
		t.Fatal("the same nonce of another key lost")
	}
	if ok, _ := s.UseSignatureNonce(ctx, "u/k1", "nonce-bbbbbbbbbbbb", until, now); !ok {
		t.Fatal("another nonce lost")
	}
	// The boundary, the same in every store: live while now < until, free
	// at now == until (the core keeps nonces one millisecond past the
	// window, review r22b R1).
	if ok, _ := s.UseSignatureNonce(ctx, "u/k1", "nonce-aaaaaaaaaaaa", until.Add(10*time.Minute), until.Add(-time.Millisecond)); ok {
		t.Fatal("a nonce was free one millisecond before its expiry")
	}
	if ok, _ := s.UseSignatureNonce(ctx, "u/k3", "nonce-cccccccccccc", until, now); !ok {
		t.Fatal("a fresh nonce lost")
	}
	if ok, _ := s.UseSignatureNonce(ctx, "u/k3", "nonce-cccccccccccc", until.Add(10*time.Minute), until); !ok {
		t.Fatal("a nonce stayed used at exactly its expiry")
	}
	// Past its expiry the pair is free again (its ts window has passed).
	if ok, _ := s.UseSignatureNonce(ctx, "u/k1", "nonce-aaaaaaaaaaaa", until.Add(10*time.Minute), until.Add(time.Millisecond)); !ok {
		t.Fatal("an expired nonce stayed used")
	}
}

// nonceRacers use one nonce at once: exactly one may win.
const nonceRacers = 100

func testConcurrentSignatureNonce(t *testing.T, s store.Store) {
	var wins atomic.Int64
	now := time.Now()
	raceN(t, nonceRacers, func(int) error {
		ok, err := s.UseSignatureNonce(context.Background(), "u/k1", "nonce-race-000000", now.Add(5*time.Minute), now)
		if ok {
			wins.Add(1)
		}
		return err
	})
	if w := wins.Load(); w != 1 {
		t.Fatalf("%d of %d racers won one nonce, want exactly 1", w, nonceRacers)
	}
}

func testSignatureSessions(t *testing.T, s store.Store) {
	ctx := context.Background()
	const skew, idle = 30 * time.Second, 300 * time.Second
	now := at(0)
	ts := now.UnixMilli()
	a := store.SignatureSession{Account: "acme", PrincipalID: "p1", KeyID: "u/k1"}
	b := store.SignatureSession{Account: "acme", PrincipalID: "p1", KeyID: "u/k2"}
	c := store.SignatureSession{Account: "acme", PrincipalID: "p2", KeyID: "u/k3"}
	raise := func(ss store.SignatureSession, ts int64, now time.Time) bool {
		t.Helper()
		ok, err := s.RaiseSignatureSession(ctx, ss, ts, skew, idle, now)
		must(t, "raise", err)
		return ok
	}
	if !raise(a, ts, now) {
		t.Fatal("a new session refused its first ts")
	}
	if !raise(a, ts-30_000, now) {
		t.Fatal("30 s back refused")
	}
	if raise(a, ts-30_001, now) {
		t.Fatal("more than 30 s back accepted")
	}
	if !raise(a, ts+60_000, now) || raise(a, ts, now) {
		t.Fatal("the highest ts was not raised")
	}
	if !raise(b, ts-120_000, now) {
		t.Fatal("another key's session is not separate")
	}
	// A session idle for 300 s is forgotten.
	if raise(a, ts-120_000, now.Add(idle-time.Millisecond)) {
		t.Fatal("a live session forgot its highest ts")
	}
	if !raise(a, ts-120_000, now.Add(2*idle)) {
		t.Fatal("an idle session was not forgotten")
	}
	if !raise(c, ts+100_000, now.Add(2*idle)) {
		t.Fatal("c")
	}
	var said int
	n, err := s.ForgetSignatureSessions(ctx, "acme", "p1", func(n int) audit.Event {
		said = n
		return audit.Event{Account: "acme", Event: "signature.session.evict", Outcome: audit.Success, Detail: fmt.Sprintf("%d sessions", n)}
	})
	must(t, "forget", err)
	if n < 1 || said != n {
		t.Fatalf("forgot %d sessions, recorded %d", n, said)
	}
	if recs, _, err := s.ListAudit(ctx, "acme", 1, 0); err != nil || len(recs) != 1 || recs[0].Event.Event != "signature.session.evict" || recs[0].Detail != fmt.Sprintf("%d sessions", n) {
		t.Fatalf("the forgetting is not the newest record: %+v %v", recs, err)
	}
	if !raise(a, ts-200_000, now.Add(2*idle)) {
		t.Fatal("a forgotten session remembered")
	}
	if raise(c, ts, now.Add(2*idle)) {
		t.Fatal("forgetting p1's sessions forgot p2's")
	}
}

func testConcurrentSignatureSession(t *testing.T, s store.Store) {
	ss := store.SignatureSession{Account: "acme", PrincipalID: "p1", KeyID: "u/race"}
	now := at(0)
	base := now.UnixMilli()
	// Racers raise to base+i*1000; whatever the order, the session ends at
	// the highest, and a ts 31 s below it is refused afterwards.
	race(t, func(i int) error {
		_, err := s.RaiseSignatureSession(context.Background(), ss, base+int64(i)*100, 30*time.Second, 300*time.Second, now)
		return err
	})
	top := base + int64(racers-1)*100
	ok, err := s.RaiseSignatureSession(context.Background(), ss, top-30_001, 30*time.Second, 300*time.Second, now)
	must(t, "raise after race", err)
	if ok {
		t.Fatal("the race lost the highest ts")
	}
}
