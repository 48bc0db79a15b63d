package argus

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
)

// envelope is every Argus answer.
type envelope struct {
	ResponseCode int       `json:"responseCode"`
	Limit        int       `json:"limit"`
	Offset       int       `json:"offset"`
	Count        int       `json:"count"`
	Size         int       `json:"size"`
	Messages     []message `json:"messages"`
	Data         any       `json:"data"`
}

// message is one error of an answer.
type message struct {
	Message         string  `json:"message"`
	MessageTemplate string  `json:"messageTemplate"`
	Type            string  `json:"type"` // ACTION_ERROR or FIELD_ERROR
	Field           *string `json:"field"`
	Parameter       any     `json:"parameter"`
	Timestamp       int64   `json:"timestamp"`
}

// writeOne answers a single object (or null).
func writeOne(w http.ResponseWriter, data any) {
	api.WriteJSON(w, http.StatusOK, envelope{ResponseCode: http.StatusOK, Messages: []message{}, Data: data})
}

// writeList answers one page of a list of total items.
func writeList[T any](w http.ResponseWriter, items []T, pg page, total int) {
	if items == nil {
		items = []T{}
	}
	api.WriteJSON(w, http.StatusOK, envelope{ResponseCode: http.StatusOK, Limit: pg.limit, Offset: pg.offset, Count: total,
		Size: len(items), Messages: []message{}, Data: items})
}

// page is a list's limit and offset, as applied.
type page struct{ limit, offset int }

// readPage reads limit (1 to 1000, default 25) and offset (≥ 0).
func readPage(r *http.Request) (page, error) {
	pg := page{limit: 25}
	var bad []core.FieldError
	q := r.URL.Query()
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			bad = append(bad, core.FieldError{Field: "limit", Value: v, Msg: "limit must be 1 to 1000"})
		}
		pg.limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			bad = append(bad, core.FieldError{Field: "offset", Value: v, Msg: "offset must be 0 or more"})
		}
		pg.offset = n
	}
	return pg, fieldErrors(bad)
}

// slice applies a page to items.
func slice[T any](items []T, pg page) []T {
	if pg.offset >= len(items) {
		return []T{}
	}
	return items[pg.offset:min(len(items), pg.offset+pg.limit)]
}

// fieldErrors is bad as one Invalid error, nil when empty.
func fieldErrors(bad []core.FieldError) error {
	if len(bad) == 0 {
		return nil
	}
	return &core.Error{Kind: core.Invalid, Field: bad[0].Field, Msg: bad[0].Msg, Value: bad[0].Value, Fields: bad}
}

// argusField names a core field as Argus's bodies do.
var argusField = map[string]string{
	"valid_sources":   "validSources",
	"expires_in_days": "expirationDays",
	"expires_at":      "expirationTimestamp",
	"roles":           "sessionConstraints.function",
	"functions":       "sessionConstraints.function",
	"customers":       "sessionConstraints.customer",
	"login":           "userName",
}

func fieldName(f string) string {
	if n, ok := argusField[f]; ok {
		return n
	}
	return f
}

// templates: what the client sees of an unauthenticated reason.
func authTemplate(r *http.Request, reason core.Reason) string {
	keyPresented := len(r.Header.Values(HeaderAPIKey)) == 1
	switch reason {
	case core.ReasonMissingCredentials:
		return "authentication.required"
	case core.ReasonMFARequired:
		return "authentication.totp.required"
	case core.ReasonSignatureInvalid:
		return "authentication.signature.invalid"
	case core.ReasonSignatureTimestamp:
		return "authentication.signature.timestamp"
	case core.ReasonSignatureReplay:
		return "authentication.signature.replay"
	case core.ReasonSignatureClockSkew:
		return "authentication.signature.clockskew"
	case core.ReasonMalformedKey, core.ReasonUnknownKey, core.ReasonBadSecret, core.ReasonInvalidKey, core.ReasonLoginMismatch:
		return "authentication.apikey.invalid"
	}
	if keyPresented {
		switch reason {
		case core.ReasonExpired:
			return "authentication.apikey.expired"
		case core.ReasonSourceNotAllowed:
			return "authentication.apikey.source"
		case core.ReasonRevoked, core.ReasonPrincipalGone, core.ReasonWrongAccount:
			return "authentication.apikey.invalid"
		}
	}
	return "authentication.failed"
}

// render is the surface's one error table.
func render(r *http.Request, e *core.Error) api.Reply {
	status := api.Status(e.Kind)
	tmpl := "request.failed"
	msg := e.Msg
	var header map[string]string
	switch e.Kind {
	case core.Unauthenticated:
		tmpl = authTemplate(r, e.Reason)
		msg = map[string]string{
			"authentication.required":      "authentication required",
			"authentication.totp.required": "a TOTP code is required",
		}[tmpl]
		if msg == "" {
			msg = "authentication failed"
		}
	case core.Forbidden:
		switch e.Reason {
		case core.ReasonSecurityLevel, core.ReasonInsufficientLevel:
			tmpl = "authorization.securitylevel"
		case core.ReasonCustomer:
			tmpl = "authorization.customer"
		default:
			tmpl = "authorization.permission"
		}
	case core.NotFound:
		tmpl = "object.notfound"
	case core.Conflict:
		tmpl = "request.conflict"
		if e.Reason == core.ReasonIdempotencyConflict {
			tmpl = "request.idempotency.conflict"
		}
	case core.Invalid:
		status, tmpl = http.StatusPreconditionFailed, "validation.failed"
	case core.RateLimited:
		tmpl = "request.ratelimited"
	case core.Unavailable:
		tmpl = "service.unavailable"
		if e.RetryAfter > 0 {
			header = map[string]string{"Retry-After": strconv.Itoa(int(e.RetryAfter.Seconds() + 0.999))}
		}
	case core.TooLarge:
		tmpl = "request.toolarge"
	case core.MethodNotAllowed:
		tmpl = "request.method"
	case core.NotImplemented:
		tmpl = "request.notimplemented"
	default:
		tmpl, msg = "internal.error", "internal error"
	}
	if msg == "" {
		msg = tmpl
	}
	now := time.Now().UnixMilli()
	var msgs []message
	if e.Kind == core.Invalid && e.Field != "" {
		fields := e.Fields
		if len(fields) == 0 {
			fields = []core.FieldError{{Field: e.Field, Msg: e.Msg, Value: e.Value}}
		}
		for _, f := range fields {
			name := fieldName(f.Field)
			var param any
			if f.Value != "" {
				param = f.Value
			}
			msgs = append(msgs, message{Message: f.Msg, MessageTemplate: tmpl, Type: "FIELD_ERROR", Field: &name, Parameter: param, Timestamp: now})
		}
	} else {
		msgs = []message{{Message: msg, MessageTemplate: tmpl, Type: "ACTION_ERROR", Timestamp: now}}
	}
	b, _ := json.Marshal(envelope{ResponseCode: status, Messages: msgs})
	return api.Reply{Status: status, ContentType: "application/json", Header: header, Body: append(b, '\n')}
}

// Errors is the surface's error table.
func (s *Surface) Errors() api.ErrorTable { return render }
