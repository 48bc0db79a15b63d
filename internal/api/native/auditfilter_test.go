package native_test

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestAuditFilters: GET /api/v1/audit narrows by every filter, total counts
// the filtered records, and a malformed filter is a 400 naming it.
func TestAuditFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := e.do("GET", "/api/v1/audit?limit=1", e.admin, nil).want(200).items()[0]
	last, err := time.Parse(time.RFC3339Nano, first["time"].(string))
	if err != nil {
		t.Fatal(err)
	}
	before := last.Add(time.Microsecond)
	e.do("POST", "/api/v1/token", "", map[string]any{"login": "nosuchuser", "password": goodPassword}, "X-Forwarded-For", "198.51.100.9").errBody(401)
	e.do("POST", "/api/v1/token", "", map[string]any{"login": "nosuchuser", "password": goodPassword}).errBody(401)
	list := func(q url.Values) ([]map[string]any, int) {
		r := e.do("GET", "/api/v1/audit?"+q.Encode(), e.admin, nil).want(200)
		items := r.items()
		return items, int(r.obj()["total"].(float64))
	}
	items, total := list(url.Values{"event": {"token"}, "outcome": {"failure"}})
	if total != 2 || len(items) != 2 {
		t.Fatalf("token failures = %d (total %d)", len(items), total)
	}
	for _, it := range items {
		if it["event"] != "token" || it["outcome"] != "failure" {
			t.Fatalf("record outside the filter: %v", it)
		}
	}
	items, total = list(url.Values{"event": {"token"}, "client_ip": {"198.51.100.9"}})
	if total != 1 || items[0]["client_ip"] != "198.51.100.9" {
		t.Fatalf("by client_ip = %v (total %d)", items, total)
	}
	items, total = list(url.Values{"actor": {account + ":user:nosuchuser"}, "limit": {"1"}})
	if total != 2 || len(items) != 1 {
		t.Fatalf("by actor, limit 1 = %d (total %d)", len(items), total)
	}
	_, all := list(url.Values{})
	_, since := list(url.Values{"since": {before.Format(time.RFC3339Nano)}})
	if since >= all || since < 2 {
		t.Fatalf("since %s: %d of %d", before, since, all)
	}
	if _, n := list(url.Values{"until": {before.Format(time.RFC3339Nano)}}); n != all-since {
		t.Fatalf("until = %d, want %d", n, all-since)
	}
	if _, n := list(url.Values{"key_id": {"no-such-key"}}); n != 0 {
		t.Fatalf("unknown key_id matched %d", n)
	}
	for name, v := range map[string]string{"since": "yesterday", "until": "2026-13-01T00:00:00Z", "client_ip": "10.0.0", "outcome": "maybe", "limit": "x", "offset": "-1"} {
		_, field, _ := e.do("GET", "/api/v1/audit?"+url.Values{name: {v}}.Encode(), e.admin, nil).errBody(400)
		if field != name {
			t.Errorf("%s=%s: field %q", name, v, field)
		}
	}
	// A filter given twice is refused, naming it, rather than half honoured.
	for _, name := range []string{"event", "outcome", "actor", "key_id", "client_ip", "since", "until", "limit", "offset"} {
		vals := map[string][]string{"outcome": {"success", "failure"}, "client_ip": {"10.0.0.1", "10.0.0.2"},
			"since": {before.Format(time.RFC3339), before.Format(time.RFC3339)}, "until": {before.Format(time.RFC3339), before.Format(time.RFC3339)},
			"limit": {"1", "2"}, "offset": {"0", "1"}}[name]
		if vals == nil {
			vals = []string{"a", "b"}
		}
		_, field, msg := e.do("GET", "/api/v1/audit?"+url.Values{name: vals}.Encode(), e.admin, nil).errBody(400)
		if field != name || !strings.Contains(msg, "once") {
			t.Errorf("%s twice: field %q message %q", name, field, msg)
		}
	}
}
