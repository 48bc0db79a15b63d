package privx

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/keyward/keyward/internal/api"
)

// object is a request body read leniently: members are looked up by name,
// unknown and server-set ones ignored, null and "" taken as absent, and a
// known member of the wrong type refused naming it.
type object map[string]json.RawMessage

// readObject reads the body as a JSON object.
func readObject(r *http.Request) (object, error) {
	body, err := api.ReadBody(r)
	if err != nil {
		return nil, err
	}
	return parseObject(body, "")
}

func parseObject(b []byte, field string) (object, error) {
	var o object
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' || json.Unmarshal(b, &o) != nil {
		msg := "body must be a JSON object"
		if field != "" {
			msg = field + " must be a JSON object"
		}
		return nil, badRequest(field, msg)
	}
	return o, nil
}

// raw returns a member that is present, not null and not "".
func (o object) raw(name string) (json.RawMessage, bool) {
	v, ok := o[name]
	if !ok {
		return nil, false
	}
	t := bytes.TrimSpace(v)
	if string(t) == "null" || string(t) == `""` {
		return nil, false
	}
	return t, true
}

func (o object) decode(name, want string, dst any) (bool, error) {
	v, ok := o.raw(name)
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal(v, dst); err != nil {
		return false, badRequest(name, name+" must be "+want)
	}
	return true, nil
}

func (o object) str(name string) (string, error) {
	var s string
	_, err := o.decode(name, "a string", &s)
	return s, err
}

func (o object) strs(name string) ([]string, bool, error) {
	var ss []string
	ok, err := o.decode(name, "an array of strings", &ss)
	return ss, ok, err
}

func (o object) boolean(name string) (bool, error) {
	var b bool
	_, err := o.decode(name, "a boolean", &b)
	return b, err
}

func (o object) integer(name string) (int64, error) {
	var n int64
	_, err := o.decode(name, "an integer", &n)
	return n, err
}

func (o object) time(name string) (*time.Time, error) {
	s, err := o.str(name)
	if err != nil || s == "" {
		return nil, err
	}
	t, perr := time.Parse(time.RFC3339, s)
	if perr != nil {
		return nil, badRequest(name, name+" must be an RFC 3339 time")
	}
	return &t, nil
}

func (o object) object(name string) (object, bool, error) {
	v, ok := o.raw(name)
	if !ok {
		return nil, false, nil
	}
	sub, err := parseObject(v, name)
	return sub, err == nil, err
}
