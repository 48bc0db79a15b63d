package netpolicy

import (
	"net/netip"
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
