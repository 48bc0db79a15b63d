package core

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/model"
	"github.com/keyward/keyward/internal/store"
)

// TestKeyTableHoldsNoPointers: the garbage collector skips maps whose keys
// and values hold no pointers; a million keys must not be scanned.
func TestKeyTableHoldsNoPointers(t *testing.T) {
	var hasPtr func(reflect.Type) bool
	hasPtr = func(ty reflect.Type) bool {
		switch ty.Kind() {
		case reflect.Pointer, reflect.String, reflect.Slice, reflect.Map, reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
			return true
		case reflect.Array:
			return hasPtr(ty.Elem())
		case reflect.Struct:
			for i := range ty.NumField() {
				if hasPtr(ty.Field(i).Type) {
					return true
				}
			}
		}
		return false
	}
	for _, ty := range []reflect.Type{reflect.TypeFor[keyID](), reflect.TypeFor[keySlot]()} {
		if hasPtr(ty) {
			t.Errorf("%v holds a pointer", ty)
		}
	}
}

func TestKeyTable(t *testing.T) {
	tb := newKeyTable()
	exp := time.Unix(2000000000, 0)
	until := time.Unix(1900000000, 0)
	a := model.APIKey{ID: "aaaaaaaaaaaaaaaa", Account: "acme", PrincipalID: "p1", Hash: make([]byte, 32), PrevHash: make([]byte, 32),
		PrevUntil: &until, ExpiresAt: &exp, ValidSources: []string{"10.0.0.0/8"}, Roles: []string{"r1"}, Conjur: true}
	a.Hash[0], a.PrevHash[0] = 1, 2
	b := model.APIKey{ID: "bbbbbbbbbbbbbbbb", Account: "acme", PrincipalID: "p2", Hash: make([]byte, 32)}
	odd := model.APIKey{ID: "short", Account: "other", PrincipalID: "p1", Hash: make([]byte, 32)}
	for _, k := range []model.APIKey{a, b, odd} {
		tb.put(k)
	}
	e, ok := tb.entry(a.ID)
	if !ok || e.id != a.ID || e.account != "acme" || e.principalID != "p1" || e.hash[0] != 1 || e.prevHash[0] != 2 || !e.hasPrev ||
		e.prevUntil != until.UnixNano() || e.expires != exp.UnixNano() || !e.conjur || e.revoked ||
		len(e.sources) != 1 || e.sources[0].String() != "10.0.0.0/8" || !slices.Equal(e.roles, []string{"r1"}) {
		t.Fatalf("entry a = %+v, %v", e, ok)
	}
	if e, ok := tb.entry("short"); !ok || e.account != "other" {
		t.Fatalf("an id of another length: %+v %v", e, ok)
	}
	if _, ok := tb.entry("cccccccccccccccc"); ok {
		t.Fatal("found a key never put")
	}
	// Replacing a key frees its extras for the next key that needs some.
	now := time.Now()
	a.RevokedAt, a.ValidSources, a.Roles = &now, nil, nil
	tb.put(a)
	if e, _ := tb.entry(a.ID); !e.revoked || e.sources != nil || e.roles != nil {
		t.Fatalf("replaced a = %+v", e)
	}
	c := model.APIKey{ID: "cccccccccccccccc", Account: "acme", PrincipalID: "p3", Hash: make([]byte, 32), Roles: []string{"r2"}}
	tb.put(c)
	if len(tb.extras) != 1 {
		t.Fatalf("extras = %d, want the freed one reused", len(tb.extras))
	}
	if e, _ := tb.entry(c.ID); !slices.Equal(e.roles, []string{"r2"}) {
		t.Fatalf("c = %+v", e)
	}
	// Deleting a principal drops every key it owns in its account, and no
	// key of the same principal id in another account (review r25b R1).
	tb.deletePrincipal("acme", "p1")
	for id, want := range map[string]bool{a.ID: false, "short": true, b.ID: true, c.ID: true} {
		if _, ok := tb.entry(id); ok != want {
			t.Errorf("after deleting acme's p1, %s present = %v", id, ok)
		}
	}
	// Of any id length.
	tb.deletePrincipal("other", "p1")
	if _, ok := tb.entry("short"); ok {
		t.Error("after deleting other's p1, its key short is still present")
	}
}

func TestNormalizePage(t *testing.T) {
	for _, c := range []struct{ in, want int }{{0, 100}, {5, 5}, {1000, 1000}, {5000, 1000}} {
		if p, err := normalizePage(store.Page{Limit: c.in}); err != nil || p.Limit != c.want {
			t.Errorf("limit %d → %d %v, want %d", c.in, p.Limit, err, c.want)
		}
	}
	for _, p := range []store.Page{{Limit: -1}, {Offset: -1}} {
		if _, err := normalizePage(p); AsError(err).Kind != Invalid {
			t.Errorf("%+v: %v, want Invalid", p, err)
		}
	}
}
