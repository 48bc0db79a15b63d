// Package api is the request pipeline every surface runs through: route tables, credential extraction, authorization, decoding and error rendering hooks.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/keyward/keyward/internal/core"
)

// Route is a route's only declaration: its pattern, what the pipeline
// enforces before the handler runs (credential, permission, security level,
// account, pre-check), and its handler. The same table mounts the route,
// generates the OpenAPI document and drives the permission-denial tests.
type Route struct {
	Method  string
	Pattern string // net/http pattern without the method
	// Permission the caller must hold. Empty only with Public or SelfService.
	Permission string
	// Public routes need no credential (the credential is the request's
	// subject); with OptionalAuth, one presented is authenticated all the
	// same and its access handed to the handler.
	Public       bool
	OptionalAuth bool
	// Self names a path parameter: a caller whose principal id equals it
	// needs no Permission (a principal acting on itself).
	Self string
	// SelfService routes are decided by the core (ownership of the object),
	// after authentication; Permission documents the one that opens them to all.
	SelfService bool
	// MinLevel is the lowest session security level the route accepts.
	MinLevel int
	// LevelReason is the reason a MinLevel refusal is recorded and
	// rendered with; core.ReasonInsufficientLevel when empty.
	LevelReason core.Reason
	// Account names the path parameter that must equal the session's
	// account (else 401, as Conjur answers a token of another account).
	Account string
	// PreCheck runs after authorization and before the handler reads the
	// body, for decisions that depend on the object (whose key it is).
	PreCheck func(r *http.Request, rc *Ctx) error
	Summary  string
	// Request is a zero value of the JSON body type (a Media for other
	// content types), for the OpenAPI document.
	Request any
	// Response is a zero value of the success body (JSON, or a Media), for
	// the OpenAPI document; nil for none.
	Response any
	// Query is a zero value of a struct whose fields' `query` tags name the
	// query parameters the handler reads (`doc` describes each).
	Query any
	// Errors are the errors the handler can answer beyond those the route's
	// shape implies (see impliedErrors), for the OpenAPI document.
	Errors []core.Error
	// Status is the success status, for the OpenAPI document.
	Status  int
	Handler func(w http.ResponseWriter, r *http.Request, rc *Ctx) error
}

// Ctx is what the pipeline learned about a request before its handler runs.
type Ctx struct {
	Caller core.Caller
	// Access is the authenticated caller's access snapshot, computed once;
	// nil on a public route called without a credential.
	Access *core.Access
}

// Session is the authenticated session, or the zero session.
func (rc *Ctx) Session() core.Session {
	if rc.Access == nil {
		return core.Session{}
	}
	return rc.Access.Session
}

// Surface is one API surface as a value: its routes, how it extracts a
// credential, its own middleware and its error table. The pipeline does the
// rest, the same for every surface.
type Surface interface {
	// Name names the surface in logs and metrics.
	Name() string
	// Prefixes are the paths it owns: an unknown route or a panic under one
	// renders in this surface's error format.
	Prefixes() []string
	// Routes is the surface's route table.
	Routes() []Route
	// Extract takes the request's credential, without deciding anything.
	// present is false when none is presented; err when one is presented
	// but cannot be parsed. The credential's Account is set in both cases
	// (the account the request is for), so the refusal's record lands in it.
	Extract(r *http.Request) (cred core.Credential, present bool, err error)
	// Wrap is the surface's own middleware around each of its handlers.
	Wrap(next http.Handler) http.Handler
	// Errors is the surface's table from a core error to its answer.
	Errors() ErrorTable
}

// Fallback is implemented by a surface that words some unknown routes
// under its prefixes itself (Conjur: 501 for the routes of its product's API
// that keyward does not serve). Unknown returns nil for the usual 405 or
// 404; it decides from the path and method alone, reading no credential.
type Fallback interface {
	Unknown(r *http.Request) error
}

// Reply is a surface's answer to an error: a status, headers and a body (nil
// for an empty one).
type Reply struct {
	Status      int
	ContentType string
	Header      map[string]string
	Body        []byte
}

// ErrorTable decides what a surface's client sees of an error. It is the
// only place a surface picks an error status.
type ErrorTable func(r *http.Request, e *core.Error) Reply

// ErrorWriter writes any error through a surface's table.
type ErrorWriter func(w http.ResponseWriter, r *http.Request, err error)

