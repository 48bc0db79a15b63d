package netpolicy

import (
	"fmt"
	"net/netip"
	"strings"
)

// Range is an inclusive span of addresses of one family: what an API
// registration's rule (one address, a range a-b, or a CIDR) admits.
type Range struct {
	From, To netip.Addr
}

// ParseRange parses one address, a range "a-b" (same family, a ≤ b) or a
// CIDR. Addresses are compared unmapped, as client addresses are.
func ParseRange(s string) (Range, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Range{}, fmt.Errorf("empty address")
	}
	if from, to, ok := strings.Cut(s, "-"); ok {
		a, err := netip.ParseAddr(strings.TrimSpace(from))
		if err != nil {
			return Range{}, fmt.Errorf("invalid range %q: bad first address", s)
		}
		b, err := netip.ParseAddr(strings.TrimSpace(to))
		if err != nil {
			return Range{}, fmt.Errorf("invalid range %q: bad last address", s)
		}
		a, b = a.Unmap(), b.Unmap()
		if a.Zone() != "" || b.Zone() != "" {
			return Range{}, fmt.Errorf("invalid range %q: zones are not allowed", s)
		}
		if a.Is4() != b.Is4() {
			return Range{}, fmt.Errorf("invalid range %q: mixes IPv4 and IPv6", s)
		}
		if b.Less(a) {
			return Range{}, fmt.Errorf("invalid range %q: the first address is after the last", s)
		}
		return Range{From: a, To: b}, nil
	}
	if strings.Contains(s, "/") {
		p, err := ParseCIDR(s)
		if err != nil {
			return Range{}, err
		}
		return Range{From: p.Addr(), To: lastAddr(p)}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return Range{}, fmt.Errorf("invalid address %q", s)
	}
	a = a.Unmap()
	return Range{From: a, To: a}, nil
}

// lastAddr is the highest address of a masked prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	bits := p.Bits()
	for i := range b {
		for j := 0; j < 8; j++ {
			if i*8+j >= bits {
				b[i] |= 0x80 >> j
			}
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// Contains reports whether addr (compared unmapped) lies in r.
func (r Range) Contains(addr netip.Addr) bool {
	if !addr.IsValid() || !r.From.IsValid() {
		return false
	}
	addr = addr.Unmap().WithZone("")
	return addr.Is4() == r.From.Is4() && !addr.Less(r.From) && !r.To.Less(addr)
}
