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

// Contains reports whether addr is in any of the prefixes.
func Contains(prefixes []netip.Prefix, addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Allowed reports whether addr may pass a restriction: an empty list allows all.
func Allowed(prefixes []netip.Prefix, addr netip.Addr) bool {
	return len(prefixes) == 0 || Contains(prefixes, addr)
}

// ParseCIDR parses one CIDR; a bare address means just that address.
func ParseCIDR(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR %q", s)
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

// ParseCIDRs parses a list of CIDRs, naming the first bad one.
func ParseCIDRs(ss []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		p, err := ParseCIDR(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
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
