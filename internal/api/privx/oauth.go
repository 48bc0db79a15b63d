package privx

import (
	"errors"
	"net/http"
	"time"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
)

// OAuthError is the OAuth route's error: RFC 6749's members and PrivX's.
type OAuthError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCode        string `json:"error_code"`
	ErrorMessage     string `json:"error_message"`
}

// OAuthToken is the OAuth route's answer.
type OAuthToken struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
}

func oauthError(w http.ResponseWriter, code, code2, msg string) {
	api.WriteJSON(w, http.StatusBadRequest, OAuthError{Error: code, ErrorDescription: msg, ErrorCode: code2, ErrorMessage: msg})
}

// oauthToken is PrivX's OAuth2 password grant with a native API key:
// username its id, password the whole key. The Basic header (PrivX's
// client secret) is not checked. The core authenticates the key as the
// native token route does (level 1, the key's scope, audited).
func (s *Surface) oauthToken(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	if err := r.ParseForm(); err != nil {
		if api.IsTooLarge(err) {
			return api.TooLarge()
		}
		oauthError(w, "invalid_request", "INVALID_REQUEST", "the body must be a form")
		return nil
	}
	f := r.PostForm
	switch gt := f.Get("grant_type"); {
	case gt == "":
		oauthError(w, "invalid_request", "INVALID_REQUEST", "grant_type is required")
		return nil
	case gt != "password":
		oauthError(w, "unsupported_grant_type", "UNSUPPORTED_GRANT_TYPE", "only the password grant is supported")
		return nil
	}
	user, key := f.Get("username"), f.Get("password")
	if user == "" || key == "" {
		oauthError(w, "invalid_request", "INVALID_REQUEST", "username and password are required")
		return nil
	}
	sess, err := s.core.Authenticate(r.Context(), rc.Caller, core.Credential{Kind: core.CredAPIKey, Secret: key, KeyID: user, Event: "token"})
	if err != nil {
		var e *core.Error
		if errors.As(err, &e) && (e.Kind == core.Unauthenticated || e.Kind == core.Forbidden) {
			oauthError(w, "invalid_grant", "INVALID_GRANT", "the API key was refused")
			return nil
		}
		return err
	}
	tok, err := s.core.IssueToken(sess, core.FormatNative)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, OAuthToken{AccessToken: tok.Value, TokenType: "Bearer", ExpiresIn: int(tok.TTL / time.Second)})
	return nil
}
