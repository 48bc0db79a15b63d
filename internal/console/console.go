// Package console is keyward's administration console at /console/: an
// embedded single-page client of the core. Sign-in is the core's password
// (and TOTP) check; the session cookie stands, on the server, for a core
// session whose access token never leaves the process; every read or change
// goes through the native API's own handlers (same authorization, same
// audit) under /console/api/v1/. The cookie is honoured nowhere else.
package console

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
)

// Core is the slice of the core the console calls: the one way in, the
// access snapshot, and token issue for its server-side sessions.
type Core interface {
	Authenticate(ctx context.Context, caller core.Caller, cred core.Credential) (core.Session, error)
	Access(ctx context.Context, caller core.Caller, s core.Session) (*core.Access, error)
	Require(ctx context.Context, a *core.Access, perm string) error
	IssueToken(s core.Session, format core.TokenFormat) (core.Token, error)
	CredentialStamp(ctx context.Context, account, principalID string) (string, error)
	EndCodeStep(ctx context.Context, caller core.Caller, account, login, via string, failures int)
}

// Console serves /console/.
type Console struct {
	core     Core
	log      *slog.Logger
	account  string
	native   http.Handler
	sessions *sessions
	assets   *assets
	handler  http.Handler
}

// Authenticator is the name sign-ins through the console carry in sessions
// and audit records.
const Authenticator = "console"

// Prefix is where the console is mounted.
const Prefix = "/console/"

// Headers every console answer carries.
const (
	CSP            = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
	ReferrerPolicy = "no-referrer"
)

// Page is a console page and the permission that opens it ("" for none).
type Page struct {
	Path, Permission string
}

// Pages are the console's page URLs with their permissions.
var Pages = []Page{
	{"/console/users", core.PermUsersView},
	{"/console/roles", core.PermRolesView},
	{"/console/api-keys", core.PermAPIKeysManage},
	{"/console/authenticators", core.PermAuthenticatorsManage},
	{"/console/audit", core.PermAuditView},
	{"/console/configuration", core.PermAPIRegistrationsManage},
	{"/console/my-account", ""},
}

// New makes the console. native is the handler the native API is mounted
// on: the console forwards its /console/api/v1/ calls to it.
func New(c Core, log *slog.Logger, account string, native http.Handler) *Console {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cs := &Console{core: c, log: log, account: account, native: native, sessions: newSessions(time.Now), assets: loadAssets()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /console/assets/{file}", cs.asset)
	mux.HandleFunc("POST /console/api/sign-in", cs.signIn)
	mux.HandleFunc("POST /console/api/sign-in/code", cs.signInCode)
	mux.HandleFunc("POST /console/api/sign-out", cs.signOut)
	mux.HandleFunc("GET /console/api/session", cs.session)
	mux.HandleFunc("/console/api/v1/{rest...}", cs.forward)
	mux.HandleFunc("/console/api/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, errBody("not_found", "no such console endpoint"))
	})
	mux.HandleFunc("/console/", cs.page)
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusForbidden, errBody("csrf", "cross-origin request refused"))
	}))
	cs.handler = cs.headers(cop.Handler(mux))
	return cs
}

// Handler is the console's handler, to mount at Prefix.
func (cs *Console) Handler() http.Handler { return cs.handler }

// headers sets the security headers of every answer; hashed assets alone
// may be cached.
func (cs *Console) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", ReferrerPolicy)
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

type errDetail struct {
	Code       string `json:"code"`
	Message    string `json:"message"`
	Field      string `json:"field,omitempty"`
	Permission string `json:"permission,omitempty"`
}

type errorBody struct {
	Error errDetail `json:"error"`
}

