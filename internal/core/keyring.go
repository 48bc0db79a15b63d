package core

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/netpolicy"
	"github.com/keyward/keyward/internal/store"
)

// keyEntry is what the hot path needs of an API key, parsed once and kept
// compact: with a million keys in memory every field counts (the sealed
// secret, description and times other than expiry stay in the store).
type keyEntry struct {
	id          string
	account     string // interned: shared by every key of the account
	principalID string // interned: shared by every key of the principal
	hash        [32]byte
	prevHash    [32]byte
	hasPrev     bool
	revoked     bool
	conjur      bool  // the principal's Conjur API key
	prevUntil   int64 // unix nanoseconds; 0 none
	expires     int64 // unix nanoseconds; 0 never
	sources     []netip.Prefix
	roles       []string
	customers   []string // the key acts only on principals of these customers (and its owner)
}

// sourceStrings renders the key's source restriction, or nil.
func (e *keyEntry) sourceStrings() []string {
	if len(e.sources) == 0 {
		return nil
	}
	out := make([]string, len(e.sources))
	for i, p := range e.sources {
		out[i] = p.String()
	}
	return out
}

// expiresAt returns the key's expiry as a time, or nil.
func (e *keyEntry) expiresAt() *time.Time {
	if e.expires == 0 {
		return nil
	}
	t := time.Unix(0, e.expires).UTC()
	return &t
}

// summary is the part of the key a caller of checkKey may see.
func (e *keyEntry) summary() model.APIKey {
	return model.APIKey{ID: e.id, Account: e.account, PrincipalID: e.principalID, Roles: e.roles, ExpiresAt: e.expiresAt(),
		Conjur: e.conjur, ValidSources: e.sourceStrings(), Customers: e.customers}
}

// keyTable holds every API key for lookup by id. Its map has neither keys
// nor values with pointers (ids are 16 bytes, names and the rare sources and
// roles are indices into small side tables), so the garbage collector never
// scans it: a million keys cost each collection nothing and take ~150 bytes
// each. Guarded by keyring.mu.
type keyTable struct {
	keys    map[keyID]keySlot
	odd     map[string]keySlot // ids of another length (never made by keyward)
	names   []string           // accounts and principal ids, each once
	nameIdx map[string]uint32
	extras  []keyExtra
	free    []uint32 // indices of extras no key uses
}

// keyID is an API key id as a map key.
type keyID [16]byte

type keySlot struct {
	hash, prevHash     [32]byte
	prevUntil, expires int64
	account, principal uint32 // indices into names
	extra              uint32 // 1 + index into extras; 0 none
	hasPrev, revoked   bool
	conjur             bool
}

type keyExtra struct {
	sources   []netip.Prefix
	roles     []string
	customers []string
}

func newKeyTable() *keyTable {
	return &keyTable{keys: map[keyID]keySlot{}, odd: map[string]keySlot{}, nameIdx: map[string]uint32{}}
}

func (t *keyTable) name(s string) uint32 {
	if i, ok := t.nameIdx[s]; ok {
		return i
	}
	t.names = append(t.names, s)
	i := uint32(len(t.names) - 1)
	t.nameIdx[s] = i
	return i
}

// put stores k, replacing the key of the same id.
func (t *keyTable) put(k model.APIKey) {
	t.delete(k.ID)
	e := keySlot{account: t.name(k.Account), principal: t.name(k.PrincipalID), revoked: k.RevokedAt != nil, conjur: k.Conjur}
	copy(e.hash[:], k.Hash)
	if len(k.PrevHash) == len(e.prevHash) && k.PrevUntil != nil {
		copy(e.prevHash[:], k.PrevHash)
		e.hasPrev, e.prevUntil = true, k.PrevUntil.UnixNano()
	}
	if k.ExpiresAt != nil {
		e.expires = k.ExpiresAt.UnixNano()
	}
	if len(k.ValidSources) > 0 || len(k.Roles) > 0 || len(k.Customers) > 0 {
		var x keyExtra
		if len(k.Customers) > 0 {
			x.customers = k.Customers
		}
		if len(k.ValidSources) > 0 {
			x.sources, _ = netpolicy.ParseCIDRs(k.ValidSources) // validated when written
		}
		if len(k.Roles) > 0 {
			x.roles = k.Roles
		}
		if n := len(t.free); n > 0 {
			e.extra = t.free[n-1] + 1
			t.free = t.free[:n-1]
			t.extras[e.extra-1] = x
		} else {
			t.extras = append(t.extras, x)
			e.extra = uint32(len(t.extras))
		}
	}
	if len(k.ID) == len(keyID{}) {
		t.keys[keyID([]byte(k.ID))] = e
	} else {
		t.odd[k.ID] = e
	}
}