// NewErrorWriter is the one error writer: anything not a *core.Error is
// Internal; a body over the limit is TooLarge; server failures are logged
// with the request id (their causes never reach the client); rate limits
// carry Retry-After.
func NewErrorWriter(log *slog.Logger, table ErrorTable) ErrorWriter {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		e := core.AsError(err)
		if IsTooLarge(err) {
			e = TooLarge()
		}
		rp := table(r, e)
		// Server faults only: a route keyward does not implement (501) is
		// the client's news, not the operator's.
		if rp.Status >= 500 && rp.Status != http.StatusNotImplemented {
			LogFailure(log, r, e)
		}
		SetRetryAfter(w, e)
		w.Header()["Cache-Control"] = noStore
		for k, v := range rp.Header {
			w.Header().Set(k, v)
		}
		if rp.Body == nil {
			w.WriteHeader(rp.Status)
			return
		}
		w.Header().Set("Content-Type", rp.ContentType)
		w.WriteHeader(rp.Status)
		_, _ = w.Write(rp.Body)
	}
}

type callerKey struct{}

// WithCaller stores the transport's view of the caller in ctx (set once by
// the server's middleware).
func WithCaller(ctx context.Context, c core.Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller stored by WithCaller.
func CallerFrom(ctx context.Context) core.Caller {
	c, _ := ctx.Value(callerKey{}).(core.Caller)
	return c
}

// Core is the slice of the core the pipeline needs.
type Core interface {
	Authenticate(ctx context.Context, caller core.Caller, cred core.Credential) (core.Session, error)
	Access(ctx context.Context, caller core.Caller, s core.Session) (*core.Access, error)
	Require(ctx context.Context, a *core.Access, perm string) error
	Begin(ctx context.Context, a *core.Access) error
	Refuse(ctx context.Context, a *core.Access, event, subject string, err *core.Error) error
}

// Registrar is where Mount registers handlers: an *http.ServeMux, or one
// wrapped to see what is registered.
type Registrar interface {
	Handle(pattern string, h http.Handler)
}

// Mount registers every route of a surface on mux behind the pipeline, and
// a fallback under each of its prefixes that answers unknown routes in its
// format.
func Mount(mux Registrar, s Surface, c Core, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	write := NewErrorWriter(log, s.Errors())
	own := http.NewServeMux() // the surface's routes alone, to tell a wrong method from an unknown path
	for _, rt := range s.Routes() {
		mux.Handle(rt.Method+" "+rt.Pattern, s.Wrap(recoverIn(log, write, handler(s, c, write, rt))))
		own.Handle(rt.Method+" "+rt.Pattern, http.NotFoundHandler())
	}
	for _, p := range s.Prefixes() {
		mux.Handle(p, s.Wrap(recoverIn(log, write, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if fb, ok := s.(Fallback); ok {
				if err := fb.Unknown(r); err != nil {
					write(w, r, err)
					return
				}
			}
			if allow := allowed(own, r); allow != "" {
				w.Header().Set("Allow", allow)
				write(w, r, &core.Error{Kind: core.MethodNotAllowed, Msg: r.Method + " is not allowed here; allowed: " + allow})
				return
			}
			write(w, r, &core.Error{Kind: core.NotFound, Msg: "no route " + r.Method + " " + r.URL.Path})
		}))))
	}
}

// allowed lists the methods the surface's own routes accept for r's path.
func allowed(own *http.ServeMux, r *http.Request) string {
	var out []string
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := own.Handler(probe); pattern != "" {
			out = append(out, m)
		}
	}
	return strings.Join(out, ", ")
}

// recoverIn renders a panic of a surface's handler as that surface's 500.
func recoverIn(log *slog.Logger, write ErrorWriter, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.Error("panic serving request", "request_id", CallerFrom(r.Context()).RequestID, "panic", fmt.Sprint(p),
					"stack", string(debug.Stack()))
				write(w, r, &core.Error{Kind: core.Internal, Msg: "internal error", Err: fmt.Errorf("panic: %v", p)})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// handler is the pipeline: extract and authenticate (unless public), then
// authorize once (access snapshot; account, level, permission; pre-check),
// all before the body is read or an id looked up; then the handler, whose
// error the surface's table renders.
func handler(s Surface, c Core, write ErrorWriter, rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := &Ctx{Caller: CallerFrom(r.Context())}
		rc.Caller.Surface = s.Name()
		if err := authorize(s, c, rt, r, rc); err != nil {
			write(w, r, err)
			return
		}
		if err := rt.Handler(w, r, rc); err != nil {
			write(w, r, err)
		}
	})
}

