package psauth

import (
	"net/http"
	"strings"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
)

// MFAHeader is the header BeyondTrust's PowerShell sample waits for: the
// sign-in needs its TOTP code as challenge=.
const MFAHeader = "WWW-Authenticate-2FA"

// notAuthenticated is every refused sign-in's body, whatever the reason.
var notAuthenticated = []byte(`"User not authenticated"`)

// Errors is the PS-Auth error table.
func (s *Surface) Errors() api.ErrorTable { return errorTable }

// errorTable: any failed authentication is 401 with the JSON string "User
// not authenticated" (the reason is only in the audit), a rate limit too
// (five wrong MFA codes lock the user's code checks; a full bcrypt queue),
// with Retry-After; an MFA challenge adds WWW-Authenticate-2FA. The OAuth token route answers RFC 6749's
// {"error":…} with 400. Other kinds keep their usual status with the
// message as a JSON string; a server failure never says why.
func errorTable(r *http.Request, e *core.Error) api.Reply {
	if strings.HasSuffix(strings.ToLower(r.URL.Path), "/auth/connect/token") {
		switch {
		case e.Kind == core.Unauthenticated:
			return oauthError("invalid_client")
		case e.Kind == core.Invalid && e.Reason == core.ReasonUnsupportedGrant:
			return oauthError("unsupported_grant_type")
		case e.Kind == core.Invalid:
			return oauthError("invalid_request")
		}
	}
	status := api.Status(e.Kind)
	if e.Kind == core.Unauthenticated || e.Kind == core.RateLimited {
		rp := api.Reply{Status: http.StatusUnauthorized, ContentType: "application/json", Body: notAuthenticated}
		if e.Reason == core.ReasonMFARequired || e.Reason == core.ReasonBadChallenge {
			rp.Header = map[string]string{MFAHeader: "Enter the 6-digit code from your authenticator app"}
		}
		return rp
	}
	msg := e.Msg
	if status >= 500 || msg == "" {
		msg = http.StatusText(status)
	}
	return api.Reply{Status: status, ContentType: "application/json", Body: api.MarshalJSON(msg)}
}

func oauthError(code string) api.Reply {
	return api.Reply{Status: http.StatusBadRequest, ContentType: "application/json", Body: api.MarshalJSON(map[string]string{"error": code})}
}
