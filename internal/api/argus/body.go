package argus

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
)

// object is a request body read as a JSON object: its members by name,
// the body's bytes, and the bad fields found so far.
type object struct {
	m    map[string]json.RawMessage
	body []byte
	bad  []core.FieldError
}

// readObject reads a JSON object body (an empty body is {}). A body that is
// not a JSON object is one ACTION_ERROR; each member not in known is a
// FIELD_ERROR naming it (prefix names a nested object's members).
func readObject(r *http.Request, known ...string) (*object, error) {
	body, err := api.ReadBody(r)
	if err != nil {
		return nil, err
	}
	o := &object{body: body, m: map[string]json.RawMessage{}}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &o.m); err != nil || o.m == nil {
			return nil, &core.Error{Kind: core.Invalid, Msg: "the request body is not a JSON object"}
		}
	}
	o.unknown("", o.m, known)
	return o, nil
}

// unknown adds a FIELD_ERROR for each member of m not in known, in name order.
func (o *object) unknown(prefix string, m map[string]json.RawMessage, known []string) {
	var names []string
	for k := range m {
		if !slices.Contains(known, k) {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		o.fail(prefix+k, "", "unknown field "+prefix+k)
	}
}

// fail records a bad field, once per field.
func (o *object) fail(field, value, msg string) {
	if slices.ContainsFunc(o.bad, func(f core.FieldError) bool { return f.Field == field }) {
		return
	}
	o.bad = append(o.bad, core.FieldError{Field: field, Value: value, Msg: msg})
}

// has reports whether a member is present and not null.
func (o *object) has(name string) bool {
	raw, ok := o.m[name]
	return ok && string(raw) != "null"
}

// str decodes a string member; "" when absent.
func (o *object) str(name string) string {
	var s string
	if o.has(name) && json.Unmarshal(o.m[name], &s) != nil {
		o.fail(name, "", name+" must be a string")
	}
	return s
}

// strings decodes a member that is a string or an array of strings.
func (o *object) strings(prefix, name string, raw json.RawMessage, one bool) []string {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var s string
	if one && json.Unmarshal(raw, &s) == nil {
		return []string{s}
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		o.fail(prefix+name, "", prefix+name+" must be an array of strings")
		return nil
	}
	return list
}

// integer decodes a whole-number member; nil when absent.
func (o *object) integer(name string) *int64 {
	if !o.has(name) {
		return nil
	}
	var n int64
	if err := json.Unmarshal(o.m[name], &n); err != nil {
		o.fail(name, strings.Trim(string(o.m[name]), `"`), name+" must be a whole number")
		return nil
	}
	return &n
}

// err returns the bad fields as one error, nil when none.
func (o *object) err() error { return fieldErrors(o.bad) }
