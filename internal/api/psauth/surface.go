package psauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
)

// Base is where the PS-Auth API lives.
const Base = "/BeyondTrust/api/public/v3/"

// CookieName is the session cookie BeyondInsight (ASP.NET) sets.
const CookieName = "ASP.NET_SessionId"

// coreAPI is the slice of the core this surface calls: the pipeline's, and
// the API-registration service's sign-in, sign-out and OAuth token.
type coreAPI interface {
	api.Core
	SignAppin(ctx context.Context, caller core.Caller, cred core.Credential) (core.PSSignIn, error)
	Signout(ctx context.Context, caller core.Caller, account, cookie string) error
	PSAuthToken(ctx context.Context, caller core.Caller, account string, req core.PSTokenRequest) (core.PSToken, error)
	Version() string
}

// Surface is BeyondInsight's PS-Auth API.
type Surface struct {
	core           coreAPI
	log            *slog.Logger
	defaultAccount string
}

// New builds the PS-Auth surface; refusals that name no registration are
// recorded in defaultAccount.
func New(c coreAPI, log *slog.Logger, defaultAccount string) *Surface {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Surface{core: c, log: log, defaultAccount: defaultAccount}
}

// Name names the surface.
func (s *Surface) Name() string { return "psauth" }

// Prefixes is what the surface owns.
func (s *Surface) Prefixes() []string { return []string{Base} }

// Wrap adds nothing: paths are folded before the mux (FoldPath).
func (s *Surface) Wrap(next http.Handler) http.Handler { return next }

// routePaths maps each route's path below Base, lower case, to its
// canonical spelling.
var routePaths = map[string]string{
	"auth/signappin":        "Auth/SignAppin",
	"auth/signout":          "Auth/Signout",
	"auth/connect/token":    "Auth/connect/token",
	"configuration/version": "Configuration/Version",
}

// FoldPath gives a path below Base, matched case-insensitively with an
// optional trailing slash (IIS), its canonical spelling, before the mux.
func (s *Surface) FoldPath(p string) string {
	if len(p) < len(Base) || !strings.EqualFold(p[:len(Base)], Base) {
		return p
	}
	rest := p[len(Base):]
	if c, ok := routePaths[strings.ToLower(strings.TrimSuffix(rest, "/"))]; ok {
		return Base + c
	}
	return Base + rest
}

// Extract takes the session cookie: the one credential of session routes.
func (s *Surface) Extract(r *http.Request) (core.Credential, bool, error) {
	cred := core.Credential{Account: s.defaultAccount}
	v := SessionCookie(r)
	if v == "" {
		return cred, false, nil
	}
	// The registration's xff rules are checked again on every use.
	return core.Credential{Kind: core.CredPSSession, Account: s.defaultAccount, Secret: v,
		PS: &core.PSAuthProof{XFF: r.Header.Values("X-Forwarded-For")}}, true, nil
}

// SessionCookie reads ASP.NET_SessionId from any Cookie line, wherever it
// stands, ignoring attribute-like pairs (Path=/, HttpOnly).
func SessionCookie(r *http.Request) string {
	for _, line := range r.Header.Values("Cookie") {
		for _, part := range strings.Split(line, ";") {
			name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
			if ok && strings.TrimSpace(name) == CookieName && strings.TrimSpace(val) != "" {
				return strings.Trim(strings.TrimSpace(val), `"`)
			}
		}
	}
	return ""
}

// Routes is the PS-Auth route table.
func (s *Surface) Routes() []api.Route {
	return []api.Route{
		{Method: "POST", Pattern: Base + "Auth/SignAppin", Public: true, Summary: "Sign in with a PS-Auth header (or an OAuth token): sets ASP.NET_SessionId", Response: SignAppinResponse{}, Errors: signinErrors, Handler: s.signAppin},
		{Method: "POST", Pattern: Base + "Auth/Signout", Public: true, Summary: "End the session named by the cookie; always 200", Response: api.NoBody, Handler: s.signout},
		{Method: "POST", Pattern: Base + "Auth/connect/token", Public: true, Summary: "OAuth client credentials of an API access policy (form client_id, client_secret, grant_type)", Request: api.Media{"application/x-www-form-urlencoded": tokenForm{}}, Response: TokenResponse{}, Errors: signinErrors, Handler: s.token},
		{Method: "GET", Pattern: Base + "Configuration/Version", SelfService: true, Summary: "The keyward version (needs a session cookie)", Response: VersionResponse{}, Handler: s.version},
	}
}

