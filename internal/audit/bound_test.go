package audit

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// A name field over MaxName is cut on a character boundary to at most
// MaxName bytes, says its length and hash, and is not cut again; shorter
// fields and the other fields are left alone (review r25c F4).
func TestBoundNames(t *testing.T) {
	long := strings.Repeat("é", 3000) // 6,000 bytes, two to a character
	e := BoundNames(Event{Account: "acme", Actor: "acme:user:" + long, Subject: strings.Repeat("x", MaxName), Detail: long, KeyID: long})
	if len(e.Actor) > MaxName || !utf8.ValidString(e.Actor) || !strings.HasPrefix(e.Actor, "acme:user:éé") ||
		!strings.Contains(e.Actor, "[6010 bytes, sha256 ") {
		t.Fatalf("bounded actor %q (%d bytes)", e.Actor, len(e.Actor))
	}
	if e.Account != "acme" || len(e.Subject) != MaxName || e.Detail != long || e.KeyID != long {
		t.Fatalf("fields within the bound, or not names, changed: %+v", e)
	}
	if again := BoundNames(e); again != e {
		t.Fatalf("bounding twice changed the record: %q", again.Actor)
	}
	other := BoundNames(Event{Actor: "acme:user:" + long + "!"})
	if other.Actor == e.Actor {
		t.Fatal("two different long names bound to the same text")
	}
	k := NewKey([]byte("0123456789abcdef0123456789abcdef"))
	r := k.Seal(1, GenesisHash, Event{Account: "acme", Event: "token", Actor: "acme:user:" + long})
	if r.Actor != e.Actor || !k.Valid(&r) {
		t.Fatalf("a sealed record keeps the bounded name and verifies: %q %v", r.Actor, k.Valid(&r))
	}
}
