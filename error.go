// Package handoff is the domain of a secure last-mile delivery server: the types
// every part shares (shippers, shipments, packages, tracking events), the service
// interfaces the adapters implement, and the one error type they all return.
//
// The rules themselves live in small pure packages (market, money, phone,
// eligibility, tracking); storage lives in sqlstore, HTTP in api and web, and
// cmd/handoff wires them together.
package handoff

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Error codes. They are stable strings: clients and the HTTP layer rely on them.
const (
	ECONFLICT     = "conflict"       // the request conflicts with the current state
	EINTERNAL     = "internal"       // a fault of ours; the detail goes to the log only
	EINVALID      = "invalid"        // the input is wrong; FieldErrors say where
	ENOTFOUND     = "not_found"      // no such object, or not the caller's
	EUNAUTHORIZED = "unauthorized"   // no or bad credentials
	EFORBIDDEN    = "forbidden"      // credentials fine, action not allowed
	ETOOLARGE     = "too_large"      // the request body is over the limit
	ERATELIMITED  = "rate_limited"   // too many attempts; try later
	EUNAVAILABLE  = "unavailable"    // a dependency is down; try later
	EUNSUPPORTED  = "unsupported"    // wrong media type and the like
	EGONE         = "gone"           // the object existed but can no longer be used
	ELOCKED       = "locked"         // the action is locked until someone intervenes
	EPRECONDITION = "precondition"   // a required earlier step is missing
	EIDEMPOTENCY  = "idempotency"    // an Idempotency-Key was reused with another body
	EMETHOD       = "method"         // method not allowed on this path
	ENOTACCEPT    = "not_acceptable" // cannot produce the requested representation
	ETIMEOUT      = "timeout"        // the request body did not arrive in time
)

// FieldError names one field at fault, as a path into the request
// ("packages[0].insuredValue.value") and a message a person can act on.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is the one error type of the domain. Message is safe to show to the
// client; Detail and Err are for the log only and never leave the server.
type Error struct {
	Code string
	// Reason is a stable word for why a request was refused ("bag_voided",
	// "wrong_stage"), finer than Code, for clients that act on the cause;
	// "" when the code says enough. Like Code it is safe to show.
	Reason  string
	Message string
	Fields  []FieldError
	// RetryAfter, for ERATELIMITED and EUNAVAILABLE, is how long until a
	// retry may succeed (the HTTP layer sends it as Retry-After); 0 when
	// unknown.
	RetryAfter time.Duration
	Detail     string
	Err        error
}

// Error returns the message and, for the log, the detail and cause.
func (e *Error) Error() string {
	s := e.Code + ": " + e.Message
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a client-safe message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Refuse returns an *Error with the given code, a stable reason and a
// client-safe message.
func Refuse(code, reason, format string, args ...any) *Error {
	return &Error{Code: code, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID error listing the fields at fault.
func Invalid(fields ...FieldError) *Error {
	msg := "The request is not valid."
	if len(fields) == 1 {
		msg = fields[0].Field + ": " + fields[0].Message
	}
	return &Error{Code: EINVALID, Message: msg, Fields: fields}
}

// ErrUnavailable marks a cause meaning that a dependency is down or out of
// room — a database that does not answer, a full disk — or did not answer
// within the request's deadline: the request may well succeed later.
// Adapters wrap such causes so that errors.Is(err, ErrUnavailable) holds.
var ErrUnavailable = errors.New("a dependency is unavailable")

// msgUnavailable is what the client learns of an unavailable dependency.
const msgUnavailable = "The service is unavailable for a moment; try again shortly."

// unavailable reports whether err is a cause that makes a request
// EUNAVAILABLE rather than EINTERNAL.
func unavailable(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}

// Internal wraps an unexpected failure; the client only learns that it
// happened. A cause marked ErrUnavailable (or a passed deadline) makes it
// EUNAVAILABLE instead: the client is told to try again later.
func Internal(err error, detail string) *Error {
	if unavailable(err) {
		return &Error{Code: EUNAVAILABLE, Message: msgUnavailable, Detail: detail, Err: err}
	}
	return &Error{Code: EINTERNAL, Message: "An internal error occurred.", Detail: detail, Err: err}
}

// NotFound returns the error every lookup of a missing or foreign object gives,
// so that nobody can tell the two apart.
func NotFound(what string) *Error {
	return &Error{Code: ENOTFOUND, Message: what + " not found."}
}

// ErrorCode returns the code of err, "" for nil, and for errors that are not
// *Error EUNAVAILABLE when they are marked so (see ErrUnavailable), else
// EINTERNAL.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if unavailable(err) {
		return EUNAVAILABLE
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of err; for foreign errors a
// generic one, so that internals never leak.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != EINTERNAL {
		return e.Message
	}
	if e == nil && unavailable(err) {
		return msgUnavailable
	}
	return "An internal error occurred."
}

// ErrorReason returns the machine reason of err, "" when it has none.
func ErrorReason(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != EINTERNAL {
		return e.Reason
	}
	return ""
}

// ErrorFields returns the field errors carried by err, if any.
func ErrorFields(err error) []FieldError {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

// RetryAfterSeconds returns in whole seconds, rounded up, how long until a
// retry of err may succeed (the value of a Retry-After header), or 0 when err
// does not say.
func RetryAfterSeconds(err error) int {
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		return int((e.RetryAfter + time.Second - 1) / time.Second)
	}
	return 0
}

// FieldErrors collects field errors while a request is validated.
type FieldErrors []FieldError

// Add records that field is wrong, with a message.
func (fe *FieldErrors) Add(field, format string, args ...any) {
	*fe = append(*fe, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err returns nil when nothing was recorded, otherwise an EINVALID *Error.
func (fe FieldErrors) Err() error {
	if len(fe) == 0 {
		return nil
	}
	return Invalid(fe...)
}