// SignAppinResponse is SignAppin's answer (what BeyondTrust's clients decode).
type SignAppinResponse struct {
	UserID       int64   `json:"UserId"`
	SID          *string `json:"SID"`
	EmailAddress string  `json:"EmailAddress"`
	UserName     string  `json:"UserName"`
	Name         string  `json:"Name"`
}

// TokenResponse is the OAuth client-credentials answer.
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	TokenType   string `json:"token_type"`
	Scope       string `json:"scope"`
}

// VersionResponse is Configuration/Version's answer.
type VersionResponse struct {
	Version string `json:"Version"`
}

func setSession(w http.ResponseWriter, r *http.Request, v string) {
	c := CookieName + "=" + v + "; Path=/; HttpOnly"
	if r.TLS != nil {
		c += "; Secure"
	}
	w.Header().Add("Set-Cookie", c)
}

// credential reads SignAppin's credential: a PS-Auth header or a bearer
// token, with what a PSRUN signature covers and what the rules check.
func (s *Surface) credential(r *http.Request, body []byte) core.Credential {
	cred := core.Credential{Account: s.defaultAccount}
	h := r.Header.Get("Authorization")
	if h == "" {
		return cred
	}
	sum := sha256.Sum256(body)
	proof := &core.PSAuthProof{XFF: r.Header.Values("X-Forwarded-For"), Method: r.Method,
		Path: strings.TrimSuffix(strings.ToLower(r.URL.Path), "/"), BodySHA256: hex.EncodeToString(sum[:]), Cookie: SessionCookie(r)}
	switch {
	case IsPSAuth(h):
		ph, err := ParseHeader(h)
		if err != nil {
			cred.Malformed = true
			return cred
		}
		proof.Key, proof.RunAs, proof.Password, proof.Challenge = ph.Key, ph.RunAs, ph.Pwd, ph.Challenge
		proof.Timestamp, proof.Signature = ph.Timestamp, ph.Signature
	default:
		tok, err := api.ParseBearer(h)
		if err != nil {
			cred.Malformed = true
			return cred
		}
		proof.Bearer = tok
	}
	cred.Kind, cred.PS = core.CredPSAuth, proof
	return cred
}

func (s *Surface) signAppin(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	body, err := api.ReadBody(r)
	if err != nil {
		return err
	}
	in, err := s.core.SignAppin(r.Context(), rc.Caller, s.credential(r, body))
	if err != nil {
		if in.Cookie != "" {
			setSession(w, r, in.Cookie)
		}
		return err
	}
	setSession(w, r, in.Cookie)
	api.WriteJSON(w, http.StatusOK, SignAppinResponse{UserID: in.UserID, EmailAddress: in.Email, UserName: in.UserName, Name: in.Name})
	return nil
}

func (s *Surface) signout(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	if err := s.core.Signout(r.Context(), rc.Caller, s.defaultAccount, SessionCookie(r)); err != nil {
		return err
	}
	w.Header()["Cache-Control"] = []string{"no-store"}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Surface) token(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		return &core.Error{Kind: core.Invalid, Reason: core.ReasonBadRequest, Msg: "the body must be application/x-www-form-urlencoded"}
	}
	body, err := api.ReadBody(r)
	if err != nil {
		return err
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return &core.Error{Kind: core.Invalid, Reason: core.ReasonBadRequest, Msg: "the form cannot be parsed"}
	}
	tok, err := s.core.PSAuthToken(r.Context(), rc.Caller, s.defaultAccount, core.PSTokenRequest{ClientID: form.Get("client_id"),
		ClientSecret: form.Get("client_secret"), GrantType: form.Get("grant_type"), XFF: r.Header.Values("X-Forwarded-For")})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, TokenResponse{AccessToken: tok.AccessToken, ExpiresIn: tok.ExpiresIn, TokenType: "Bearer", Scope: "publicapi"})
	return nil
}

func (s *Surface) version(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	api.WriteJSON(w, http.StatusOK, VersionResponse{Version: s.core.Version()})
	return nil
}
