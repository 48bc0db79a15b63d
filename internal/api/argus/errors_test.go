package argus

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/core"
)

// TestErrorTable walks every kind and reason through the table: always the
// envelope with responseCode equal to the status, data null, the four
// numbers 0, one message or more; Invalid is 412; the templates the issue
// names come from the reasons that mean them.
func TestErrorTable(t *testing.T) {
	for _, k := range core.Kinds() {
		for _, reason := range core.Reasons() {
			rp := render(httptest.NewRequest("GET", "/", nil), &core.Error{Kind: k, Reason: reason, Field: "f", Msg: "m"})
			var e struct {
				ResponseCode               *int `json:"responseCode"`
				Limit, Offset, Count, Size *int
				Messages                   []message       `json:"messages"`
				Data                       json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(rp.Body, &e); err != nil {
				t.Fatalf("%v/%s: %v", k, reason, err)
			}
			if e.ResponseCode == nil || *e.ResponseCode != rp.Status || string(e.Data) != "null" || len(e.Messages) == 0 ||
				*e.Limit+*e.Offset+*e.Count+*e.Size != 0 {
				t.Fatalf("%v/%s: %s", k, reason, rp.Body)
			}
			if k == core.Invalid && (rp.Status != 412 || e.Messages[0].Type != "FIELD_ERROR" || *e.Messages[0].Field != "f") {
				t.Fatalf("Invalid: %d %s", rp.Status, rp.Body)
			}
		}
	}
	keyReq := httptest.NewRequest("GET", "/", nil)
	keyReq.Header.Set(HeaderAPIKey, "u/k/s")
	for _, c := range []struct {
		key    bool
		e      *core.Error
		status int
		tmpl   string
	}{
		{false, &core.Error{Kind: core.Unauthenticated, Reason: core.ReasonMissingCredentials}, 401, "authentication.required"},
		{false, &core.Error{Kind: core.Unauthenticated, Reason: core.ReasonBadPassword}, 401, "authentication.failed"},
		{false, &core.Error{Kind: core.Unauthenticated, Reason: core.ReasonMalformedCredentials}, 401, "authentication.failed"},
		{false, &core.Error{Kind: core.Unauthenticated, Reason: core.ReasonMFARequired}, 401, "authentication.totp.required"},
		{true, &core.Error{Kind: core.Unauthenticated, Reason: core.ReasonBadSecret}, 401, "authentication.apikey.invalid"},
		{true, &core.Error{Kind: core.Unauthenticated, Reason: core.ReasonRevoked}, 401, "authentication.apikey.invalid"},
		{true, &core.Error{Kind: core.Unauthenticated, Reason: core.ReasonExpired}, 401, "authentication.apikey.expired"},
		{true, &core.Error{Kind: core.Unauthenticated, Reason: core.ReasonSourceNotAllowed}, 401, "authentication.apikey.source"},
		{false, &core.Error{Kind: core.Unauthenticated, Reason: core.ReasonExpired}, 401, "authentication.failed"},
		{false, &core.Error{Kind: core.Unauthenticated, Reason: core.ReasonSignatureInvalid}, 401, "authentication.signature.invalid"},
		{false, &core.Error{Kind: core.Unauthenticated, Reason: core.ReasonSignatureTimestamp}, 401, "authentication.signature.timestamp"},
		{false, &core.Error{Kind: core.Unauthenticated, Reason: core.ReasonSignatureReplay}, 401, "authentication.signature.replay"},
		{false, &core.Error{Kind: core.Unauthenticated, Reason: core.ReasonSignatureClockSkew}, 401, "authentication.signature.clockskew"},
		{false, &core.Error{Kind: core.Forbidden, Reason: core.ReasonSecurityLevel}, 403, "authorization.securitylevel"},
		{false, &core.Error{Kind: core.Forbidden, Reason: core.ReasonMissingPermission}, 403, "authorization.permission"},
		{false, &core.Error{Kind: core.Forbidden, Reason: core.ReasonCustomer}, 403, "authorization.customer"},
		{false, &core.Error{Kind: core.NotFound}, 404, "object.notfound"},
		{false, &core.Error{Kind: core.Conflict, Reason: core.ReasonIdempotencyConflict}, 409, "request.idempotency.conflict"},
		{false, &core.Error{Kind: core.Invalid}, 412, "validation.failed"},
		{false, &core.Error{Kind: core.Unavailable, Reason: core.ReasonReplayFull, RetryAfter: time.Second}, 503, "service.unavailable"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if c.key {
			r = keyReq
		}
		rp := render(r, c.e)
		var e envelope
		_ = json.Unmarshal(rp.Body, &e)
		if rp.Status != c.status || e.Messages[0].MessageTemplate != c.tmpl {
			t.Errorf("%+v: %d %s, want %d %s", c.e, rp.Status, e.Messages[0].MessageTemplate, c.status, c.tmpl)
		}
		if c.e.Kind == core.Invalid && (e.Messages[0].Type != "ACTION_ERROR" || e.Messages[0].Field != nil) {
			t.Errorf("Invalid without a field must be one ACTION_ERROR: %s", rp.Body)
		}
		if c.status == 503 && rp.Header["Retry-After"] != "1" {
			t.Errorf("503 without Retry-After")
		}
	}
}
