package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/keyward/keyward/internal/core"
)

func TestOneStringFieldAgreesWithDecodeJSON(t *testing.T) {
	type req struct {
		Key string `json:"key"`
	}
	accepted := []string{
		`{"key":"kw_abc"}`, ` { "key" : "kw_abc" } `, "{\n\t\"key\":\"kw_abc\"\r\n}", `{"key":""}`,
		`{"key":"with space <&> and ~"}`,
	}
	for _, body := range accepted {
		got, ok := OneStringField([]byte(body), "key")
		var want req
		err := DecodeJSONBytes([]byte(body), &want)
		if !ok || err != nil || got != want.Key {
			t.Errorf("%q: fast %q %v, decoder %q %v; want both to agree", body, got, ok, want.Key, err)
		}
	}
	// Everything else goes to the decoder, which decodes it or names the problem.
	refused := []string{
		``, `{}`, `{"key":"a\"b"}`, `{"key":"a\\u0041"}`, `{"key":"tab	in"}`, `{"key":"ünï"}`,
		`{"key":"a","key":"b"}`, `{"key":"a","other":1}`, `{"key":1}`, `{"key":"a"`, `{"key":"a"}x`,
		`{"Key":"a"}`, `{"keys":"a"}`, `["key","a"]`, `{"key" "a"}`, `{"key":"a}`, `{key:"a"}`,
	}
	for _, body := range refused {
		if got, ok := OneStringField([]byte(body), "key"); ok {
			t.Errorf("%q: fast path took it as %q", body, got)
		}
	}
}

func encodeLikeWriteJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return strings.TrimSuffix(b.String(), "\n")
}

func TestAppendJSONStringMatchesEncoder(t *testing.T) {
	cases := []string{"", "plain", "a\"b", `back\slash`, "<&>", "tab\tnew\nline\r", "\x00\x01\x1f\x7f",
		"ünïcödé", "\u2028\u2029", "bad\xffutf8", "😀", strings.Repeat("x", 300)}
	for i := range 256 {
		cases = append(cases, string([]byte{'a', byte(i), 'z'}))
	}
	for _, s := range cases {
		if got, want := string(AppendJSONString(nil, s)), encodeLikeWriteJSON(s); got != want {
			t.Errorf("%q: got %s, want %s", s, got, want)
		}
		if !utf8.ValidString(string(AppendJSONString(nil, s))) {
			t.Errorf("%q: output is not UTF-8", s)
		}
	}
}

func TestReadBody(t *testing.T) {
	read := func(body string, chunked bool, limit int64) ([]byte, error) {
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		if chunked {
			r.ContentLength = -1
		}
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, limit)
		return ReadBody(r)
	}
	for _, chunked := range []bool{false, true} {
		if b, err := read(`{"key":"x"}`, chunked, 1<<20); err != nil || string(b) != `{"key":"x"}` {
			t.Fatalf("chunked=%v: %q %v", chunked, b, err)
		}
		if b, err := read("", chunked, 1<<20); err != nil || len(b) != 0 {
			t.Fatalf("chunked=%v empty: %q %v", chunked, b, err)
		}
		_, err := read(strings.Repeat("a", 2000), chunked, 1000)
		var ce *core.Error
		if !errors.As(err, &ce) || ce.Kind != core.TooLarge {
			t.Fatalf("chunked=%v over the limit: %v; want TooLarge", chunked, err)
		}
	}
}

// FuzzOneStringField: whatever the fast path accepts, the strict decoder
// decodes to the same value (go test -run '^$' -fuzz FuzzOneStringField ./internal/api).
func FuzzOneStringField(f *testing.F) {
	for _, s := range []string{`{"key":"kw_abc"}`, ` { "key" : "x" } `, `{"key":"a\"b"}`, `{"key":1}`, `{"key":"a","b":2}`, `{}`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, ok := OneStringField(body, "key")
		if !ok {
			return
		}
		var v struct {
			Key string `json:"key"`
		}
		if err := DecodeJSONBytes(body, &v); err != nil || v.Key != got {
			t.Fatalf("%q: fast path %q, decoder %q %v", body, got, v.Key, err)
		}
	})
}
