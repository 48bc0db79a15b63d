package privx

import (
	"strings"
	"testing"
)

// TestDocsNameEveryRoute: every route has its documentation entry and
// every entry names a route (a typo in docs would leave a route
// undocumented and the entry dead).
func TestDocsNameEveryRoute(t *testing.T) {
	s := New(nil, nil, "acme")
	seen := map[string]bool{}
	for _, rt := range s.Routes() {
		key := rt.Method + " " + strings.TrimPrefix(rt.Pattern, prefix)
		seen[key] = true
		if _, ok := docs[key]; !ok {
			t.Errorf("%s has no documentation entry", key)
		}
		if rt.Response == nil {
			t.Errorf("%s documents no response", key)
		}
	}
	for key := range docs {
		if !seen[key] {
			t.Errorf("docs has %s, which is no route", key)
		}
	}
}