func (t *keyTable) slot(id string) (keySlot, bool) {
	if len(id) == len(keyID{}) {
		e, ok := t.keys[keyID([]byte(id))]
		return e, ok
	}
	e, ok := t.odd[id]
	return e, ok
}

func (t *keyTable) delete(id string) {
	e, ok := t.slot(id)
	if !ok {
		return
	}
	if e.extra != 0 {
		t.extras[e.extra-1] = keyExtra{}
		t.free = append(t.free, e.extra-1)
	}
	if len(id) == len(keyID{}) {
		delete(t.keys, keyID([]byte(id)))
	} else {
		delete(t.odd, id)
	}
}

// deletePrincipal drops every key of the account's principal, and no
// other account's key (review r25b R1: a change notification naming
// another account must not reach this one's keys).
func (t *keyTable) deletePrincipal(account, principalID string) {
	pi, ok := t.nameIdx[principalID]
	if !ok {
		return
	}
	ai, ok := t.nameIdx[account]
	if !ok {
		return
	}
	for id, e := range t.keys {
		if e.principal == pi && e.account == ai {
			t.delete(string(id[:]))
		}
	}
	for id, e := range t.odd {
		if e.principal == pi && e.account == ai {
			t.delete(id)
		}
	}
}

// entry returns the key as its readers see it; it shares the table's
// strings and slices and allocates nothing.
func (t *keyTable) entry(id string) (keyEntry, bool) {
	e, ok := t.slot(id)
	if !ok {
		return keyEntry{}, false
	}
	out := keyEntry{id: id, account: t.names[e.account], principalID: t.names[e.principal], hash: e.hash,
		prevHash: e.prevHash, hasPrev: e.hasPrev, revoked: e.revoked, conjur: e.conjur, prevUntil: e.prevUntil, expires: e.expires}
	if e.extra != 0 {
		x := t.extras[e.extra-1]
		out.sources, out.roles, out.customers = x.sources, x.roles, x.customers
	}
	return out, true
}

// principalEntry is a cached principal with its parsed restriction.
type principalEntry struct {
	p          model.Principal
	restricted []netip.Prefix
}

// keyring keeps API keys and the principals and grants they need in memory,
// so verifying a key or a token reads no store. Writes go to the store first;
// the ring is refreshed from the store after commit, under refreshMu, so two
// racing writers leave the ring at the store's final state.
type keyring struct {
	st        store.Store
	mu        sync.RWMutex
	keys      *keyTable                  // guarded by mu
	gen       uint64                     // bumped by every invalidation, guarded by mu
	princ     map[objKey]*principalEntry // by cacheKey(account, principal id)
	grants    map[objKey][]model.Grant   // by cacheKey(account, principal id)
	roles     map[objKey]model.Role      // by cacheKey(account, role id)
	refreshMu sync.Mutex
	fresh     freshness
	// Review r25b R2: a reload (load) reads every key, then swaps the
	// table in; a key refreshed after a write while it read must not
	// be put back as the reload's older snapshot had it. While a load
	// runs, refreshes note what they touched (guarded by mu); the load
	// re-reads those keys after its snapshot, under refreshMu, and
	// applies them before the swap.
	loading  int               // loads in flight
	touchSeq uint64            // counts touches
	touched  map[string]uint64 // key id -> touchSeq of its last refresh
	gone     map[objKey]uint64 // deleted principals -> touchSeq
}

func newKeyring(st store.Store) *keyring {
	return &keyring{st: st, keys: newKeyTable(), princ: map[objKey]*principalEntry{},
		grants: map[objKey][]model.Grant{}, roles: map[objKey]model.Role{}}
}

