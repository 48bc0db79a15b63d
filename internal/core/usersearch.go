package core

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

// searchIndexTTL is how long an account's in-memory search index is used
// before it is read again from the store. This instance's writes and, on
// PostgreSQL, every instance's (through the change notifications, see
// changeHandler) show at once; the reload is a backstop.
const searchIndexTTL = time.Minute

// searchIndex keeps, per account, what a user search needs of every
// principal (login, source, creation time, search text), so a search by
// keyword is a scan of memory (a LIKE over 100,000 rows costs SQLite far
// more than the 50 ms a search may take). Loaded on first use, kept up to
// date by the principal writes of this instance and the change
// notifications of the others, read again after searchIndexTTL.
type searchIndex struct {
	mu       sync.RWMutex
	accounts map[string]*accountSearch
	// gen counts the changes applied (put, drop, forgetAll): a load that
	// saw one land while it read the store may have missed it, so it is
	// used once and read again on the next search.
	gen uint64
}

type accountSearch struct {
	loaded  time.Time
	entries []store.SearchEntry
	pos     map[string]int // id → index in entries
}

func newSearchIndex() *searchIndex { return &searchIndex{accounts: map[string]*accountSearch{}} }

// scan calls keep on each of the account's entries (loading them when
// absent or stale) and returns those it keeps.
func (x *searchIndex) scan(ctx context.Context, st store.Store, account string, now time.Time, keep func(*store.SearchEntry) bool) ([]store.SearchEntry, error) {
	x.mu.RLock()
	as := x.accounts[account]
	fresh := as != nil && !as.loaded.IsZero() && now.Sub(as.loaded) < searchIndexTTL && !now.Before(as.loaded)
	if fresh {
		defer x.mu.RUnlock()
		return keepAll(as.entries, keep), nil
	}
	gen := x.gen
	x.mu.RUnlock()
	es, err := st.PrincipalSearchEntries(ctx, account)
	if err != nil {
		return nil, wrapStore(err, "users")
	}
	pos := make(map[string]int, len(es))
	for i, e := range es {
		pos[e.ID] = i
	}
	x.mu.Lock()
	loaded := now
	if x.gen != gen {
		loaded = time.Time{} // a change landed meanwhile: read again next time
	}
	x.accounts[account] = &accountSearch{loaded: loaded, entries: es, pos: pos}
	out := keepAll(es, keep)
	x.mu.Unlock()
	return out, nil
}

func keepAll(es []store.SearchEntry, keep func(*store.SearchEntry) bool) []store.SearchEntry {
	var out []store.SearchEntry
	for i := range es {
		if keep(&es[i]) {
			out = append(out, es[i])
		}
	}
	return out
}

// put records a principal written by this instance (if its account is loaded).
func (x *searchIndex) put(p model.Principal) {
	if x == nil {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.gen++
	as := x.accounts[p.Account]
	if as == nil {
		return
	}
	e := store.SearchEntry{ID: p.ID, Login: p.Login, Source: p.Source, Text: store.SearchText(p), Kind: p.Kind, CreatedAt: p.CreatedAt, Customer: p.Customer}
	if i, ok := as.pos[p.ID]; ok {
		as.entries[i] = e
		return
	}
	as.pos[p.ID] = len(as.entries)
	as.entries = append(as.entries, e)
}

// forgetAll drops every account's index (loaded again on the next search),
// as after a lost change notification.
func (x *searchIndex) forgetAll() {
	if x == nil {
		return
	}
	x.mu.Lock()
	x.gen++
	clear(x.accounts)
	x.mu.Unlock()
}

// drop forgets a deleted principal.
func (x *searchIndex) drop(account, id string) {
	if x == nil {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.gen++
	as := x.accounts[account]
	if as == nil {
		return
	}
	i, ok := as.pos[id]
	if !ok {
		return
	}
	last := len(as.entries) - 1
	as.entries[i] = as.entries[last]
	as.pos[as.entries[i].ID] = i
	as.entries = as.entries[:last]
	delete(as.pos, id)
}

// searchUsers filters, orders and pages the session's account's users in
// memory and reads the page's principals from the store. A session
// constrained to customers is shown only the users it sees (customerSees:
// those of its customers, and itself), so a listing never names a user
// whose every read it would be refused.
func (c *principalService) searchUsers(ctx context.Context, a *Access, q UserQuery, pg UserPage) ([]model.Principal, int, error) {
	account := a.Session.Account
	idx := c.search
	if idx == nil {
		idx = newSearchIndex() // a service built without one (tests): no cache
	}
	terms := strings.Fields(strings.ToLower(q.Keywords))
	var ids map[string]bool
	if q.IDs != nil {
		ids = make(map[string]bool, len(q.IDs))
		for _, id := range q.IDs {
			ids[id] = true
		}
	}
	match, err := idx.scan(ctx, c.st, account, c.now(), func(e *store.SearchEntry) bool {
		if e.Kind != model.KindUser || q.Source != "" && e.Source != q.Source || ids != nil && !ids[e.ID] {
			return false
		}
		if len(a.Session.Customers) > 0 && !customerSees(a, model.Principal{ID: e.ID, Account: account, Customer: e.Customer}) {
			return false
		}
		for _, t := range terms {
			if !strings.Contains(e.Text, t) {
				return false
			}
		}
		return true
	})
	if err != nil {
		return nil, 0, err
	}
	slices.SortFunc(match, func(a, b store.SearchEntry) int {
		var r int
		if pg.ByCreated {
			r = a.CreatedAt.Compare(b.CreatedAt)
		} else {
			r = strings.Compare(strings.ToLower(a.Login), strings.ToLower(b.Login))
		}
		if r == 0 {
			r = cmp.Compare(a.ID, b.ID)
		}
		if pg.Desc {
			r = -r
		}
		return r
	})
	total := len(match)
	if pg.Limit > 0 {
		// Offset+Limit may overflow (offset near MaxInt64: review r21 F6):
		// clamp the start first, then count the page from it.
		start := min(max(pg.Offset, 0), len(match))
		match = match[start : start+min(pg.Limit, len(match)-start)]
	}
	if len(match) == 0 {
		return nil, total, nil
	}
	// Each of the page's principals by its key, in the index's order; one
	// deleted meanwhile is left out.
	ps := make([]model.Principal, 0, len(match))
	for _, e := range match {
		p, err := c.st.GetPrincipal(ctx, account, e.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, 0, wrapStore(err, "user "+e.ID)
		}
		ps = append(ps, p)
	}
	return ps, total, nil
}