func errBody(code, msg string) errorBody {
	return errorBody{Error: errDetail{Code: code, Message: msg}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// SignInFailed is all a failed sign-in says, whatever the reason.
const SignInFailed = "Sign-in failed"

type signInBody struct {
	Login    string `json:"login"`
	Password string `json:"password"`
}

type codeBody struct {
	Code string `json:"code"`
}

type signInAnswer struct {
	Step string `json:"step"` // "code" or "done"
}

func (cs *Console) failSignIn(w http.ResponseWriter, r *http.Request, err error) {
	var e *core.Error
	if errors.As(err, &e) && e.Kind != core.Unauthenticated && e.Kind != core.RateLimited && e.Kind != core.Invalid {
		cs.log.Error("console sign-in failed", "request_id", api.CallerFrom(r.Context()).RequestID, "err", err)
	}
	writeJSON(w, http.StatusUnauthorized, errBody("sign_in_failed", SignInFailed))
}

func (cs *Console) signIn(w http.ResponseWriter, r *http.Request) {
	var b signInBody
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10)).Decode(&b); err != nil || b.Login == "" || b.Password == "" {
		writeJSON(w, http.StatusUnauthorized, errBody("sign_in_failed", SignInFailed))
		return
	}
	caller := api.CallerFrom(r.Context())
	cred := core.Credential{Kind: core.CredPassword, Account: cs.account, Login: b.Login, Secret: b.Password, Event: "login", Via: Authenticator}
	s, err := cs.core.Authenticate(r.Context(), caller, cred)
	var e *core.Error
	if err != nil && errors.As(err, &e) && e.Reason == core.ReasonMFARequired {
		// The password was right: the code step holds it on the server
		// until the code comes (five minutes at most).
		value := cs.sessions.pending(b.Login, b.Password)
		setCookie(w, r, value)
		writeJSON(w, http.StatusOK, signInAnswer{Step: "code"})
		return
	}
	if err != nil {
		cs.failSignIn(w, r, err)
		return
	}
	cs.start(w, r, s)
}

func (cs *Console) signInCode(w http.ResponseWriter, r *http.Request) {
	var b codeBody
	p := cs.sessions.getPending(cookieValue(r))
	if p == nil {
		writeJSON(w, http.StatusUnauthorized, errBody("sign_in_failed", SignInFailed))
		return
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10)).Decode(&b); err != nil || b.Code == "" {
		writeJSON(w, http.StatusUnauthorized, errBody("sign_in_failed", SignInFailed))
		return
	}
	cred := core.Credential{Kind: core.CredPassword, Account: cs.account, Login: p.login, Secret: p.password, Second: b.Code,
		Event: "login", Via: Authenticator}
	caller := api.CallerFrom(r.Context())
	s, err := cs.core.Authenticate(r.Context(), caller, cred)
	if err != nil {
		// Wrong codes (or codes refused while locked) end the code step
		// after as many as lock the principal's code checks: a stolen
		// pending cookie cannot keep guessing, and the password it holds
		// is forgotten.
		var e *core.Error
		if errors.As(err, &e) && (e.Reason == core.ReasonMFAInvalid || e.Reason == core.ReasonMFALocked) {
			if n := cs.sessions.failCode(p); n >= core.MFAMaxFailures {
				cs.sessions.end(cookieValue(r))
				clearCookie(w, r)
				cs.core.EndCodeStep(r.Context(), caller, cs.account, p.login, Authenticator, n)
			}
		}
		cs.failSignIn(w, r, err)
		return
	}
	cs.sessions.end(cookieValue(r))
	cs.start(w, r, s)
}

// start begins a console session for s: a new cookie value every time.
func (cs *Console) start(w http.ResponseWriter, r *http.Request, s core.Session) {
	stamp, err := cs.core.CredentialStamp(r.Context(), s.Account, s.PrincipalID)
	if err != nil {
		cs.failSignIn(w, r, err)
		return
	}
	value := cs.sessions.start(s, stamp)
	setCookie(w, r, value)
	writeJSON(w, http.StatusOK, signInAnswer{Step: "done"})
}

