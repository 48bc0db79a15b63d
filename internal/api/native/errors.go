package native

import (
	"log/slog"
	"net/http"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
)

// statusOf is the native surface's table from error kind to status: the
// usual statuses, unchanged.
func statusOf(k core.Kind) int { return api.Status(k) }

// ErrorBody is the native error format.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of ErrorBody.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// render decides what the client sees of an error: failed authentication
// is one generic answer whatever the reason (the reason is in the audit).
func render(e *core.Error) (int, ErrorBody) {
	status := statusOf(e.Kind)
	body := ErrorBody{Error: ErrorDetail{Code: e.Kind.String(), Message: e.Msg, Field: e.Field}}
	switch e.Kind {
	case core.Unauthenticated:
		body.Error.Message = "authentication failed"
		body.Error.Field = ""
		if e.Reason == "credential_strength" {
			body.Error.Message = e.Msg
		}
	case core.Internal:
		body.Error.Message = "internal error"
		body.Error.Field = ""
	}
	if body.Error.Message == "" {
		body.Error.Message = http.StatusText(status)
	}
	return status, body
}

// writeError renders err in the native format; anything not a core error
// is a 500 with a generic body, its cause logged with the request id.
func writeError(log *slog.Logger) func(w http.ResponseWriter, r *http.Request, err error) {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		e := core.AsError(err)
		if api.IsTooLarge(err) {
			e = api.TooLarge()
		}
		status, body := render(e)
		if status >= 500 {
			api.LogFailure(log, r, e)
		}
		api.SetRetryAfter(w, e)
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="keyward"`)
		}
		api.WriteJSON(w, status, body)
	}
}