// load reads every key and swaps them in as the table. Keys refreshed
// (or principals deleted) by writes while it read are read again after
// its snapshot and applied before the swap, so a reload never undoes a
// local revocation that has answered (review r25b R2).
func (r *keyring) load(ctx context.Context) error {
	r.mu.Lock()
	r.loading++
	if r.touched == nil {
		r.touched, r.gone = map[string]uint64{}, map[objKey]uint64{}
	}
	start := r.touchSeq
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.loading--
		if r.loading == 0 {
			r.touched, r.gone = nil, nil
		}
		r.mu.Unlock()
	}()
	t := newKeyTable()
	err := r.st.EachAPIKey(ctx, func(k model.APIKey) error {
		t.put(k)
		return nil
	})
	if err != nil {
		return err
	}
	// Refreshes are serialized by refreshMu: holding it, every refresh
	// that touched a key since the load began has finished, and none
	// runs until the swap. Re-reading those keys now reads no older
	// state than either the snapshot or the refresh did.
	r.refreshMu.Lock()
	defer r.refreshMu.Unlock()
	r.mu.Lock()
	var ids []string
	for id, seq := range r.touched {
		if seq > start {
			ids = append(ids, id)
		}
	}
	var gone []objKey
	for p, seq := range r.gone {
		if seq > start {
			gone = append(gone, p)
		}
	}
	r.mu.Unlock()
	for _, p := range gone {
		t.deletePrincipal(p.account, p.id)
	}
	for _, id := range ids {
		k, err := r.st.GetAPIKey(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			t.delete(id)
		case err != nil:
			return err
		default:
			t.put(k)
		}
	}
	r.mu.Lock()
	r.keys = t
	r.mu.Unlock()
	return nil
}

// touchKey notes, for a load in flight, that key id was refreshed; the
// caller holds mu.
func (r *keyring) touchKey(id string) {
	if r.loading > 0 {
		r.touchSeq++
		r.touched[id] = r.touchSeq
	}
}

// touchPrincipal notes, for a load in flight, that the account's principal
// id was deleted with its keys; the caller holds mu.
func (r *keyring) touchPrincipal(account, id string) {
	if r.loading > 0 {
		r.touchSeq++
		r.gone[cacheKey(account, id)] = r.touchSeq
	}
}

func (r *keyring) key(id string) (keyEntry, bool) {
	r.mu.RLock()
	e, ok := r.keys.entry(id)
	r.mu.RUnlock()
	return e, ok
}

// refreshKey re-reads one key from the store after a write.
func (r *keyring) refreshKey(ctx context.Context, id string) {
	r.refreshMu.Lock()
	defer r.refreshMu.Unlock()
	k, err := r.st.GetAPIKey(ctx, id)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.touchKey(id)
	if err != nil {
		// An unreachable store is logged once per outage (changeHandler),
		// not once per call.
		if !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrUnavailable) {
			slog.Default().Warn("refresh key failed; dropping it from the cache", "key_id", id, "err", err)
		}
		r.keys.delete(id)
		return
	}
	r.keys.put(k)
}

// refreshKeyStrict re-reads one key after another instance's change; a
// store error drops the key and is returned (the feed then reloads).
func (r *keyring) refreshKeyStrict(ctx context.Context, id string) error {
	r.refreshMu.Lock()
	defer r.refreshMu.Unlock()
	k, err := r.st.GetAPIKey(ctx, id)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.touchKey(id)
	if err != nil {
		r.keys.delete(id)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	}
	r.keys.put(k)
	return nil
}

// refreshKeysStrict re-reads many keys after other instances' changes, in
// one store round trip per chunk (a burst of writes, or a NOTIFY flood
// naming keys that do not exist): those found are put, the rest dropped.
// A store error drops them all and is returned (the feed then reconnects
// and reloads).
func (r *keyring) refreshKeysStrict(ctx context.Context, ids []string) error {
	r.refreshMu.Lock()
	defer r.refreshMu.Unlock()
	ks, err := r.st.GetAPIKeys(ctx, ids)
	r.mu.Lock()
	defer r.mu.Unlock()
	found := make(map[string]bool, len(ks))
	if err == nil {
		for _, k := range ks {
			found[k.ID] = true
			r.touchKey(k.ID)
			r.keys.put(k)
		}
	}
	for _, id := range ids {
		if !found[id] {
			r.touchKey(id)
			r.keys.delete(id)
		}
	}
	return err
}

// forgetAll drops every cached principal, grant and role (a reload).
func (r *keyring) forgetAll() {
	r.mu.Lock()
	r.princ = map[objKey]*principalEntry{}
	r.roles = map[objKey]model.Role{}
	r.grants = map[objKey][]model.Grant{}
	r.gen++
	r.mu.Unlock()
}

