package netpolicy

import (
	"net/netip"
	"testing"
)

// FuzzParseCIDR checks the CIDR parser behind IP masks, restricted_to,
// valid_sources and trusted proxies: it never panics, never returns an
// IPv4-mapped prefix (clients are compared unmapped, so one would match no
// IPv4 client), returns prefixes masked, and its canonical form parses back
// to itself. Seeds: f.Add below and testdata/fuzz.
func FuzzParseCIDR(f *testing.F) {
	for _, s := range []string{
		"10.1.2.3/8", "192.0.2.5", "2001:db8::/32", "::1", "::/0", "0.0.0.0/0",
		"::ffff:127.0.0.0/104", "::ffff:10.1.2.3/128", "::ffff:0.0.0.0/96", "::ffff:0.0.0.0/95",
		"::ffff:c000:0200/120", "::ffff:192.0.2.7", "::ffff:1.2.3.4/0", " 10.0.0.0/8 ",
		"10.0.0.0/33", "1.2.3.4/x", "fe80::1%eth0/64", "", "/", "::ffff:/96",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseCIDR(s)
		if err != nil {
			if p.IsValid() {
				t.Fatalf("%q: a prefix with an error", s)
			}
			return
		}
		if !p.IsValid() || p.Addr().Is4In6() || p != p.Masked() {
			t.Fatalf("%q: got %v (valid %v, mapped %v, masked %v)", s, p, p.IsValid(), p.Addr().Is4In6(), p.Masked())
		}
		again, err := ParseCIDR(p.String())
		if err != nil || again != p {
			t.Fatalf("%q: canonical %q parses to %v, %v", s, p.String(), again, err)
		}
		if !Contains([]netip.Prefix{p}, p.Addr()) {
			t.Fatalf("%q: %v does not contain its own address", s, p)
		}
	})
}
