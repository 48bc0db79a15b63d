// Package api is the request pipeline every surface runs through: route tables, credential extraction, authorization, decoding and error rendering hooks.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/keyward/keyward/internal/core"
)

// Route is a route's only declaration: its pattern, the permission it
// needs (or Public), and its handler. The same table mounts the route,
// generates the OpenAPI document and drives the permission-denial tests.
type Route struct {
	Method  string
	Pattern string // net/http pattern without the method
	// Permission the caller must hold. Empty only with Public or SelfService.
	Permission string
	// Public routes need no credential (the credential is the request's subject).
	Public bool
	// Self names a path parameter: a caller whose principal id equals it
	// needs no Permission (a principal acting on itself).
	Self string
	// SelfService routes are decided by the core (ownership of the object),
	// after authentication; Permission documents the one that opens them to all.
	SelfService bool
	Summary     string
	// Request is a zero value of the JSON body type, for the OpenAPI document.
	Request any
	// Status is the success status, for the OpenAPI document.
	Status  int
	Handler func(w http.ResponseWriter, r *http.Request, rc *Ctx) error
}

// Ctx is what the pipeline learned about a request before its handler runs.
type Ctx struct {
	Caller  core.Caller
	Session core.Session
	Authed  bool
}

// Surface is one API surface's hooks.
type Surface interface {
	// Authenticate extracts and checks the request's credential. ok false
	// with a nil error means no credential was presented.
	Authenticate(r *http.Request, caller core.Caller) (s core.Session, ok bool, err error)
	// WriteError renders an error in the surface's own format.
	WriteError(w http.ResponseWriter, r *http.Request, err error)
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

// AccountNamer is implemented by surfaces that know which account a request
// is for before it is authenticated (from the path, or a default), so the
// audit record of a refusal lands in that account.
type AccountNamer interface {
	AccountOf(r *http.Request) string
}

// Authorizer is the slice of the core the pipeline needs.
type Authorizer interface {
	Authorize(ctx context.Context, s core.Session, caller core.Caller, perm string) error
	RecordAuthnFailure(ctx context.Context, caller core.Caller, account, login, event, authenticator, reason string)
}

// Mount registers every route of a surface on mux behind the pipeline:
// authenticate (unless public), authorize by the route's permission before
// the body is read or any id looked up, then run the handler and render
// its error with the surface's hook.
func Mount(mux *http.ServeMux, s Surface, az Authorizer, routes []Route) {
	for _, rt := range routes {
		mux.Handle(rt.Method+" "+rt.Pattern, handler(s, az, rt))
	}
}

func handler(s Surface, az Authorizer, rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := &Ctx{Caller: CallerFrom(r.Context())}
		if !rt.Public {
			sess, ok, err := s.Authenticate(r, rc.Caller)
			if err == nil && !ok {
				account := ""
				if an, isNamer := s.(AccountNamer); isNamer {
					account = an.AccountOf(r)
				}
				az.RecordAuthnFailure(r.Context(), rc.Caller, account, "", "authn", "", "missing_credentials")
				err = &core.Error{Kind: core.Unauthenticated, Reason: "missing_credentials", Msg: "authentication required"}
			}
			if err != nil {
				s.WriteError(w, r, err)
				return
			}
			rc.Session, rc.Authed = sess, true
			self := rt.Self != "" && r.PathValue(rt.Self) == sess.PrincipalID
			if rt.Permission != "" && !self && !rt.SelfService {
				if err := az.Authorize(r.Context(), sess, rc.Caller, rt.Permission); err != nil {
					s.WriteError(w, r, err)
					return
				}
			}
		}
		if err := rt.Handler(w, r, rc); err != nil {
			s.WriteError(w, r, err)
		}
	})
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
	}
	return http.StatusInternalServerError
}

// LogFailure logs a server-side failure with the request id. A request whose
// client went away is not a failure of ours: it is logged at debug level.
func LogFailure(log *slog.Logger, r *http.Request, e *core.Error) {
	level := slog.LevelError
	if r.Context().Err() != nil {
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