// objKey names an object of an account in the caches (a struct, so a
// lookup builds no string): ids are unique,
// but a request of one account naming another's id must neither read nor
// overwrite what the other account cached.
type objKey struct{ account, id string }

func cacheKey(account, id string) objKey { return objKey{account, id} }

// principal returns a principal, from memory or the store.
func (r *keyring) principal(ctx context.Context, account, id string) (*principalEntry, error) {
	ck := cacheKey(account, id)
	r.mu.RLock()
	e, ok := r.princ[ck]
	gen := r.gen
	r.mu.RUnlock()
	if ok {
		return e, nil
	}
	p, err := r.st.GetPrincipal(ctx, account, id)
	if err != nil {
		return nil, err
	}
	if p.Account != account {
		return nil, store.ErrNotFound
	}
	e = &principalEntry{p: p}
	e.restricted, _ = netpolicy.ParseCIDRs(p.RestrictedTo)
	r.mu.Lock()
	if r.gen == gen { // else it changed while we read it: serve this once, cache nothing
		r.princ[ck] = e
	}
	r.mu.Unlock()
	return e, nil
}

// forgetPrincipal drops a principal (and, on delete, its keys) after a write.
func (r *keyring) forgetPrincipal(account, id string, deleted bool) {
	r.refreshMu.Lock()
	defer r.refreshMu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.princ, cacheKey(account, id))
	delete(r.grants, cacheKey(account, id))
	r.gen++
	if deleted {
		r.keys.deletePrincipal(account, id)
		r.touchPrincipal(account, id)
	}
}

// loadThrough reads id from the cache m, or loads it and remembers it,
// unless the cache was invalidated while it loaded (the value may be stale).
func loadThrough[V any](r *keyring, m func() map[objKey]V, id objKey, load func() (V, error)) (V, error) {
	r.mu.RLock()
	v, ok := m()[id]
	gen := r.gen
	r.mu.RUnlock()
	if ok {
		return v, nil
	}
	v, err := load()
	if err != nil {
		return v, err
	}
	r.mu.Lock()
	if r.gen == gen {
		m()[id] = v
	}
	r.mu.Unlock()
	return v, nil
}

// grantsOf returns the principal's grants, from memory or the store.
func (r *keyring) grantsOf(ctx context.Context, account, principalID string) ([]model.Grant, error) {
	return loadThrough(r, func() map[objKey][]model.Grant { return r.grants }, cacheKey(account, principalID),
		func() ([]model.Grant, error) { return r.st.ListGrants(ctx, account, principalID) })
}

// role returns a role, from memory or the store.
func (r *keyring) role(ctx context.Context, account, id string) (model.Role, error) {
	return loadThrough(r, func() map[objKey]model.Role { return r.roles }, cacheKey(account, id),
		func() (model.Role, error) { return r.st.GetRole(ctx, account, id) })
}

// forgetRoles drops cached roles and grants after a role or grant write.
func (r *keyring) forgetRoles() {
	r.mu.Lock()
	r.roles = map[objKey]model.Role{}
	r.grants = map[objKey][]model.Grant{}
	r.gen++
	r.mu.Unlock()
}

// toucher records API-key last use in batches; it is bookkeeping beside the
// audit record, so losing the last second of it on a crash loses nothing.
type toucher struct {
	st  store.Store
	log *slog.Logger
	mu  sync.Mutex
	buf map[string]store.KeyUse
}

func newToucher(st store.Store, log *slog.Logger) *toucher {
	return &toucher{st: st, log: log, buf: map[string]store.KeyUse{}}
}

func (t *toucher) touch(id string, at time.Time, addr string) {
	t.mu.Lock()
	t.buf[id] = store.KeyUse{ID: id, At: at, Addr: addr}
	t.mu.Unlock()
}

func (t *toucher) flush() {
	t.mu.Lock()
	if len(t.buf) == 0 {
		t.mu.Unlock()
		return
	}
	uses := make([]store.KeyUse, 0, len(t.buf))
	for _, u := range t.buf {
		uses = append(uses, u)
	}
	t.buf = map[string]store.KeyUse{}
	t.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := t.st.TouchAPIKeys(ctx, uses); err != nil {
		t.log.Log(ctx, min(outageLevel(err), slog.LevelWarn), "recording API key use failed", "keys", len(uses), "err", err)
	}
}

func (t *toucher) run(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			t.flush()
		case <-ctx.Done():
			t.flush()
			return
		}
	}
}
