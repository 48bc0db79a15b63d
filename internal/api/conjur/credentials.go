package conjur

import (
	"encoding/base64"
	"io"
	"net/http"
	"strings"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/model"
)

// readBody reads the whole request body, within the server's limit; an
// unreadable one is Conjur's bad request.
func readBody(r *http.Request) ([]byte, error) {
	b, err := api.ReadBody(r)
	if e := core.AsError(err); err != nil && e.Kind == core.Invalid {
		e.Reason = core.ReasonBadRequest
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
func (s *Surface) writeToken(w http.ResponseWriter, r *http.Request, sess core.Session) error {
	tok, err := s.core.IssueToken(sess, core.FormatConjur)
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
	cred := core.Credential{Kind: core.CredNone, Account: account, Event: "login", Conjur: true}
	if login, secret, err := api.ParseBasic(r.Header.Get("Authorization")); err == nil {
		cred = core.Credential{Kind: core.CredPassword, Account: account, Login: roleLogin(login), Secret: secret,
			AcceptKey: true, Event: "login", Conjur: true}
	}
	sess, err := s.core.Authenticate(ctx, rc.Caller, cred)
	if err != nil {
		return asUnauthenticated(err)
	}
	key, err := s.core.ConjurKey(ctx, rc.Caller, sess)
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
	body, err := readBody(r)
	if err != nil {
		return err
	}
	sess, err := s.core.Authenticate(r.Context(), rc.Caller, core.Credential{Kind: core.CredAPIKey, Account: account,
		Login: roleLogin(login), Secret: strings.TrimSpace(string(body)), Conjur: true})
	if err != nil {
		return asUnauthenticated(err)
	}
	return s.writeToken(w, r, sess)
}

// conjurRole is a Conjur role id (account:kind:id) named by a credentials
// request: a user or host (an actor, with credentials), or a keyward role
// named by a Conjur group, layer or policy id (no credentials). A role that
// does not exist is still named, so every refusal can be worded alike for
// roles that exist and roles that do not.
type conjurRole struct {
	id        string // account:kind:id, or the parameter as given if it is not one
	account   string
	actor     bool
	exists    bool
	principal model.Principal
}

// target resolves the role a credentials request acts on: the role query
// parameter (kind:id, or account:kind:id), or the caller itself.
func (s *Surface) target(r *http.Request, rc *api.Ctx) (conjurRole, error) {
	ctx, sess := r.Context(), rc.Session()
	if !r.URL.Query().Has("role") {
		p, err := s.core.GetPrincipal(ctx, rc.Access, sess.PrincipalID)
		if err != nil {
			return conjurRole{}, err
		}
		return conjurRole{id: p.RoleID(), account: p.Account, actor: true, exists: true, principal: p}, nil
	}
	param := r.URL.Query().Get("role")
	parts := strings.Split(param, ":")
	var t conjurRole
	var kind, id string
	switch len(parts) {
	case 2:
		t.account, kind, id = r.PathValue("account"), parts[0], parts[1]
	case 3:
		t.account, kind, id = parts[0], parts[1], parts[2]
	}
	if t.account == "" || id == "" {
		t.id = param
		return t, nil
	}
	t.id = t.account + ":" + kind + ":" + id
	switch kind {
	case string(model.KindUser), string(model.KindHost):
		t.actor = true
		p, err := s.core.FindPrincipalOfKind(ctx, t.account, model.Kind(kind), id)
		if err != nil && core.AsError(err).Kind != core.NotFound {
			return conjurRole{}, err
		}
		t.exists, t.principal = err == nil, p
	case "group", "layer", "policy":
		ok, err := s.core.RoleExists(ctx, t.account, id)
		if err != nil {
			return conjurRole{}, err
		}
		t.exists = ok
	}
	return t, nil
}

// credentialOp is what a credentials request does to its target.
type credentialOp int

const (
	opRotate       credentialOp = iota // PUT api_key
	opReadRotation                     // GET api_key
	opPassword                         // PUT password
)

var opEvents = map[credentialOp]string{opRotate: "rotate", opReadRotation: "apikey.rotation", opPassword: "password"}

// authorizeCredentials applies Conjur's credentials-controller rules, in
// its order, to the request's access acting on target t:
//   - a token acting on its own role: 401 "Credential strength is
//     insufficient" (only a password or API key changes credentials);
//   - the password route acts only on the caller itself, and Basic
//     credentials only on themselves: 401 (foreign role);
//   - a token acting on another role must see it (users-view or
//     users-manage for users and hosts, roles-view or roles-manage for
//     roles), else 404 CONJ00123E, worded the same whether the role exists;
//     a role it may only read, or an actor it may not update, is 403;
//   - a role without credentials is not applicable (405 CONJ00126E).
//
// Every refusal is audited by the core.
func (s *Surface) authorizeCredentials(r *http.Request, rc *api.Ctx, t conjurRole, op credentialOp) error {
	ctx, a := r.Context(), rc.Access
	sess := a.Session
	self := t.exists && t.actor && t.principal.ID == sess.PrincipalID && t.account == sess.Account
	token := sess.Level == core.LevelToken
	refuse := func(err *core.Error) error { return s.core.Refuse(ctx, a, opEvents[op], t.id, err) }
	if token && self {
		return refuse(&core.Error{Kind: core.Unauthenticated, Reason: core.ReasonCredentialStrength, Msg: credentialStrengthMsg})
	}
	if !self && (op == opPassword || !token) {
		return refuse(&core.Error{Kind: core.Unauthenticated, Reason: core.ReasonForeignRole, Msg: "operation attempted against foreign role"})
	}
	if !self {
		read, update := a.Has(core.PermUsersView), a.Has(core.PermUsersManage)
		if !t.actor {
			read, update = a.Has(core.PermRolesView), a.Has(core.PermRolesManage)
		}
		switch {
		case t.account != sess.Account, !read && !update, !t.exists:
			return refuse(&core.Error{Kind: core.NotFound, Reason: core.ReasonRoleNotFound,
				Msg: "CONJ00123E Resource '" + t.id + "' requested by role '" + sess.RoleID() + "' not found"})
		case t.actor && !s.core.CustomerSees(a, t.principal):
			// A key limited to customers: a principal of another customer
			// is answered as a missing one (audited customer_not_allowed).
			return refuse(&core.Error{Kind: core.NotFound, Reason: core.ReasonCustomer,
				Msg: "CONJ00123E Resource '" + t.id + "' requested by role '" + sess.RoleID() + "' not found"})
		case !t.actor && read:
			return refuse(&core.Error{Kind: core.Forbidden, Reason: core.ReasonMissingPermission, Msg: "role may only read " + t.id})
		case !update:
			return refuse(&core.Error{Kind: core.Forbidden, Reason: core.ReasonMissingPermission, Msg: "role may not update " + t.id})
		}
		// Rotation is checked by the core's RotateConjurKey itself: once.
		if t.actor && op != opRotate {
			if err := s.core.Outranks(ctx, a, t.principal); err != nil {
				return err
			}
		}
	}
	if !t.actor {
		return refuse(&core.Error{Kind: core.Invalid, Reason: core.ReasonNotApplicable,
			Msg: "CONJ00126E Role '" + t.id + "' is not applicable for key rotation"})
	}
	return nil
}

// password is PUT /authn/{account}/password: Basic credentials of the
// caller, the raw body the new password; 204.
func (s *Surface) password(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	t, err := s.target(r, rc)
	if err != nil {
		return err
	}
	if err := s.authorizeCredentials(r, rc, t, opPassword); err != nil {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	if err := s.core.ChangePassword(r.Context(), rc.Access, string(body)); err != nil {
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
	if err := s.authorizeCredentials(r, rc, t, opRotate); err != nil {
		return err
	}
	key, err := s.core.RotateConjurKey(r.Context(), rc.Access, t.principal)
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
	if err := s.authorizeCredentials(r, rc, t, opReadRotation); err != nil {
		return err
	}
	at, err := s.core.ConjurKeyRotatedAt(r.Context(), t.principal)
	if err != nil && core.AsError(err).Kind != core.NotFound {
		return err
	}
	out := rotation{Role: t.id}
	if !at.IsZero() {
		out.Timestamp = at.UTC().Format("2006-01-02T15:04:05Z")
	}
	send(w, reply{http.StatusOK, out})
	return nil
}
