package netpolicy

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestClientAddr(t *testing.T) {
	trusted := append([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, DefaultTrusted()...)
	a := netip.MustParseAddr
	cases := []struct {
		name string
		peer string
		xff  []string
		want string
	}{
		{"no header", "192.0.2.1", nil, "192.0.2.1"},
		{"untrusted peer ignores header", "192.0.2.1", []string{"198.51.100.7"}, "192.0.2.1"},
		{"loopback peer, one hop", "127.0.0.1", []string{"198.51.100.7"}, "198.51.100.7"},
		{"right-most untrusted wins", "127.0.0.1", []string{"6.6.6.6, 198.51.100.7, 10.1.1.1"}, "198.51.100.7"},
		{"several headers", "127.0.0.1", []string{"6.6.6.6", "198.51.100.7, 10.1.1.1"}, "198.51.100.7"},
		{"all trusted", "127.0.0.1", []string{"10.2.2.2"}, "10.2.2.2"},
		{"malformed hop stops", "127.0.0.1", []string{"198.51.100.7, junk, 10.1.1.1"}, "10.1.1.1"},
		{"ipv6", "::1", []string{"2001:db8::1"}, "2001:db8::1"},
		{"mapped peer", "::ffff:127.0.0.1", []string{"198.51.100.9"}, "198.51.100.9"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := ClientAddr(a(c.peer), c.xff, trusted); got != a(c.want) {
				t.Fatalf("got %v want %v", got, c.want)
			}
		})
	}
}

func TestParseCIDR(t *testing.T) {
	p, err := ParseCIDR("10.1.2.3/8")
	if err != nil || p.String() != "10.0.0.0/8" {
		t.Fatalf("%v %v", p, err)
	}
	p, err = ParseCIDR("192.0.2.5")
	if err != nil || p.String() != "192.0.2.5/32" {
		t.Fatalf("%v %v", p, err)
	}
	for _, bad := range []string{"", "10.0.0.0/33", "nope", "1.2.3.4/x"} {
		if _, err := ParseCIDR(bad); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
	if !Allowed(nil, netip.MustParseAddr("1.2.3.4")) {
		t.Fatal("empty list must allow")
	}
}

func TestWindow(t *testing.T) {
	// 2026-12-01 is a Tuesday.
	at := func(s string) time.Time { tm, _ := time.Parse(time.RFC3339, s); return tm }
	w := Window{Weekdays: []string{"tue"}, StartTime: "09:00", EndTime: "17:00", TimeZone: "Europe/Helsinki"}
	if !w.Holds(at("2026-12-01T08:00:00Z")) { // 10:00 Helsinki
		t.Fatal("should hold at 10:00 Helsinki on Tuesday")
	}
	if w.Holds(at("2026-12-01T16:00:00Z")) { // 18:00 Helsinki
		t.Fatal("should not hold at 18:00")
	}
	if w.Holds(at("2026-12-02T08:00:00Z")) {
		t.Fatal("should not hold on Wednesday")
	}
	night := Window{StartTime: "22:00", EndTime: "06:00"}
	if !night.Holds(at("2026-12-01T23:30:00Z")) || night.Holds(at("2026-12-01T12:00:00Z")) {
		t.Fatal("overnight window wrong")
	}
	if f, err := (Window{StartTime: "25:00"}).Validate(); err == nil || f != "start_time" {
		t.Fatalf("bad start accepted: %v %v", f, err)
	}
	if f, err := (Window{TimeZone: "Mars/Base"}).Validate(); err == nil || f != "time_zone" {
		t.Fatalf("bad zone accepted: %v %v", f, err)
	}
}

// IPv4 clients are compared unmapped (ClientAddr and Contains unmap them),
// so an IPv4-mapped prefix must become the IPv4 prefix it names, or a mask
// like ::ffff:127.0.0.0/104 would never match 127.0.0.1 and a blocking
// context holding it would fail open.
func TestMappedPrefixes(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"::ffff:127.0.0.0/104", "127.0.0.0/8"},
		{"::ffff:127.0.0.1/104", "127.0.0.0/8"},
		{"::FFFF:10.1.2.3/128", "10.1.2.3/32"},
		{"::ffff:0.0.0.0/96", "0.0.0.0/0"},
		{"::ffff:c000:0200/120", "192.0.2.0/24"},
		{" ::ffff:198.51.100.0/120 ", "198.51.100.0/24"},
		{"::ffff:192.0.2.7", "192.0.2.7/32"},
		{"2001:db8::/32", "2001:db8::/32"},
		{"::/0", "::/0"},
	} {
		p, err := ParseCIDR(tc.in)
		if err != nil || p.String() != tc.want {
			t.Errorf("ParseCIDR(%q) = %v, %v; want %s", tc.in, p, err, tc.want)
		}
	}
	// Shorter than /96 a mapped prefix reaches past the IPv4 space into
	// IPv6: refused rather than guessed.
	for _, bad := range []string{"::ffff:0.0.0.0/95", "::ffff:127.0.0.0/8", "::ffff:1.2.3.4/0"} {
		if p, err := ParseCIDR(bad); err == nil {
			t.Errorf("ParseCIDR(%q) = %v, want an error", bad, p)
		}
		if _, err := Normalize([]string{"10.0.0.0/8", bad}); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("Normalize with %q: err %v, want one naming it", bad, err)
		}
	}
	got, err := Normalize([]string{"::ffff:127.0.0.0/104", "2001:db8::1"})
	if err != nil || strings.Join(got, ",") != "127.0.0.0/8,2001:db8::1/128" {
		t.Fatalf("Normalize = %v, %v", got, err)
	}
	masks, err := ParseCIDRs([]string{"::ffff:127.0.0.0/104"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"127.0.0.1", "::ffff:127.0.0.1"} {
		if !Allowed(masks, netip.MustParseAddr(c)) {
			t.Errorf("%s not in ::ffff:127.0.0.0/104", c)
		}
	}
	if Allowed(masks, netip.MustParseAddr("10.0.0.1")) {
		t.Error("10.0.0.1 in ::ffff:127.0.0.0/104")
	}
	// A mapped prefix built in code, not parsed, matches the same way.
	built := []netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.0/104")}
	if !Contains(built, netip.MustParseAddr("10.9.9.9")) || Contains(built, netip.MustParseAddr("11.0.0.1")) {
		t.Error("Contains does not read a mapped prefix as IPv4")
	}
	if got := ClientAddr(netip.MustParseAddr("10.0.0.2"), []string{"198.51.100.7"}, built); got != netip.MustParseAddr("198.51.100.7") {
		t.Errorf("mapped trusted-proxy prefix: client %v", got)
	}
}

// Masks stored before the /96 rule are read with ParseCIDRs, whose error
// callers may ignore: a refused entry must then match nothing rather than
// vanish, or a list of only refused entries would be empty and allow all.
func TestParseCIDRsRefusedEntryMatchesNothing(t *testing.T) {
	masks, err := ParseCIDRs([]string{"::ffff:0.0.0.0/95"})
	if err == nil {
		t.Fatal("want an error")
	}
	if len(masks) != 1 || Allowed(masks, netip.MustParseAddr("1.2.3.4")) || Allowed(masks, netip.MustParseAddr("::1")) {
		t.Fatalf("masks %v allow an address", masks)
	}
	masks, _ = ParseCIDRs([]string{"nope", "10.0.0.0/8"})
	if len(masks) != 2 || !Allowed(masks, netip.MustParseAddr("10.1.1.1")) || Allowed(masks, netip.MustParseAddr("1.2.3.4")) {
		t.Fatalf("masks %v", masks)
	}
}
