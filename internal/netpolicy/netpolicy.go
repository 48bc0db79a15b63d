// Package netpolicy decides a request's client address and checks it against CIDR rules and time windows.
package netpolicy

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// DefaultTrusted returns the proxies trusted when none are configured: loopback.
func DefaultTrusted() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// ClientAddr decides who a request comes from. It walks X-Forwarded-For from
// the right, because only the right-most hops were added by proxies we trust:
// any hop left of the first untrusted one could have been written by the
// client. The peer itself must be trusted for the header to count at all. A
// malformed hop stops the walk at the last good address.
func ClientAddr(peer netip.Addr, xff []string, trusted []netip.Prefix) netip.Addr {
	peer = peer.Unmap()
	if !Contains(trusted, peer) || len(xff) == 0 {
		return peer
	}
	client := peer
	for i := len(xff) - 1; i >= 0; i-- {
		hops := xff[i]
		for hops != "" {
			j := strings.LastIndexByte(hops, ',')
			hop := strings.TrimSpace(hops[j+1:])
			if j < 0 {
				hops = ""
			} else {
				hops = hops[:j]
			}
			if hop == "" {
				continue
			}
			a, err := netip.ParseAddr(hop)
			if err != nil {
				return client
			}
			client = a.Unmap()
			if !Contains(trusted, client) {
				return client
			}
		}
	}
	return client
}

// Contains reports whether addr is in any of the prefixes. Addresses are
// compared unmapped, so an IPv4-mapped prefix (::ffff:a.b.c.d/n, n >= 96)
// is read as the IPv4 prefix it names; ParseCIDR already converts those, this
// covers prefixes built in code.
func Contains(prefixes []netip.Prefix, addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range prefixes {
		if p.Addr().Is4In6() {
			p, _ = unmapPrefix(p)
		}
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// unmapPrefix turns an IPv4-mapped prefix ::ffff:a.b.c.d/n into
// a.b.c.d/(n-96). ok is false when n < 96: such a prefix also covers IPv6
// addresses outside ::ffff:0:0/96, and no IPv4 prefix says that.
func unmapPrefix(p netip.Prefix) (netip.Prefix, bool) {
	if !p.Addr().Is4In6() {
		return p, true
	}
	if p.Bits() < 96 {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96).Masked(), true
}

// Allowed reports whether addr may pass a restriction: an empty list allows all.
func Allowed(prefixes []netip.Prefix, addr netip.Addr) bool {
	return len(prefixes) == 0 || Contains(prefixes, addr)
}

// ParseCIDR parses one CIDR; a bare address means just that address. An
// IPv4-mapped prefix ::ffff:a.b.c.d/n becomes a.b.c.d/(n-96), because client
// addresses are compared unmapped (left mapped, ::ffff:127.0.0.0/104 would
// match no IPv4 client, and a blocking context holding it would block
// nobody); one shorter than /96 reaches past the IPv4 space and is refused.
func ParseCIDR(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR %q", s)
		}
		p, ok := unmapPrefix(p)
		if !ok {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR %q: an IPv4-mapped prefix must be /96 or longer (or write the IPv4 prefix)", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid CIDR %q", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ParseCIDRs parses a list of CIDRs, naming the first bad one. With the
// error it still returns one prefix per entry, a bad entry as the zero
// Prefix, which contains no address: callers reading lists stored before a
// rule tightened (the /96 one) ignore the error, and a list left empty
// would allow every address.
func ParseCIDRs(ss []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(ss))
	var first error
	for _, s := range ss {
		p, err := ParseCIDR(s)
		if err != nil && first == nil {
			first = err
		}
		out = append(out, p)
	}
	return out, first
}

// Normalize parses CIDRs and renders them canonically.
func Normalize(ss []string) ([]string, error) {
	ps, err := ParseCIDRs(ss)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out, nil
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// Window is a weekly time window in a time zone: the days it holds on and a
// daily start and end ("HH:MM"; an end before the start runs past midnight).
type Window struct {
	Weekdays  []string
	StartTime string
	EndTime   string
	TimeZone  string
}

// Validate reports the first malformed part of the window, naming its field.
func (w Window) Validate() (field string, err error) {
	for _, d := range w.Weekdays {
		if _, ok := weekdays[strings.ToLower(d)]; !ok {
			return "weekdays", fmt.Errorf("unknown weekday %q (use mon, tue, …)", d)
		}
	}
	if _, err := clock(w.StartTime); err != nil {
		return "start_time", err
	}
	if _, err := clock(w.EndTime); err != nil {
		return "end_time", err
	}
	if w.TimeZone != "" {
		if _, err := time.LoadLocation(w.TimeZone); err != nil {
			return "time_zone", fmt.Errorf("unknown time zone %q", w.TimeZone)
		}
	}
	return "", nil
}

func clock(s string) (int, error) {
	if s == "" {
		return -1, nil
	}
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("time %q is not HH:MM", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// Holds reports whether now falls in the window. An invalid window holds never.
// locations caches time zones by name: time.LoadLocation reads the zone
// database on every call, and Holds runs on every permission check.
var locations sync.Map // string -> *time.Location

func location(name string) (*time.Location, error) {
	if l, ok := locations.Load(name); ok {
		return l.(*time.Location), nil
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	locations.Store(name, l)
	return l, nil
}

func (w Window) Holds(now time.Time) bool {
	loc := time.UTC
	if w.TimeZone != "" {
		l, err := location(w.TimeZone)
		if err != nil {
			return false
		}
		loc = l
	}
	now = now.In(loc)
	if len(w.Weekdays) > 0 {
		ok := false
		for _, d := range w.Weekdays {
			if wd, found := weekdays[strings.ToLower(d)]; found && wd == now.Weekday() {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	start, err1 := clock(w.StartTime)
	end, err2 := clock(w.EndTime)
	if err1 != nil || err2 != nil {
		return false
	}
	if start < 0 && end < 0 {
		return true
	}
	if start < 0 {
		start = 0
	}
	if end < 0 {
		end = 24 * 60
	}
	m := now.Hour()*60 + now.Minute()
	if start <= end {
		return m >= start && m < end
	}
	return m >= start || m < end
}
