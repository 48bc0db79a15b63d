package psauth

import (
	"errors"
	"strings"
)

// Header is a parsed `Authorization: PS-Auth …` value.
type Header struct {
	Key, RunAs, Pwd, Challenge, Timestamp, Signature string
}

// errHeader is any header that cannot be parsed: the surface answers 401.
var errHeader = errors.New("malformed PS-Auth header")

// knownNames are the parameters PS-Auth carries; others are ignored.
var knownNames = []string{"key", "runas", "pwd", "challenge", "timestamp", "signature"}

func (h *Header) field(name string) *string {
	switch name {
	case "key":
		return &h.Key
	case "runas":
		return &h.RunAs
	case "pwd":
		return &h.Pwd
	case "challenge":
		return &h.Challenge
	case "timestamp":
		return &h.Timestamp
	case "signature":
		return &h.Signature
	}
	return nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// IsPSAuth reports whether an Authorization value uses the PS-Auth scheme.
func IsPSAuth(v string) bool {
	const scheme = "ps-auth"
	return len(v) > len(scheme) && strings.EqualFold(v[:len(scheme)], scheme) && isSpace(v[len(scheme)])
}

// ParseHeader parses `PS-Auth name=value; …`: the scheme case-insensitive
// then whitespace; parameters separated by `;` with optional spaces around
// `;` and `=`, empty segments and a final `;` allowed; names
// case-insensitive in any order, unknown ones ignored; a value
// `[bracketed]`, `"quoted"` or bare up to the next `;`. A bracketed value
// may hold `;` and `]`: it ends at the first `]` followed by optional spaces
// and the end, or `;`, optional spaces or `;`, and the end or a known name
// and `=`. A parameter repeated with another value, an unclosed bracket or
// quote, or a missing key or runas is an error. `pwd=[]` is no pwd.
func ParseHeader(v string) (Header, error) {
	var h Header
	if !IsPSAuth(v) {
		return h, errHeader
	}
	s := v[len("ps-auth"):]
	seen := map[string]bool{}
	i := 0
	for {
		// Skip spaces and empty segments.
		for i < len(s) && (isSpace(s[i]) || s[i] == ';') {
			i++
		}
		if i >= len(s) {
			break
		}
		eq := strings.IndexByte(s[i:], '=')
		semi := strings.IndexByte(s[i:], ';')
		if eq < 0 || (semi >= 0 && semi < eq) {
			return Header{}, errHeader // a segment without a value
		}
		name := strings.ToLower(strings.TrimSpace(s[i : i+eq]))
		if name == "" || strings.ContainsAny(name, " \t\"[]") {
			return Header{}, errHeader
		}
		i += eq + 1
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		var val string
		switch {
		case i < len(s) && s[i] == '[':
			end := bracketEnd(s, i+1)
			if end < 0 {
				return Header{}, errHeader
			}
			val, i = s[i+1:end], end+1
			if err := afterValue(s, &i); err != nil {
				return Header{}, err
			}
		case i < len(s) && s[i] == '"':
			end := strings.IndexByte(s[i+1:], '"')
			if end < 0 {
				return Header{}, errHeader
			}
			val, i = s[i+1:i+1+end], i+1+end+1
			if err := afterValue(s, &i); err != nil {
				return Header{}, err
			}
		default:
			end := strings.IndexByte(s[i:], ';')
			if end < 0 {
				end = len(s) - i
			}
			val = strings.TrimSpace(s[i : i+end])
			i += end
		}
		f := h.field(name)
		if f == nil {
			continue
		}
		if seen[name] && *f != val {
			return Header{}, errHeader
		}
		seen[name], *f = true, val
	}
	if h.Key == "" || h.RunAs == "" {
		return Header{}, errHeader
	}
	return h, nil
}

// afterValue checks that a bracketed or quoted value is followed by
// optional spaces and then `;` or the end.
func afterValue(s string, i *int) error {
	for *i < len(s) && isSpace(s[*i]) {
		*i++
	}
	if *i < len(s) && s[*i] != ';' {
		return errHeader
	}
	return nil
}

// bracketEnd returns the index of the `]` that closes a bracketed value
// starting at from, or -1.
func bracketEnd(s string, from int) int {
	for j := from; j < len(s); j++ {
		if s[j] != ']' {
			continue
		}
		k := j + 1
		for k < len(s) && isSpace(s[k]) {
			k++
		}
		if k == len(s) {
			return j
		}
		if s[k] != ';' {
			continue
		}
		for k < len(s) && (isSpace(s[k]) || s[k] == ';') {
			k++
		}
		if k == len(s) || startsWithKnownName(s[k:]) {
			return j
		}
	}
	return -1
}

// startsWithKnownName reports whether s starts with a known name, optional
// spaces and `=`.
func startsWithKnownName(s string) bool {
	for _, n := range knownNames {
		if len(s) >= len(n) && strings.EqualFold(s[:len(n)], n) {
			r := strings.TrimLeft(s[len(n):], " \t")
			if strings.HasPrefix(r, "=") {
				return true
			}
		}
	}
	return false
}

// Format renders h as a header ParseHeader reads back as h: each value bare,
// quoted or bracketed, whichever reads back; ok is false when none does.
func Format(h Header) (string, bool) {
	var b strings.Builder
	b.WriteString("PS-Auth ")
	for _, n := range knownNames {
		v := *h.field(n)
		if v == "" {
			continue
		}
		enc, ok := encode(n, v)
		if !ok {
			return "", false
		}
		b.WriteString(n + "=" + enc + "; ")
	}
	out := b.String()
	back, err := ParseHeader(out)
	return out, err == nil && back == h
}

func encode(name, v string) (string, bool) {
	for _, enc := range []string{v, `"` + v + `"`, "[" + v + "]"} {
		probe := "PS-Auth " + name + "=" + enc + "; challenge=0;"
		if name != "key" {
			probe += " key=k;"
		}
		if name != "runas" {
			probe += " runas=u;"
		}
		if name == "challenge" {
			probe = strings.Replace(probe, " challenge=0;", "", 1)
		}
		back, err := ParseHeader(probe)
		if err == nil && *back.field(name) == v {
			return enc, true
		}
	}
	return "", false
}
