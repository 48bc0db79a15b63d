package api

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
)

// ErrMalformedCredentials is returned for an Authorization header that
// cannot be parsed.
var errMalformed = errors.New("malformed Authorization header")

// ParseConjurToken reads Conjur's header value `Token token="<base64>"`
// and returns the decoded token. The quotes are optional, as Conjur allows.
func ParseConjurToken(h string) (string, error) {
	const scheme = "token "
	if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", errMalformed
	}
	rest := strings.TrimSpace(h[len(scheme):])
	const param = "token="
	if len(rest) < len(param) || !strings.EqualFold(rest[:len(param)], param) {
		return "", errMalformed
	}
	v := rest[len(param):]
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	if v == "" || strings.ContainsAny(v, "\" \t") {
		return "", errMalformed
	}
	raw, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		if raw, err = base64.RawStdEncoding.DecodeString(v); err != nil {
			if raw, err = base64.URLEncoding.DecodeString(v); err != nil {
				return "", errMalformed
			}
		}
	}
	if len(raw) == 0 {
		return "", errMalformed
	}
	return string(raw), nil
}

// ParseBearer reads `Bearer <token>`.
func ParseBearer(h string) (string, error) {
	const scheme = "bearer "
	if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", errMalformed
	}
	t := strings.TrimSpace(h[len(scheme):])
	if t == "" || strings.ContainsAny(t, " \t") {
		return "", errMalformed
	}
	return t, nil
}

// ParseBasic reads `Basic base64(login:secret)`. The login may not contain a
// colon; the secret may.
func ParseBasic(h string) (login, secret string, err error) {
	const scheme = "basic "
	if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", "", errMalformed
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(h[len(scheme):]))
	if err != nil {
		return "", "", errMalformed
	}
	login, secret, ok := strings.Cut(string(raw), ":")
	if !ok || login == "" {
		return "", "", errMalformed
	}
	return login, secret, nil
}

// AccessToken extracts an access token from the request's Authorization
// header in either form: `Token token="…"` (Conjur) or `Bearer …`. ok is
// false when no such header is present.
func AccessToken(r *http.Request) (token string, ok bool, err error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false, nil
	}
	if len(h) >= 6 && strings.EqualFold(h[:6], "token ") {
		t, err := ParseConjurToken(h)
		return t, true, err
	}
	if len(h) >= 7 && strings.EqualFold(h[:7], "bearer ") {
		t, err := ParseBearer(h)
		return t, true, err
	}
	return "", false, nil
}
