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
	// The content type is not checked: bearer-token APIs are not exposed to
	// cross-site form posts, and curl -d sends a form type for JSON bodies.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		if IsTooLarge(err) {
			return &core.Error{Kind: core.TooLarge, Msg: "request body is too large"}
		}
		return &core.Error{Kind: core.Invalid, Msg: "request body could not be read", Err: err}
	}
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

// WriteJSON writes v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
