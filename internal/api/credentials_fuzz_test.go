package api

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseConjurToken checks Conjur's `Token token="<base64>"` parser: it
// never panics, accepts only its scheme and a non-empty token, and every
// token a client encodes (quoted, as conjur-api-go sends it, or bare)
// parses back to exactly its bytes. Seeds: f.Add below and testdata/fuzz.
func FuzzParseConjurToken(f *testing.F) {
	conjur := `{"protected":"eyJhbGciOiJjb25qdXIub3JnL3Nsb3NpbG8vdjIifQ==","payload":"eyJpYXQiOjF9","signature":"c2ln"}`
	for _, h := range []string{
		`Token token="` + base64.StdEncoding.EncodeToString([]byte(conjur)) + `"`,
		`token token=` + base64.StdEncoding.EncodeToString([]byte(conjur)),
		`TOKEN TOKEN="` + base64.RawStdEncoding.EncodeToString([]byte("abc")) + `"`,
		`Token token="` + base64.URLEncoding.EncodeToString([]byte("??>>~~")) + `"`,
		`Token token=""`, `Token token="`, `Token token="a b"`, `Token`, `Token `, `Bearer x`, `Token token="!!!"`, "Token token=\"\x00\"",
	} {
		f.Add(h, []byte(conjur))
	}
	f.Add("", []byte{0, 1, 2, 0xff})
	f.Fuzz(func(t *testing.T, h string, raw []byte) {
		tok, err := ParseConjurToken(h)
		if err == nil {
			if tok == "" {
				t.Fatalf("%q: accepted an empty token", h)
			}
			if len(h) < 6 || !strings.EqualFold(h[:6], "token ") {
				t.Fatalf("%q: accepted without the Token scheme", h)
			}
		} else if tok != "" {
			t.Fatalf("%q: a token with an error", h)
		}
		if len(raw) == 0 {
			return
		}
		enc := base64.StdEncoding.EncodeToString(raw)
		for _, header := range []string{`Token token="` + enc + `"`, "token token=" + enc, `Token  token="` + enc + `"  `} {
			got, err := ParseConjurToken(header)
			if err != nil || got != string(raw) {
				t.Fatalf("%q: round trip gave %q, %v", header, got, err)
			}
		}
	})
}

// FuzzParseBasic checks the HTTP Basic parser: it never panics, a login it
// returns is non-empty without a colon, and every login:secret a client
// encodes (the secret may hold colons) parses back exactly.
func FuzzParseBasic(f *testing.F) {
	for _, s := range [][3]string{
		{"Basic " + base64.StdEncoding.EncodeToString([]byte("alice:Str0ng-Passw0rd!")), "alice", "Str0ng-Passw0rd!"},
		{"basic " + base64.StdEncoding.EncodeToString([]byte("host/apps/myapp:kw_abc:def")), "host/apps/myapp", "kw_abc:def"},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte(":nologin")), "", ""},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte("nocolon")), "x", ""},
		{"Basic !!!", "a@b", "ünïcode"},
		{"Basic", "a", "b"},
		{"Token token=\"x\"", "a", "b"},
		{"Basic " + base64.RawStdEncoding.EncodeToString([]byte("a:bc")), "a", "\x00"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, h, login, secret string) {
		l, s, err := ParseBasic(h)
		if err == nil {
			if l == "" || strings.Contains(l, ":") {
				t.Fatalf("%q: login %q", h, l)
			}
			if len(h) < 6 || !strings.EqualFold(h[:6], "basic ") {
				t.Fatalf("%q: accepted without the Basic scheme", h)
			}
		} else if l != "" || s != "" {
			t.Fatalf("%q: values with an error", h)
		}
		if login == "" || strings.Contains(login, ":") {
			return
		}
		header := "Basic " + base64.StdEncoding.EncodeToString([]byte(login+":"+secret))
		gl, gs, err := ParseBasic(header)
		if err != nil || gl != login || gs != secret {
			t.Fatalf("round trip of %q:%q gave %q:%q, %v", login, secret, gl, gs, err)
		}
	})
}

// FuzzAccessToken checks that extracting a token from any Authorization
// header never panics and only answers ok for the Token and Bearer schemes.
func FuzzAccessToken(f *testing.F) {
	for _, h := range []string{`Token token="YWJj"`, "Bearer abc.def.ghi", "Bearer ", "Basic YTpi", "", "token", "BEARER\tx"} {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, h string) {
		if !utf8.ValidString(h) || strings.ContainsAny(h, "\r\n") {
			return // net/http never delivers such a header value
		}
		r := &http.Request{Header: http.Header{}}
		r.Header.Set("Authorization", h)
		tok, ok, err := AccessToken(r)
		lower := strings.ToLower(h)
		if ok && !strings.HasPrefix(lower, "token ") && !strings.HasPrefix(lower, "bearer ") {
			t.Fatalf("%q: ok for another scheme", h)
		}
		if !ok && (tok != "" || err != nil) {
			t.Fatalf("%q: not ok, yet %q %v", h, tok, err)
		}
		if ok && err == nil && tok == "" {
			t.Fatalf("%q: an empty token", h)
		}
	})
}
