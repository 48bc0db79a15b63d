package argus_test

import (
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/api/argus"
)

func TestParseAPIKeyHeader(t *testing.T) {
	for v, want := range map[string]bool{
		"u/k/s": true, " u/k/s\t": true, "u/k/": false, "/k/s": false, "u//s": false, "u/k/s/x": false,
		"u/k/s x": false, "u/k/s\x00": false, "": false, "uks": false, "u/k": false,
	} {
		if _, _, _, ok := argus.ParseAPIKeyHeader(v); ok != want {
			t.Errorf("%q: ok %v, want %v", v, ok, want)
		}
	}
}

// FuzzArgusAPIKeyHeader: the Argus-API-Key parser never panics, and what it
// accepts is three non-empty parts without '/', whitespace or controls
// that join back to the trimmed value.
func FuzzArgusAPIKeyHeader(f *testing.F) {
	for _, s := range []string{"u7x2kq/abcdefghijklmnop/0123456789ABCDEFabcdef", "a/b/c", "a//c", "/", "a/b/c/d", " a/b/c ", "\x00/\x01/\x02"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		u, k, s, ok := argus.ParseAPIKeyHeader(v)
		if !ok {
			return
		}
		for _, p := range []string{u, k, s} {
			if p == "" || strings.ContainsAny(p, "/ \t\r\n\x00") {
				t.Fatalf("%q: accepted part %q", v, p)
			}
		}
		if u+"/"+k+"/"+s != strings.Trim(v, " \t") {
			t.Fatalf("%q: parts do not join back", v)
		}
	})
}
