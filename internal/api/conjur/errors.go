package conjur

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
)

// Conjur's words for what the core says in its own.
const (
	credentialStrengthMsg = "Credential strength is insufficient"
	passwordRuleMsg       = "CONJ00046E The password you have chosen does not meet the complexity requirements. Choose a password that includes: 12-128 characters, 2 uppercase letters, 2 lowercase letters, 1 digit and 1 special character"
	jwtExpiredMsg         = "CONJ00016E Token expired"
)

// statusOf is the surface's one table from error kind to status. Conjur
// answers Invalid with 422 (validation_failed); every other kind has its
// usual status.
func statusOf(k core.Kind) int {
	if k == core.Invalid {
		return http.StatusUnprocessableEntity
	}
	return api.Status(k)
}

// errorBody is Conjur's (Rails') error body.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string        `json:"code"`
	Message string        `json:"message"`
	Details []errorTarget `json:"details,omitempty"`
}

// errorTarget is one entry of a validation failure's details array.
type errorTarget struct {
	Code    string `json:"code"`
	Target  string `json:"target"`
	Message string `json:"message"`
}

// reply is what the client sees of an error: a status and a body, nil
// for Conjur's bare `head` answers.
type reply struct {
	status int
	body   any
}

// message is a Conjur error body with a code and a message.
func message(code, msg string) errorBody {
	return errorBody{Error: errorDetail{Code: code, Message: msg}}
}

// render decides what the client sees of an error, as Conjur does: failed
// authentication is an empty 401 whatever the reason (the reason is in the
// audit), except Conjur's two answers with a message; Forbidden and bad
// requests are empty; validation failures carry Conjur's details array.
func render(e *core.Error) reply {
	status := statusOf(e.Kind)
	switch e.Kind {
	case core.Unauthenticated:
		switch e.Reason {
		case core.ReasonCredentialStrength:
			return reply{status, message("unauthorized", credentialStrengthMsg)}
		case core.ReasonTokenExpired:
			return reply{status, message("unauthorized", jwtExpiredMsg)}
		}
		return reply{status, nil}
	case core.Forbidden:
		return reply{status, nil}
	case core.Invalid:
		switch e.Reason {
		case core.ReasonBadRequest:
			return reply{http.StatusBadRequest, nil}
		case core.ReasonNotApplicable:
			return reply{http.StatusMethodNotAllowed, message("method_not_allowed", e.Msg)}
		case core.ReasonWeakPassword:
			e = &core.Error{Kind: e.Kind, Reason: e.Reason, Field: e.Field, Msg: passwordRuleMsg}
		}
		if e.Field == "" {
			return reply{status, message("validation_failed", e.Msg)}
		}
		return reply{status, errorBody{Error: errorDetail{Code: "validation_failed", Message: e.Field + " " + e.Msg,
			Details: []errorTarget{{Code: "validation_failed", Target: e.Field, Message: e.Msg}}}}}
	case core.NotFound:
		return reply{status, message("not_found", e.Msg)}
	case core.Conflict:
		return reply{status, message("conflict", e.Msg)}
	case core.RateLimited:
		return reply{status, message("too_many_requests", e.Msg)}
	case core.Unavailable:
		if e.Reason == core.ReasonAuthnUnavailable || e.Reason == core.ReasonAuthnMisconfigured {
			// An outside provider (JWKS, discovery, directory) that cannot
			// be reached or a service that cannot be built: Conjur answers
			// authenticate like any failed authentication; its status
			// route names the cause.
			return reply{http.StatusUnauthorized, nil}
		}
		return reply{status, message("service_unavailable", e.Msg)}
	case core.NotImplemented:
		return reply{status, message("not_implemented", e.Msg)}
	case core.TooLarge:
		return reply{status, message("payload_too_large", "request body is too large")}
	case core.MethodNotAllowed:
		return reply{status, message("method_not_allowed", e.Msg)}
	}
	return reply{status, message("internal_error", "internal error")}
}

