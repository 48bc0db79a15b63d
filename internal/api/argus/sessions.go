package argus

import (
	"net/http"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
)

// userRef names a user in Argus's objects.
type userRef struct {
	ID       string `json:"id"`
	UserName string `json:"userName"`
}

// sessionView is a session's answer.
type sessionView struct {
	User          userRef     `json:"user"`
	SecurityLevel int         `json:"securityLevel"`
	Credentials   credentials `json:"credentials"`
}

type credentials struct {
	RequestCredentialsData string `json:"requestCredentialsData"`
}

func (s *Surface) passwordSession(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	return s.session(w, r, rc, false)
}

func (s *Surface) totpSession(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	return s.session(w, r, rc, true)
}

// session logs a user in with a password (and, on the TOTP route, a code)
// and answers a native access token of the session's level.
func (s *Surface) session(w http.ResponseWriter, r *http.Request, rc *api.Ctx, totp bool) error {
	known := []string{"userName", "password", "domain"}
	if totp {
		known = append(known, "tokenCode")
	}
	o, err := readObject(r, known...)
	if err != nil {
		return err
	}
	user, password, code := o.str("userName"), o.str("password"), ""
	_ = o.str("domain") // optional, ignored
	if totp {
		if code = o.str("tokenCode"); code == "" && o.err() == nil {
			o.fail("tokenCode", "", "tokenCode is required")
		}
	}
	if user == "" {
		o.fail("userName", "", "userName is required")
	}
	if password == "" {
		o.fail("password", "", "password is required")
	}
	if err := o.err(); err != nil {
		return err
	}
	sess, err := s.core.Authenticate(r.Context(), rc.Caller, core.Credential{Kind: core.CredPassword, Account: s.account,
		Login: "user/" + user, Secret: password, Second: code, RequireSecond: totp, Event: "token"})
	if err != nil {
		return err
	}
	tok, err := s.core.IssueToken(sess, core.FormatNative)
	if err != nil {
		return err
	}
	writeOne(w, sessionView{User: userRef{ID: sess.PrincipalID, UserName: sess.Login}, SecurityLevel: sess.Level,
		Credentials: credentials{RequestCredentialsData: tok.Value}})
	return nil
}
