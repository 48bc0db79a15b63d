package conjur

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
)

// credentialReader takes an authenticator's credential from a request.
type credentialReader func(r *http.Request) (string, error)

// bodyRaw is a credential that is the whole body (an LDAP password, the
// JSON of authn-iam's signed headers).
func bodyRaw(r *http.Request) (string, error) {
	b, err := readBody(r)
	return string(b), err
}

// bodyForm is a credential in a form field of the body (jwt=…,
// id_token=…); missing or empty, it is Conjur's 400.
func bodyForm(field string) credentialReader {
	return func(r *http.Request) (string, error) {
		b, err := readBody(r)
		if err != nil {
			return "", err
		}
		vals, err := url.ParseQuery(string(b))
		if err != nil {
			return "", &core.Error{Kind: core.Invalid, Reason: core.ReasonBadRequest, Field: field, Msg: "body must be a form", Err: err}
		}
		v := vals.Get(field)
		if v == "" {
			return "", &core.Error{Kind: core.Invalid, Reason: core.ReasonBadRequest, Field: field, Msg: field + " is required"}
		}
		return v, nil
	}
}

// idToken is authn-oidc's id token: the form field id_token, or, with an
// empty body, the Authorization: Bearer header (Conjur takes either).
func idToken(r *http.Request) (string, error) {
	b, err := readBody(r)
	if err != nil {
		return "", err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		if h := r.Header.Get("Authorization"); h != "" {
			if tok, err := api.ParseBearer(h); err == nil {
				return tok, nil
			}
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	return bodyForm("id_token")(r)
}

// viaError gives authn-jwt's expired token Conjur's CONJ00016E answer;
// every other refusal keeps its kind (empty 401, or 403 for a role the
// service does not allow).
func viaError(typ string, err error) error {
	e := core.AsError(err)
	if typ == "authn-jwt" && e.Kind == core.Unauthenticated && e.Reason == core.ReasonExpired {
		return &core.Error{Kind: core.Unauthenticated, Reason: core.ReasonTokenExpired, Msg: "token expired", Err: err}
	}
	return err
}

// via authenticates through the configured service typ/{service_id} of
// {account}, as the login in the path when there is one, and answers a
// Conjur access token.
func (s *Surface) via(typ string, read credentialReader) func(http.ResponseWriter, *http.Request, *api.Ctx) error {
	return func(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
		cred, err := read(r)
		if err != nil {
			return err
		}
		sess, err := s.core.Authenticate(r.Context(), rc.Caller, core.Credential{Kind: core.CredOutside, Account: r.PathValue("account"),
			Type: typ, ServiceID: r.PathValue("service_id"), Login: r.PathValue("login"), Secret: cred})
		if err != nil {
			return viaError(typ, err)
		}
		return s.writeToken(w, r, sess)
	}
}

// oidcCode is GET /authn-oidc/{service_id}/{account}/authenticate: the
// authorization-code flow with PKCE; code and nonce are required (400).
func (s *Surface) oidcCode(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	q := r.URL.Query()
	for _, p := range []string{"code", "nonce"} {
		if q.Get(p) == "" {
			return &core.Error{Kind: core.Invalid, Reason: core.ReasonBadRequest, Field: p, Msg: p + " is required"}
		}
	}
	sess, err := s.core.Authenticate(r.Context(), rc.Caller, core.Credential{Kind: core.CredOutside, Account: r.PathValue("account"),
		Type: "authn-oidc", ServiceID: r.PathValue("service_id"), Code: q.Get("code"), CodeVerifier: q.Get("code_verifier"), Nonce: q.Get("nonce")})
	if err != nil {
		return codeFlowError(err)
	}
	return s.writeToken(w, r, sess)
}

// codeFlowError answers the code flow's refusals as Conjur does: 400 for
// what the request got wrong (a code, verifier or nonce the provider or the
// id token refuses, a service that is not defined, a user the claim names
// who does not exist or whom the service does not admit); a claim missing
// from the token and every other refusal keep their answer.
func codeFlowError(err error) error {
	e := core.AsError(err)
	switch {
	case e.Kind == core.Unauthenticated && (e.Reason == core.ReasonBadRequest || e.Reason == core.ReasonUndefinedAuthn || e.Reason == core.ReasonUnknownLogin),
		e.Kind == core.Forbidden && e.Reason == core.ReasonNotAllowed:
		return &core.Error{Kind: core.Invalid, Reason: core.ReasonBadRequest, Msg: "authentication request refused", Err: err}
	}
	return err
}

// oidcNoService is POST /authn-oidc/{account}/authenticate: Conjur needs a
// service id there and answers 401; the core refuses (and audits) the
// service nobody can define.
func (s *Surface) oidcNoService(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	_, err := s.core.Authenticate(r.Context(), rc.Caller, core.Credential{Kind: core.CredOutside, Account: r.PathValue("account"),
		Type: "authn-oidc"})
	if err == nil {
		err = &core.Error{Kind: core.Unauthenticated, Reason: core.ReasonUndefinedAuthn, Msg: "authn-oidc needs a service id"}
	}
	return err
}

// ldapLogin is GET /authn-ldap/{service_id}/{account}/login: LDAP
// credentials in Basic answer the role's Conjur API key.
func (s *Surface) ldapLogin(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	account, svc := r.PathValue("account"), r.PathValue("service_id")
	cred := core.Credential{Kind: core.CredNone, Account: account, Type: "authn-ldap", ServiceID: svc, Event: "login"}
	if login, password, err := api.ParseBasic(r.Header.Get("Authorization")); err == nil {
		cred = core.Credential{Kind: core.CredOutside, Account: account, Type: "authn-ldap", ServiceID: svc, Login: login,
			Secret: password, Event: "login"}
	}
	sess, err := s.core.Authenticate(r.Context(), rc.Caller, cred)
	if err != nil {
		return err
	}
	key, err := s.core.ConjurKey(r.Context(), rc.Caller, sess)
	if err != nil {
		return asUnauthenticated(err)
	}
	writeText(w, key)
	return nil
}

// k8s answers authn-k8s's routes: keyward does not implement it.
func (s *Surface) k8s(http.ResponseWriter, *http.Request, *api.Ctx) error {
	return &core.Error{Kind: core.NotImplemented, Reason: core.ReasonNotImplemented,
		Msg: "authn-k8s is not available in keyward; authenticate Kubernetes workloads with authn-jwt and their service account token"}
}

// parseEnabled reads Conjur's enabled parameter: a form field (the
// client's) or JSON, true or false (a string in any case, or a boolean).
func parseEnabled(r *http.Request) (bool, error) {
	bad := &core.Error{Kind: core.Invalid, Field: "enabled", Msg: "must be true or false"}
	var v string
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		b, err := readBody(r)
		if err != nil {
			return false, err
		}
		var body struct {
			Enabled json.RawMessage `json:"enabled"`
		}
		if err := json.Unmarshal(b, &body); err != nil {
			return false, bad
		}
		raw := bytes.TrimSpace(body.Enabled)
		if len(raw) == 0 || string(raw) == "null" {
			return false, bad
		}
		var b2 bool
		if err := json.Unmarshal(raw, &b2); err == nil {
			return b2, nil
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return false, bad
		}
	} else {
		if err := r.ParseForm(); err != nil {
			if api.IsTooLarge(err) {
				return false, api.TooLarge()
			}
			return false, bad
		}
		v = r.Form.Get("enabled")
	}
	switch {
	case strings.EqualFold(v, "true"):
		return true, nil
	case strings.EqualFold(v, "false"):
		return false, nil
	}
	return false, bad
}

// enable is PATCH /{authenticator}[/{service_id}]/{account}: enables or
// disables a defined service; 204. An undefined service is Conjur's 401.
func (s *Surface) enable(typ string) func(http.ResponseWriter, *http.Request, *api.Ctx) error {
	return func(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
		on, err := parseEnabled(r)
		if err != nil {
			return err
		}
		if err := s.core.SetAuthenticatorEnabled(r.Context(), rc.Access, typ, r.PathValue("service_id"), on); err != nil {
			switch core.AsError(err).Kind {
			case core.Forbidden, core.Internal, core.Unavailable:
				return err
			}
			return &core.Error{Kind: core.Unauthenticated, Reason: core.ReasonUndefinedAuthn, Msg: "authenticator is not defined", Err: err}
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// status is GET /{authenticator}[/{service_id}]/{account}/status.
func (s *Surface) status(typ string) func(http.ResponseWriter, *http.Request, *api.Ctx) error {
	return func(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
		err := s.core.AuthenticatorStatus(r.Context(), rc.Access, r.PathValue("account"), typ, r.PathValue("service_id"))
		if err != nil {
			e := core.AsError(err)
			if e.Reason == core.ReasonServiceMisconfigure {
				s.log.Warn("authenticator status: configuration error", "request_id", rc.Caller.RequestID,
					"authenticator", typ, "service_id", r.PathValue("service_id"), "error", e.Msg)
			}
			send(w, renderStatus(r, rc.Session(), typ, e))
			return nil
		}
		send(w, reply{http.StatusOK, statusBody{Status: "ok"}})
		return nil
	}
}

// authenticatorLists is the answer of GET /authenticators.
type authenticatorLists struct {
	Installed  []string `json:"installed"`
	Configured []string `json:"configured"`
	Enabled    []string `json:"enabled"`
}

func (s *Surface) listAuthenticators(w http.ResponseWriter, r *http.Request, _ *api.Ctx) error {
	configured, enabled, err := s.core.AuthenticatorLists(r.Context(), s.defaultAccount)
	if err != nil {
		return err
	}
	send(w, reply{http.StatusOK, authenticatorLists{Installed: core.InstalledAuthenticators(), Configured: configured, Enabled: enabled}})
	return nil
}

// provider is one entry of GET /authn-oidc/{account}/providers.
type provider struct {
	ServiceID    string `json:"service_id"`
	Type         string `json:"type"`
	Name         string `json:"name"`
	Nonce        string `json:"nonce"`
	CodeVerifier string `json:"code_verifier"`
	RedirectURI  string `json:"redirect_uri"`
}

// providers lists an account's code-flow OIDC services; an unknown account
// has none, as in Conjur.
func (s *Surface) providers(w http.ResponseWriter, r *http.Request, _ *api.Ctx) error {
	ps, err := s.core.OIDCProviders(r.Context(), r.PathValue("account"))
	if err != nil && core.AsError(err).Kind != core.NotFound {
		return err
	}
	out := make([]provider, 0, len(ps))
	for _, p := range ps {
		out = append(out, provider{ServiceID: p.ServiceID, Type: "authn-oidc", Name: p.Name, Nonce: p.Nonce,
			CodeVerifier: p.CodeVerifier, RedirectURI: p.RedirectURI})
	}
	send(w, reply{http.StatusOK, out})
	return nil
}
