package core

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

// searchIndexTTL is how long an account's in-memory search index is used
// before it is read again from the store: another instance's writes show
// within it; this instance's own show at once.
const searchIndexTTL = time.Minute

// searchIndex keeps, per account, what a user search needs of every
// principal (login, source, creation time, search text), so a search by
// keyword is a scan of memory (a LIKE over 100,000 rows costs SQLite far
// more than the 50 ms a search may take). Loaded on first use, kept up to
// date by the principal writes of this instance, read again after
// searchIndexTTL.
type searchIndex struct {
	mu       sync.Mutex
	accounts map[string]*accountSearch
}

type accountSearch struct {
	loaded  time.Time
	entries map[string]store.SearchEntry
}

func newSearchIndex() *searchIndex { return &searchIndex{accounts: map[string]*accountSearch{}} }

// snapshot returns the account's entries, loading them when absent or stale.
func (x *searchIndex) snapshot(ctx context.Context, st store.Store, account string, now time.Time) ([]store.SearchEntry, error) {
	x.mu.Lock()
	as := x.accounts[account]
	if as != nil && now.Sub(as.loaded) < searchIndexTTL && !now.Before(as.loaded) {
		out := make([]store.SearchEntry, 0, len(as.entries))
		for _, e := range as.entries {
			out = append(out, e)
		}
		x.mu.Unlock()
		return out, nil
	}
	x.mu.Unlock()
	es, err := st.PrincipalSearchEntries(ctx, account)
	if err != nil {
		return nil, wrapStore(err, "users")
	}
	m := make(map[string]store.SearchEntry, len(es))
	for _, e := range es {
		m[e.ID] = e
	}
	x.mu.Lock()
	x.accounts[account] = &accountSearch{loaded: now, entries: m}
	x.mu.Unlock()
	return es, nil
}

// put records a principal written by this instance (if its account is loaded).
func (x *searchIndex) put(p model.Principal) {
	if x == nil {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if as := x.accounts[p.Account]; as != nil {
		as.entries[p.ID] = store.SearchEntry{ID: p.ID, Login: p.Login, Source: p.Source, Text: store.SearchText(p), Kind: p.Kind,
			CreatedAt: p.CreatedAt}
	}
}

// drop forgets a deleted principal.
func (x *searchIndex) drop(account, id string) {
	if x == nil {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if as := x.accounts[account]; as != nil {
		delete(as.entries, id)
	}
}

// searchUsers filters, orders and pages the account's users in memory and
// reads the page's principals from the store.
func (c *principalService) searchUsers(ctx context.Context, account string, q UserQuery, pg UserPage) ([]model.Principal, int, error) {
	idx := c.search
	if idx == nil {
		idx = newSearchIndex() // a service built without one (tests): no cache
	}
	es, err := idx.snapshot(ctx, c.st, account, c.now())
	if err != nil {
		return nil, 0, err
	}
	terms := strings.Fields(strings.ToLower(q.Keywords))
	var ids map[string]bool
	if q.IDs != nil {
		ids = make(map[string]bool, len(q.IDs))
		for _, id := range q.IDs {
			ids[id] = true
		}
	}
	match := es[:0]
	for _, e := range es {
		if e.Kind != model.KindUser || q.Source != "" && e.Source != q.Source || ids != nil && !ids[e.ID] {
			continue
		}
		ok := true
		for _, t := range terms {
			if !strings.Contains(e.Text, t) {
				ok = false
				break
			}
		}
		if ok {
			match = append(match, e)
		}
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
		match = match[min(pg.Offset, len(match)):min(pg.Offset+pg.Limit, len(match))]
	}
	if len(match) == 0 {
		return nil, total, nil
	}
	pageIDs := make([]string, len(match))
	for i, e := range match {
		pageIDs[i] = e.ID
	}
	ps, _, err := c.st.SearchPrincipals(ctx, account, store.PrincipalQuery{Kind: model.KindUser, IDs: pageIDs,
		ByCreated: pg.ByCreated, Desc: pg.Desc})
	return ps, total, wrapStore(err, "users")
}
