package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/keyward/keyward/internal/core"
)

// DecodeJSON reads a JSON body into v, refusing unknown fields, trailing
// data, wrong types and bodies over the server's limit, each with a message
// naming the problem.
func DecodeJSON(r *http.Request, v any) error {
	body, err := ReadBody(r)
	if err != nil {
		return err
	}
	return DecodeJSONBytes(body, v)
}

// ReadBody reads the whole request body, within the server's limit.
func ReadBody(r *http.Request) ([]byte, error) {
	// The content type is not checked: bearer-token APIs are not exposed to
	// cross-site form posts, and curl -d sends a form type for JSON bodies.
	var body []byte
	var err error
	if n := r.ContentLength; n > 0 && n <= 64<<10 {
		// The usual case: one allocation of the announced size, and one
		// more read to see the end (a longer body still fails the limit).
		body = make([]byte, n, n+1)
		if _, err = io.ReadFull(r.Body, body); err == nil {
			var m int
			if m, err = r.Body.Read(body[n : n+1]); m > 0 {
				body = body[:n+1]
				var rest []byte
				rest, err = io.ReadAll(r.Body)
				body = append(body, rest...)
			} else if errors.Is(err, io.EOF) {
				err = nil
			}
		}
	} else {
		body, err = io.ReadAll(r.Body)
	}
	if err != nil {
		if IsTooLarge(err) {
			return nil, TooLarge()
		}
		return nil, &core.Error{Kind: core.Invalid, Msg: "request body could not be read", Err: err}
	}
	return body, nil
}

// TooLarge is the error of a body over the server's limit.
func TooLarge() *core.Error {
	return &core.Error{Kind: core.TooLarge, Msg: "request body is too large"}
}

// DecodeJSONBytes decodes body into v as DecodeJSON does.
func DecodeJSONBytes(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return &core.Error{Kind: core.Invalid, Msg: "request body must be a JSON object"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return &core.Error{Kind: core.Invalid, Msg: "request body has data after the JSON value"}
	}
	return nil
}

// OneStringField returns s when body is exactly the object {"name": s},
// with s free of escapes and control characters: the shape a hot endpoint
// sees on nearly every request, read without the reflection of
// encoding/json. Any other body returns false and goes to DecodeJSONBytes,
// which decodes it the same way or names what is wrong with it.
func OneStringField(body []byte, name string) (string, bool) {
	b := bytes.TrimSpace(body)
	if len(b) < len(name)+7 || b[0] != '{' || b[len(b)-1] != '}' {
		return "", false
	}
	b = bytes.TrimSpace(b[1 : len(b)-1])
	if len(b) < len(name)+2 || b[0] != '"' || string(b[1:1+len(name)]) != name || b[1+len(name)] != '"' {
		return "", false
	}
	b = bytes.TrimSpace(b[len(name)+2:])
	if len(b) == 0 || b[0] != ':' {
		return "", false
	}
	b = bytes.TrimSpace(b[1:])
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return "", false
	}
	v := b[1 : len(b)-1]
	for _, c := range v {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return "", false
		}
	}
	return string(v), true
}

func jsonError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syn):
		return &core.Error{Kind: core.Invalid, Msg: fmt.Sprintf("malformed JSON at byte %d: %v", syn.Offset, syn)}
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return &core.Error{Kind: core.Invalid, Msg: fmt.Sprintf("body must be a JSON %s, not %s", typ.Type, typ.Value)}
		}
		return &core.Error{Kind: core.Invalid, Field: field, Msg: fmt.Sprintf("field %s must be %s, not %s", field, jsonType(typ.Type.String()), typ.Value)}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &core.Error{Kind: core.Invalid, Msg: "malformed JSON: unexpected end of body"}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &core.Error{Kind: core.Invalid, Field: name, Msg: fmt.Sprintf("unknown field %q", name)}
	}
	return &core.Error{Kind: core.Invalid, Msg: "malformed JSON: " + err.Error()}
}

func jsonType(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "map["):
		return "an object"
	case strings.Contains(goType, "int"):
		return "an integer"
	case strings.Contains(goType, "float"):
		return "a number"
	case goType == "string", goType == "*string":
		return "a string"
	case goType == "bool", goType == "*bool":
		return "a boolean"
	}
	return "of type " + goType
}

// Header values every JSON answer carries, shared: net/http only reads them.
var (
	jsonContentType = []string{"application/json"}
	noStore         = []string{"no-store"}
)

// WriteJSON writes v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Cache-Control"] = noStore
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// WriteJSONBytes writes b, a JSON value ending in a newline as WriteJSON's
// are, with status.
func WriteJSONBytes(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Cache-Control"] = noStore
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// AppendJSONString appends s as a JSON string, byte for byte as WriteJSON
// would encode it.
func AppendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			// Escapes and invalid UTF-8, the rare case: encoding/json's way.
			var q bytes.Buffer
			enc := json.NewEncoder(&q)
			enc.SetEscapeHTML(false)
			_ = enc.Encode(s)
			return append(b, bytes.TrimSuffix(q.Bytes(), []byte{'\n'})...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// MarshalJSON encodes v exactly as WriteJSON writes it (no HTML escaping,
// a newline after).
func MarshalJSON(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return buf.Bytes()
}
