package netpolicy

import (
	"net/netip"
	"testing"
)

func TestParseRange(t *testing.T) {
	ok := []struct {
		in  string
		in1 []string
		out []string
	}{
		{"10.0.0.5", []string{"10.0.0.5", "::ffff:10.0.0.5"}, []string{"10.0.0.4", "10.0.0.6", "::1"}},
		{"10.0.0.1-10.0.0.9", []string{"10.0.0.1", "10.0.0.9", "10.0.0.5"}, []string{"10.0.0.0", "10.0.0.10", "fe80::1"}},
		{"192.168.0.0/16", []string{"192.168.0.0", "192.168.255.255"}, []string{"192.169.0.0", "192.167.255.255"}},
		{"2001:db8::/32", []string{"2001:db8::1", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"}, []string{"2001:db9::", "10.0.0.1"}},
		{"::1", []string{"::1"}, []string{"127.0.0.1", "::2"}},
		{"2001:db8::1-2001:db8::ff", []string{"2001:db8::80"}, []string{"2001:db8::100"}},
		{"10.1.2.3/32", []string{"10.1.2.3"}, []string{"10.1.2.4"}},
	}
	for _, tc := range ok {
		r, err := ParseRange(tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		for _, a := range tc.in1 {
			if !r.Contains(netip.MustParseAddr(a)) {
				t.Errorf("%s does not hold %s", tc.in, a)
			}
		}
		for _, a := range tc.out {
			if r.Contains(netip.MustParseAddr(a)) {
				t.Errorf("%s holds %s", tc.in, a)
			}
		}
	}
	for _, bad := range []string{"", "10.0.0.300", "10.0.0.9-10.0.0.1", "10.0.0.1-::1", "10.0.0.0/33", "2001:db8::/129",
		"10.0.0.1-", "x", "10.0.0.0/-1", "10.0.0.1-10.0.0.2-10.0.0.3", "fe80::1%eth0"} {
		if _, err := ParseRange(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"10.0.0.1", "10.0.0.1-10.0.0.9", "::1/128", "2001:db8::/32", "1.2.3.4-::1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRange(s)
		if err != nil {
			return
		}
		if !r.Contains(r.From) || !r.Contains(r.To) || r.To.Less(r.From) {
			t.Fatalf("%q: %v does not hold its ends", s, r)
		}
	})
}
