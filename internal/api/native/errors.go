package native

import (
	"net/http"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
)

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

// render decides what the client sees of an error: the kind's usual status;
// failed authentication is one generic answer whatever the reason (the
// reason is in the audit), except that a token refused a credential change
// is told so, and that a correct password still lacking a right second
// factor is told mfa_required or mfa_invalid (never said before the
// password is proven, so it tells a stranger nothing). A session below a
// route's security level is told insufficient_level, so a client knows to
// log in more strongly.
func render(e *core.Error) (int, ErrorBody) {
	status := api.Status(e.Kind)
	body := ErrorBody{Error: ErrorDetail{Code: e.Kind.String(), Message: e.Msg, Field: e.Field}}
	switch e.Kind {
	case core.Unauthenticated:
		body.Error.Message = "authentication failed"
		body.Error.Field = ""
		switch e.Reason {
		case core.ReasonCredentialStrength:
			body.Error.Message = e.Msg
		case core.ReasonMFARequired, core.ReasonMFAInvalid:
			body.Error.Code, body.Error.Message = string(e.Reason), e.Msg
		}
	case core.Forbidden:
		if e.Reason == core.ReasonInsufficientLevel {
			body.Error.Code = string(e.Reason)
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

// Errors is the native error table.
func (s *Surface) Errors() api.ErrorTable { return errorTable }

func errorTable(_ *http.Request, e *core.Error) api.Reply {
	status, body := render(e)
	rp := api.Reply{Status: status, ContentType: "application/json", Body: api.MarshalJSON(body)}
	if status == http.StatusUnauthorized {
		rp.Header = map[string]string{"WWW-Authenticate": `Bearer realm="keyward"`}
	}
	return rp
}
