package privx

import (
	"net/http"
	"strings"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
)

// ErrorBody is PrivX's error format.
type ErrorBody struct {
	ErrorCode    string `json:"error_code"`
	ErrorMessage string `json:"error_message"`
	Property     string `json:"property,omitempty"`
}

// errorCode is Go's status text in upper snake case (BAD_REQUEST…).
func errorCode(status int) string {
	return strings.ToUpper(strings.ReplaceAll(http.StatusText(status), " ", "_"))
}

// Errors is the PrivX error table: the kind's usual status; a failed
// authentication says nothing of why (the reason is in the audit).
func (s *Surface) Errors() api.ErrorTable { return errorTable }

func errorTable(_ *http.Request, e *core.Error) api.Reply {
	status := api.Status(e.Kind)
	body := ErrorBody{ErrorCode: errorCode(status), ErrorMessage: e.Msg, Property: e.Field}
	switch e.Kind {
	case core.Unauthenticated:
		body.ErrorMessage, body.Property = "authentication failed", ""
	case core.Internal:
		body.ErrorMessage, body.Property = "internal error", ""
	}
	if body.ErrorMessage == "" {
		body.ErrorMessage = http.StatusText(status)
	}
	rp := api.Reply{Status: status, ContentType: "application/json", Body: api.MarshalJSON(body)}
	if status == http.StatusUnauthorized {
		rp.Header = map[string]string{"WWW-Authenticate": `Bearer realm="keyward"`}
	}
	return rp
}

// renamed returns err with its field renamed to PrivX's member name.
func renamed(err error, names map[string]string) error {
	e, ok := err.(*core.Error)
	if !ok || e.Field == "" {
		return err
	}
	c := *e
	if n, ok := names[c.Field]; ok {
		c.Field = n
	} else if i := strings.IndexByte(c.Field, '.'); i > 0 {
		if n, ok := names[c.Field[:i]+".*"]; ok {
			c.Field = n
		}
	}
	return &c
}

func badRequest(field, msg string) error {
	return &core.Error{Kind: core.Invalid, Field: field, Msg: msg}
}
