package core

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keyward/keyward/internal/store"
)

// Kind is the closed list of error kinds; each surface maps them to its statuses.
type Kind int

// Error kinds.
const (
	Internal Kind = iota
	Invalid
	Unauthenticated
	Forbidden
	NotFound
	Conflict
	RateLimited
	Unavailable
	NotImplemented
	TooLarge
	MethodNotAllowed
)

// String names the kind as error codes do.
func (k Kind) String() string {
	switch k {
	case Invalid:
		return "invalid"
	case Unauthenticated:
		return "unauthenticated"
	case Forbidden:
		return "forbidden"
	case NotFound:
		return "not_found"
	case Conflict:
		return "conflict"
	case RateLimited:
		return "rate_limited"
	case Unavailable:
		return "unavailable"
	case NotImplemented:
		return "not_implemented"
	case TooLarge:
		return "too_large"
	case MethodNotAllowed:
		return "method_not_allowed"
	}
	return "internal"
}

// Kinds lists every kind, for the surfaces' error-table tests.
func Kinds() []Kind {
	return []Kind{Internal, Invalid, Unauthenticated, Forbidden, NotFound, Conflict, RateLimited, Unavailable, NotImplemented, TooLarge,
		MethodNotAllowed}
}

// Error is what the core returns: Kind picks the status, Reason is a machine
// code from the closed list in reasons.go, Field names bad input, Msg is
// safe to show and says what happened in keyward's words (a surface may say
// it in its product's words instead), Err is the cause, logged and never
// sent.
type Error struct {
	Kind       Kind
	Reason     Reason
	Field      string
	Msg        string
	Err        error
	RetryAfter time.Duration
	// Value is the offending input of Field, where showing it is safe.
	Value string
	// Fields lists every bad field of an Invalid error that found several
	// (the first is also Field, Msg and Value).
	Fields []FieldError
}

// FieldError is one bad field of a request.
type FieldError struct {
	Field, Msg, Value string
}

func (e *Error) Error() string {
	s := e.Kind.String()
	if e.Reason != "" {
		s += " (" + string(e.Reason) + ")"
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Outage reports an error that only says the store is out of reach (or the
// caches unproven): logged once by the change listener, not per request.
func (e *Error) Outage() bool { return e.Kind == Unavailable && errors.Is(e.Err, store.ErrUnavailable) }

// Errorf builds an Error of kind with a safe message.
func Errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

func invalid(field, format string, args ...any) *Error {
	return &Error{Kind: Invalid, Field: field, Msg: fmt.Sprintf(format, args...)}
}

func unauthenticated(reason Reason) *Error {
	return &Error{Kind: Unauthenticated, Reason: reason, Msg: "authentication failed"}
}

func forbidden(reason Reason, msg string) *Error {
	return &Error{Kind: Forbidden, Reason: reason, Msg: msg}
}

// AsError turns any error into an *Error: store sentinels become kinds,
// context ends become Unavailable, anything else Internal.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &Error{Kind: Unavailable, Msg: "request cancelled or timed out", Err: err}
	case errors.Is(err, store.ErrNotFound):
		return &Error{Kind: NotFound, Msg: "not found", Err: err}
	case errors.Is(err, store.ErrAlreadyExists):
		return &Error{Kind: Conflict, Msg: "already exists", Err: err}
	case errors.Is(err, store.ErrUnavailable):
		return storeError(err)
	}
	return &Error{Kind: Internal, Msg: "internal error", Err: err}
}

// outage reports a store error that means no answer (store.ErrUnavailable).
func outage(err error) bool { return err != nil && errors.Is(err, store.ErrUnavailable) }

// storeError is an error of a store that could not decide (unreachable,
// slow): Unavailable, never a refusal or an internal error.
func storeError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Kind: Unavailable, Msg: "store unavailable", Err: err}
}

// wrapStore maps a store error with a message naming the object.
func wrapStore(err error, what string) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &Error{Kind: NotFound, Msg: what + " not found", Err: err}
	case errors.Is(err, store.ErrAlreadyExists):
		return &Error{Kind: Conflict, Msg: what + " already exists", Err: err}
	case errors.Is(err, store.ErrInvalidText):
		return &Error{Kind: Invalid, Msg: what + ": text must be valid UTF-8 without NUL characters", Err: err}
	case errors.Is(err, store.ErrUnavailable):
		return storeError(err)
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return fmt.Errorf("%s: %w", what, err)
}