func (cs *Console) signOut(w http.ResponseWriter, r *http.Request) {
	se := cs.sessions.get(cookieValue(r))
	if se == nil {
		writeJSON(w, http.StatusUnauthorized, errBody("unauthenticated", "not signed in"))
		return
	}
	if !cs.csrfOK(r, se) {
		writeJSON(w, http.StatusForbidden, errBody("csrf", "missing or wrong CSRF token"))
		return
	}
	cs.sessions.end(cookieValue(r))
	clearCookie(w, r)
	w.WriteHeader(http.StatusNoContent)
}

// csrfOK compares the request's CSRF token (header, or form field
// csrf_token) with the session's in constant time.
func (cs *Console) csrfOK(r *http.Request, se *session) bool {
	got := r.Header.Get("X-CSRF-Token")
	if got == "" && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		got = r.PostFormValue("csrf_token")
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(se.csrf)) == 1
}

var errSessionEnded = errors.New("console session ended")

// accessOf is access without an answer: errSessionEnded when the core no
// longer admits the session's principal (the session is then ended).
func (cs *Console) accessOf(r *http.Request, se *session) (*core.Access, string, error) {
	if !cs.stampHolds(r, se) {
		return nil, "", errSessionEnded
	}
	tok, err := cs.sessions.token(se, cs.core)
	if err != nil {
		return nil, "", err
	}
	caller := api.CallerFrom(r.Context())
	s, err := cs.core.Authenticate(r.Context(), caller, core.Credential{Kind: core.CredToken, Account: cs.account, Secret: tok})
	if err != nil {
		cs.sessions.end(cookieValue(r))
		return nil, "", errSessionEnded
	}
	a, err := cs.core.Access(r.Context(), caller, s)
	if err != nil {
		return nil, "", err
	}
	return a, tok, nil
}

type sessionAnswer struct {
	SignedIn    bool     `json:"signed_in"`
	Login       string   `json:"login"`
	PrincipalID string   `json:"principal_id"`
	RoleID      string   `json:"role_id"`
	Level       int      `json:"level"`
	Permissions []string `json:"permissions"`
	CSRFToken   string   `json:"csrf_token"`
}

func (cs *Console) session(w http.ResponseWriter, r *http.Request) {
	se := cs.sessions.get(cookieValue(r))
	if se == nil {
		// Not an error: the page asks to know which screen to show.
		writeJSON(w, http.StatusOK, sessionAnswer{Permissions: []string{}})
		return
	}
	a, _, err := cs.accessOf(r, se)
	if errors.Is(err, errSessionEnded) {
		// Ended (a password change, an MFA reset, a disabled principal):
		// signed out, as with no session at all.
		writeJSON(w, http.StatusOK, sessionAnswer{Permissions: []string{}})
		return
	}
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, errBody("unavailable", "cannot read the session's access"))
		return
	}
	perms := a.Permissions()
	if perms == nil {
		perms = []string{}
	}
	writeJSON(w, http.StatusOK, sessionAnswer{SignedIn: true, Login: a.Session.Login, PrincipalID: a.Session.PrincipalID, RoleID: a.Session.RoleID(),
		Level: a.Session.Level, Permissions: perms, CSRFToken: se.csrf})
}

