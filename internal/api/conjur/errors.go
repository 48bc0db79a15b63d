package conjur

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
)

// Reasons this surface gives its own refusals, beside the core's.
const (
	// reasonBadRequest is a missing or unparsable request parameter:
	// Conjur answers 400 with an empty body.
	reasonBadRequest = "bad_request"
	// reasonJWTExpired is an expired JWT at authn-jwt: Conjur's only
	// authenticate failure with a body (CONJ00016E).
	reasonJWTExpired = "jwt_expired"
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
		if e.Reason == core.ReasonCredStrength || e.Reason == reasonJWTExpired {
			return reply{status, message("unauthorized", e.Msg)}
		}
		return reply{status, nil}
	case core.Forbidden:
		return reply{status, nil}
	case core.Invalid:
		switch e.Reason {
		case reasonBadRequest:
			return reply{http.StatusBadRequest, nil}
		case core.ReasonNotApplicable:
			return reply{http.StatusMethodNotAllowed, message("method_not_allowed", e.Msg)}
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
		return reply{status, message("service_unavailable", e.Msg)}
	case core.NotImplemented:
		return reply{status, message("not_implemented", e.Msg)}
	case core.TooLarge:
		return reply{status, message("payload_too_large", "request body is too large")}
	}
	return reply{status, message("internal_error", "internal error")}
}

// statusBody is Conjur's authenticator status answer.
type statusBody struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// renderStatus is an authenticator status failure: the status code by the
// same kind table (404 not supported or undefined, 403, 501, and 500 for a
// configuration error), the body naming Conjur's error class and code.
func renderStatus(se *core.StatusError) reply {
	return reply{statusOf(se.Kind), statusBody{Status: "error", Error: se.Class + ": " + se.Code + " " + se.Msg}}
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

// writeError renders err; anything not a core error is a 500 with a
// generic body, its cause logged with the request id.
func writeError(log *slog.Logger, w http.ResponseWriter, r *http.Request, err error) {
	e := core.AsError(err)
	if api.IsTooLarge(err) {
		e = api.TooLarge()
	}
	rp := render(e)
	if rp.status >= 500 {
		api.LogFailure(log, r, e)
	}
	api.SetRetryAfter(w, e)
	send(w, rp)
}
