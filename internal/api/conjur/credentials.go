package conjur

import (
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
)

// readBody reads the whole request body, within the server's limit; an
// unreadable one is Conjur's bad request.
func readBody(r *http.Request) ([]byte, error) {
	b, err := api.ReadBody(r)
	if e := core.AsError(err); err != nil && e.Kind == core.Invalid {
		e.Reason = reasonBadRequest
	}
	return b, err
}

// wantsBase64 reports whether Accept-Encoding lists base64 (Conjur's
// pre-encoded token variant).
func wantsBase64(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for _, part := range strings.Split(v, ",") {
			name, _, _ := strings.Cut(part, ";")
			if strings.EqualFold(strings.TrimSpace(name), "base64") {
				return true
			}
		}
	}
	return false
}

// writeToken answers an authentication with a Conjur access token: its
// JSON, or with Accept-Encoding: base64 the base64 of it as text.
func (s *Surface) writeToken(w http.ResponseWriter, r *http.Request, sess core.Session, ttl time.Duration) error {
	tok, err := s.core.IssueToken(sess, ttl, core.FormatConjur)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	if wantsBase64(r) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Encoding", "base64")
		_, _ = io.WriteString(w, base64.StdEncoding.EncodeToString([]byte(tok.Value)))
		return nil
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, tok.Value)
	return nil
}

// writeText answers with a plain-text value (an API key), exactly as is.
func writeText(w http.ResponseWriter, v string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = io.WriteString(w, v)
}

// asUnauthenticated turns every refusal into Conjur's empty 401, keeping
// the core's reason for the access log; failures of the service itself
// (store, bcrypt queue, context) keep their kind.
func asUnauthenticated(err error) error {
	e := core.AsError(err)
	switch e.Kind {
	case core.Internal, core.Unavailable, core.RateLimited, core.TooLarge:
		return err
	case core.Unauthenticated:
		return err
	}
	return &core.Error{Kind: core.Unauthenticated, Reason: e.Reason, Msg: "authentication failed", Err: err}
}

// login is GET /authn/{account}/login: Basic login:password (or the API
// key as the password) answers the role's current API key. Every refusal
// is an empty 401.
func (s *Surface) login(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	account := r.PathValue("account")
	ctx := r.Context()
	login, secret, err := api.ParseBasic(r.Header.Get("Authorization"))
	if err != nil {
		s.core.RecordAuthnFailure(ctx, rc.Caller, account, "", "login", "authn", "missing_credentials")
		return unauthenticated("missing_credentials")
	}
	sess, _, err := s.core.AuthenticatePassword(ctx, rc.Caller, core.LoginRequest{Account: account, Login: roleLogin(login), Event: "login", Authenticator: "authn", Conjur: true}, secret, true)
	if err != nil {
		return asUnauthenticated(err)
	}
	key, err := s.core.ConjurKey(ctx, sess, rc.Caller)
	if err != nil {
		return asUnauthenticated(err)
	}
	writeText(w, key)
	return nil
}

// authenticate is POST /authn/{account}/{login}/authenticate: the raw body
// is the API key of {login} (percent-encoded in the path: host%2Fmyapp).
func (s *Surface) authenticate(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	account, login := r.PathValue("account"), r.PathValue("login")
	ctx := r.Context()
	body, err := readBody(r)
	if err != nil {
		return err
	}
	key := strings.TrimSpace(string(body))
	sess, err := s.core.AuthenticateKey(ctx, rc.Caller, core.LoginRequest{Account: account, Login: roleLogin(login), Event: "authn", Authenticator: "authn", Conjur: true}, key)
	if err != nil {
		return asUnauthenticated(err)
	}
	return s.writeToken(w, r, sess, 0)
}

// target resolves the role a credentials request acts on: the role query
// parameter, or the caller itself.
func (s *Surface) target(r *http.Request, rc *api.Ctx) (core.ConjurRole, error) {
	if err := s.sameAccount(r, rc); err != nil {
		return core.ConjurRole{}, err
	}
	if !r.URL.Query().Has("role") {
		return s.core.SelfRole(r.Context(), rc.Session)
	}
	return s.core.FindConjurRole(r.Context(), rc.Session, r.PathValue("account"), r.URL.Query().Get("role"))
}

// password is PUT /authn/{account}/password: Basic credentials of the
// caller, the raw body the new password; 204.
func (s *Surface) password(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	t, err := s.target(r, rc)
	if err != nil {
		return err
	}
	if err := s.core.AuthorizeConjurCredentials(r.Context(), rc.Session, rc.Caller, t, core.OpPassword); err != nil {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	if err := s.core.ChangePassword(r.Context(), rc.Session, rc.Caller, string(body)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// rotateKey is PUT /authn/{account}/api_key[?role=kind:id]: a new API key
// for the caller (Basic) or for another role (a token with update on it).
// The old key stops working at once.
func (s *Surface) rotateKey(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	t, err := s.target(r, rc)
	if err != nil {
		return err
	}
	if err := s.core.AuthorizeConjurCredentials(r.Context(), rc.Session, rc.Caller, t, core.OpRotate); err != nil {
		return err
	}
	key, err := s.core.RotateConjurKey(r.Context(), rc.Session, rc.Caller, t.Principal)
	if err != nil {
		return err
	}
	writeText(w, key)
	return nil
}

// rotation is the answer of GET /authn/{account}/api_key.
type rotation struct {
	Role      string `json:"role"`
	Timestamp string `json:"timestamp"`
}

// keyRotation is GET /authn/{account}/api_key[?role=kind:id]: when the
// role's API key last changed.
func (s *Surface) keyRotation(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	t, err := s.target(r, rc)
	if err != nil {
		return err
	}
	if err := s.core.AuthorizeConjurCredentials(r.Context(), rc.Session, rc.Caller, t, core.OpReadRotation); err != nil {
		return err
	}
	at, err := s.core.ConjurKeyRotatedAt(r.Context(), t.Principal)
	if err != nil && core.AsError(err).Kind != core.NotFound {
		return err
	}
	out := rotation{Role: t.ID}
	if !at.IsZero() {
		out.Timestamp = at.UTC().Format("2006-01-02T15:04:05Z")
	}
	send(w, reply{http.StatusOK, out})
	return nil
}