// forward runs a /console/api/v1/… call through the native API's own
// handler for /api/v1/…, with the session's token as its credential: the
// same route, authorization and audit as a native call.
func (cs *Console) forward(w http.ResponseWriter, r *http.Request) {
	se := cs.sessions.get(cookieValue(r))
	if se == nil {
		writeJSON(w, http.StatusUnauthorized, errBody("unauthenticated", "not signed in"))
		return
	}
	if !safeMethod(r.Method) && !cs.csrfOK(r, se) {
		writeJSON(w, http.StatusForbidden, errBody("csrf", "missing or wrong CSRF token"))
		return
	}
	target := path.Clean("/api/v1/" + r.PathValue("rest"))
	if !strings.HasPrefix(target, "/api/v1/") {
		writeJSON(w, http.StatusNotFound, errBody("not_found", "no such endpoint"))
		return
	}
	if !cs.stampHolds(r, se) {
		writeJSON(w, http.StatusUnauthorized, errBody("unauthenticated", "the console session has ended; sign in again"))
		return
	}
	tok, err := cs.sessions.token(se, cs.core)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, errBody("unavailable", "cannot issue a session token"))
		return
	}
	r2 := r.Clone(r.Context())
	u := *r.URL
	u.Path, u.RawPath = target, ""
	r2.URL = &u
	r2.RequestURI = u.RequestURI()
	r2.Header.Del("Cookie")
	r2.Header.Del("X-CSRF-Token")
	r2.Header.Set("Authorization", "Bearer "+tok)
	if r.Method != http.MethodPost || target != "/api/v1/users/"+se.core.PrincipalID+"/mfa" {
		cs.native.ServeHTTP(w, r2)
		return
	}
	// One's own TOTP enrolment started from this session (My Account): the
	// new seed is no way in until verified, so the session that asked for it
	// goes on under the new stamp. Verifying it (MFA enabled) still ends the
	// session, as a reset, a password change or another's change does.
	sw := &statusWriter{ResponseWriter: w}
	cs.native.ServeHTTP(sw, r2)
	if sw.status == http.StatusCreated {
		if stamp, err := cs.core.CredentialStamp(r.Context(), se.core.Account, se.core.PrincipalID); err == nil {
			cs.sessions.restamp(se, stamp)
		}
	}
}

// statusWriter notes the status of an answer it passes on.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (sw *statusWriter) WriteHeader(code int) {
	if sw.status == 0 {
		sw.status = code
	}
	sw.ResponseWriter.WriteHeader(code)
}

func (sw *statusWriter) Write(b []byte) (int, error) {
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	return sw.ResponseWriter.Write(b)
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// page serves the console's shell for every page URL; a signed-in user
// lacking a page's permission gets 403 naming it.
func (cs *Console) page(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	perm, known := pagePermission(p)
	if !known {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_ = messageTmpl.Execute(w, message{Title: "Not found", Text: "There is no console page at this address."})
		return
	}
	if se := cs.sessions.get(cookieValue(r)); se != nil && perm != "" {
		// A session the core no longer admits gets the shell, which signs in.
		a, _, err := cs.accessOf(r, se)
		if err != nil && !errors.Is(err, errSessionEnded) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = messageTmpl.Execute(w, message{Title: "Unavailable", Text: "The console cannot read your session's access; try again."})
			return
		}
		if a != nil {
			if err := cs.core.Require(r.Context(), a, perm); err != nil {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				w.WriteHeader(http.StatusForbidden)
				_ = messageTmpl.Execute(w, message{Title: "Forbidden", Text: "Missing permission: " + perm, Link: true})
				return
			}
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(cs.assets.shell)
}

// pagePermission is the permission of a page URL and whether it is one.
func pagePermission(p string) (string, bool) {
	p = strings.TrimSuffix(p, "/")
	if p == "/console" {
		return "", true
	}
	for _, pg := range Pages {
		if p == pg.Path || strings.HasPrefix(p, pg.Path+"/") {
			return pg.Permission, true
		}
	}
	return "", false
}

type message struct {
	Title, Text string
	Link        bool
}

var messageTmpl = template.Must(template.New("m").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} · keyward console</title></head>
<body><main><h1>{{.Title}}</h1><p>{{.Text}}</p>{{if .Link}}<p><a href="/console/">Back to the console</a></p>{{end}}</main></body></html>
`))

// stampHolds reports whether the principal still signs in with what the
// session's sign-in proved (password, second factor, status); when not (a
// password change, an MFA reset), the session is ended.
func (cs *Console) stampHolds(r *http.Request, se *session) bool {
	stamp, err := cs.core.CredentialStamp(r.Context(), se.core.Account, se.core.PrincipalID)
	if err == nil && stamp == cs.sessions.stampOf(se) {
		return true
	}
	cs.sessions.end(cookieValue(r))
	return false
}
