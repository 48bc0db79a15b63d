package privx

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/core"
)

// List is PrivX's list: count is the total before paging.
type List[T any] struct {
	Count int `json:"count"`
	Items []T `json:"items"`
}

// paging is a paged list's query: offset, limit (absent or 0 → 50, at most
// 100), sort key and direction. filter and fuzzycount are accepted and
// ignored.
type paging struct {
	offset, limit int
	byCreated     bool
	desc          bool
}

func readPaging(r *http.Request) (paging, error) {
	q := r.URL.Query()
	pg := paging{limit: 50}
	for _, f := range []struct {
		name string
		dst  *int
	}{{"offset", &pg.offset}, {"limit", &pg.limit}} {
		v := q.Get(f.name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return pg, badRequest(f.name, f.name+" must be a non-negative integer")
		}
		*f.dst = n
	}
	switch {
	case pg.limit == 0:
		pg.limit = 50
	case pg.limit > 100:
		pg.limit = 100
	}
	return pg, nil
}

// sortKeys reads sortkey (created or the list's default) and sortdir.
func (pg *paging) sortKeys(r *http.Request, def string) error {
	q := r.URL.Query()
	switch k := q.Get("sortkey"); k {
	case "", def:
	case "created":
		pg.byCreated = true
	default:
		return badRequest("sortkey", "sortkey must be "+def+" or created")
	}
	switch d := strings.ToUpper(q.Get("sortdir")); d {
	case "", "ASC":
	case "DESC":
		pg.desc = true
	default:
		return badRequest("sortdir", "sortdir must be ASC or DESC")
	}
	return nil
}

// page sorts items (by name, case-insensitively, or creation time; ties by
// id) and returns the page asked for.
func page[T any](pg paging, items []T, name func(T) string, created func(T) time.Time, id func(T) string) []T {
	slices.SortFunc(items, func(a, b T) int {
		var c int
		if pg.byCreated {
			c = created(a).Compare(created(b))
		} else {
			c = strings.Compare(strings.ToLower(name(a)), strings.ToLower(name(b)))
		}
		if c == 0 {
			c = cmp.Compare(id(a), id(b))
		}
		if pg.desc {
			c = -c
		}
		return c
	})
	if pg.offset >= len(items) {
		return items[:0]
	}
	return items[pg.offset:min(len(items), pg.offset+pg.limit)]
}

// users is the page for the core's user lists.
func (pg paging) users() core.UserPage {
	return core.UserPage{ByCreated: pg.byCreated, Desc: pg.desc, Limit: pg.limit, Offset: pg.offset}
}