func authorize(s Surface, c Core, rt Route, r *http.Request, rc *Ctx) error {
	if rt.Public && !rt.OptionalAuth {
		return nil
	}
	ctx := r.Context()
	cred, present, err := s.Extract(r)
	if rt.Public && !present {
		return nil
	}
	if err != nil {
		cred = core.Credential{Kind: core.CredNone, Malformed: true, Account: cred.Account}
	} else if !present {
		cred = core.Credential{Kind: core.CredNone, Account: cred.Account}
	}
	sess, err := c.Authenticate(ctx, rc.Caller, cred)
	if err != nil {
		return err
	}
	a, err := c.Access(ctx, rc.Caller, sess)
	if err != nil {
		return err
	}
	rc.Access = a
	if rt.Account != "" && r.PathValue(rt.Account) != sess.Account {
		return c.Refuse(ctx, a, "authn", sess.RoleID(), &core.Error{Kind: core.Unauthenticated, Reason: core.ReasonWrongAccount, Msg: "authentication failed"})
	}
	if sess.Level < rt.MinLevel {
		reason := rt.LevelReason
		if reason == "" {
			reason = core.ReasonInsufficientLevel
		}
		return c.Refuse(ctx, a, "authorize", sess.RoleID(), &core.Error{Kind: core.Forbidden, Reason: reason,
			Msg: "this route needs a session of security level " + strconv.Itoa(rt.MinLevel) + " or more"})
	}
	self := rt.Self != "" && r.PathValue(rt.Self) == sess.PrincipalID
	if rt.Permission != "" && !self && !rt.SelfService {
		if err := c.Require(ctx, a, rt.Permission); err != nil {
			return err
		}
	}
	if rt.PreCheck != nil {
		if err := rt.PreCheck(r, rc); err != nil {
			return err
		}
	}
	return c.Begin(ctx, a)
}

// IsTooLarge reports whether err comes from a body over the server's limit.
func IsTooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

// Status is the usual HTTP status of each error kind. A surface whose
// product answers differently overrides the kinds it must (Conjur answers
// Invalid with 422) and takes the rest from here.
func Status(k core.Kind) int {
	switch k {
	case core.Invalid:
		return http.StatusBadRequest
	case core.Unauthenticated:
		return http.StatusUnauthorized
	case core.Forbidden:
		return http.StatusForbidden
	case core.NotFound:
		return http.StatusNotFound
	case core.Conflict:
		return http.StatusConflict
	case core.RateLimited:
		return http.StatusTooManyRequests
	case core.Unavailable:
		return http.StatusServiceUnavailable
	case core.NotImplemented:
		return http.StatusNotImplemented
	case core.TooLarge:
		return http.StatusRequestEntityTooLarge
	case core.MethodNotAllowed:
		return http.StatusMethodNotAllowed
	}
	return http.StatusInternalServerError
}

// LogFailure logs a server-side failure with the request id. A request whose
// client went away is not a failure of ours: it is logged at debug level.
func LogFailure(log *slog.Logger, r *http.Request, e *core.Error) {
	level := slog.LevelError
	if r.Context().Err() != nil || e.Outage() {
		level = slog.LevelDebug
	}
	log.Log(r.Context(), level, "request failed", "request_id", CallerFrom(r.Context()).RequestID, "route", r.Pattern,
		"kind", e.Kind.String(), "err", errors.Unwrap(e))
}

// SetRetryAfter adds Retry-After to a rate-limited answer that has a hint.
func SetRetryAfter(w http.ResponseWriter, e *core.Error) {
	if e.Kind == core.RateLimited && e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(e.RetryAfter.Seconds()+0.999)))
	}
}

// PathFolder is a surface whose paths match more loosely than a ServeMux
// pattern (PS-Auth's IIS paths: any case, optional trailing slash). It gives
// each request path its canonical spelling before the mux sees it; paths it
// does not own come back unchanged.
type PathFolder interface {
	FoldPath(path string) string
}

// FoldPaths runs every PathFolder surface's FoldPath on the request path
// before next (the mux).
func FoldPaths(surfaces []Surface, next http.Handler) http.Handler {
	var fs []PathFolder
	for _, s := range surfaces {
		if f, ok := s.(PathFolder); ok {
			fs = append(fs, f)
		}
	}
	if len(fs) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, f := range fs {
			if p := f.FoldPath(r.URL.Path); p != r.URL.Path {
				// Folded in the request itself, not a copy: the mux sets
				// the route's Pattern on the request it is given, and the
				// access log and metrics read it from this one.
				u := *r.URL
				u.Path, u.RawPath = p, ""
				r.URL = &u
				break
			}
		}
		next.ServeHTTP(w, r)
	})
}