// statusBody is Conjur's authenticator status answer.
type statusBody struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// renderStatus words an authenticator status failure as Conjur does: the
// status code by the kind table (404 not supported or undefined, 403, 501,
// and 500 for a configuration error), the body naming Conjur's error class
// and code.
func renderStatus(r *http.Request, sess core.Session, typ string, e *core.Error) reply {
	account, svc := r.PathValue("account"), typ
	if id := r.PathValue("service_id"); id != "" {
		svc += "/" + id
	}
	var class, code, msg string
	switch e.Reason {
	case core.ReasonUnsupportedType:
		class, code, msg = "Errors::Authentication::AuthenticatorNotSupported", "CONJ00001E", "Authenticator '"+typ+"' is not supported in Conjur"
	case core.ReasonStatusNotSupported:
		class, code, msg = "Errors::Authentication::StatusNotSupported", "CONJ00056E", "Status check not supported for authenticator '"+typ+"'"
	case core.ReasonAccountNotDefined:
		class, code, msg = "Errors::Authentication::Security::AccountNotDefined", "CONJ00008E", "Account '"+account+"' is not defined in Conjur"
	case core.ReasonServiceNotFound:
		class, code, msg = "Errors::Authentication::Security::WebserviceNotFound", "CONJ00005E", "Webservice '"+svc+"' not found"
	case core.ReasonMissingPermission:
		class, code, msg = "Errors::Authentication::Security::RoleNotAuthorizedOnResource", "CONJ00006E",
			"'"+sess.RoleID()+"' does not have 'read' privilege on "+account+":webservice:conjur/"+svc+"/status"
	case core.ReasonServiceMisconfigure:
		class, code, msg = "Errors::Authentication::AuthnJwt::InvalidConfiguration", "CONJ00118E", e.Msg
	case core.ReasonJWKSFetchFailed:
		class, code, msg = "Errors::Authentication::AuthnJwt::FetchJwksKeysFailed", "CONJ00087E",
			"Failed to fetch JWKS from '"+e.Msg+"'. Reason: '"+cause(e)+"'"
	case core.ReasonDiscoveryFailed:
		class, code, msg = "Errors::Authentication::OAuth::ProviderDiscoveryFailed", "CONJ00011E",
			"Failed to discover Identity Provider (Provider URI: '"+e.Msg+"'). Reason: '"+cause(e)+"'"
	case core.ReasonServiceIDMissing:
		switch typ {
		case "authn-oidc":
			class, code, msg = "Errors::Authentication::AuthnOidc::ServiceIdMissing", "CONJ00075E", "Service id is required when authenticating with authn-oidc"
		case "authn-jwt":
			class, code, msg = "Errors::Authentication::AuthnJwt::ServiceIdMissing", "CONJ00097E", "Service ID is required when authenticating with authn-jwt"
		default:
			return reply{http.StatusNotFound, statusBody{Status: "error", Error: "Errors::Authentication::Security::WebserviceNotFound: CONJ00005E Webservice '" + svc + "' not found"}}
		}
		return reply{http.StatusInternalServerError, statusBody{Status: "error", Error: class + ": " + code + " " + msg}}
	default:
		return render(e)
	}
	return reply{statusOf(e.Kind), statusBody{Status: "error", Error: class + ": " + code + " " + msg}}
}

// cause is the underlying error's text of a core error, or its message.
func cause(e *core.Error) string {
	if e.Err != nil {
		return e.Err.Error()
	}
	return e.Msg
}

// marshal encodes a body as Rails does: no HTML escaping, no newline.
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// send writes a reply: JSON bodies as Rails renders them, empty ones bare.
func send(w http.ResponseWriter, rp reply) {
	w.Header().Set("Cache-Control", "no-store")
	if rp.body == nil {
		w.WriteHeader(rp.status)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(rp.status)
	_, _ = w.Write(marshal(rp.body))
}

// Errors is the Conjur error table.
func (s *Surface) Errors() api.ErrorTable { return errorTable }

func errorTable(r *http.Request, e *core.Error) api.Reply {
	rp := render(e)
	if e.Kind == core.NotFound && e.Reason == core.ReasonUnsupportedType {
		// An authenticator type keyward does not know (Unknown): the first
		// segment of the path names it, as Conjur's status answer does.
		typ, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		rp = reply{http.StatusNotFound, statusBody{Status: "error",
			Error: "Errors::Authentication::AuthenticatorNotSupported: CONJ00001E Authenticator '" + typ + "' is not supported in Conjur"}}
	}
	if rp.body == nil {
		return api.Reply{Status: rp.status}
	}
	return api.Reply{Status: rp.status, ContentType: "application/json; charset=utf-8", Body: marshal(rp.body)}
}
