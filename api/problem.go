package api

import (
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/limit"
)

// statusOf maps each error code to its HTTP status; the one table of it.
var statusOf = map[string]int{
	handoff.EINVALID:      http.StatusBadRequest,
	handoff.EUNAUTHORIZED: http.StatusUnauthorized,
	handoff.EFORBIDDEN:    http.StatusForbidden,
	handoff.ENOTFOUND:     http.StatusNotFound,
	handoff.EMETHOD:       http.StatusMethodNotAllowed,
	handoff.ENOTACCEPT:    http.StatusNotAcceptable,
	handoff.ECONFLICT:     http.StatusConflict,
	handoff.EPRECONDITION: http.StatusConflict,
	handoff.EGONE:         http.StatusGone,
	handoff.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	handoff.EUNSUPPORTED:  http.StatusUnsupportedMediaType,
	handoff.EIDEMPOTENCY:  http.StatusUnprocessableEntity,
	handoff.ELOCKED:       http.StatusLocked,
	handoff.ERATELIMITED:  http.StatusTooManyRequests,
	handoff.EINTERNAL:     http.StatusInternalServerError,
	handoff.EUNAVAILABLE:  http.StatusServiceUnavailable,
	handoff.ETIMEOUT:      http.StatusRequestTimeout,
}

var titleOf = map[string]string{
	handoff.EINVALID:      "Invalid request",
	handoff.EUNAUTHORIZED: "Unauthorized",
	handoff.EFORBIDDEN:    "Forbidden",
	handoff.ENOTFOUND:     "Not found",
	handoff.EMETHOD:       "Method not allowed",
	handoff.ENOTACCEPT:    "Not acceptable",
	handoff.ECONFLICT:     "Conflict",
	handoff.EPRECONDITION: "Precondition not met",
	handoff.EGONE:         "Gone",
	handoff.ETOOLARGE:     "Request body too large",
	handoff.EUNSUPPORTED:  "Unsupported media type",
	handoff.EIDEMPOTENCY:  "Idempotency key reused",
	handoff.ELOCKED:       "Locked",
	handoff.ERATELIMITED:  "Too many requests",
	handoff.EINTERNAL:     "Internal error",
	handoff.EUNAVAILABLE:  "Service unavailable",
	handoff.ETIMEOUT:      "Request timeout",
}

// RetryAfter is the Retry-After of a 503, in seconds: a database that is
// down or full, or a server at its limit of requests in flight.
const RetryAfter = "5"

// ProblemTypeBase prefixes the stable problem type URIs ("…/invalid").
const ProblemTypeBase = "https://handoff.dev/problems/"

// Problem is an RFC 9457 problem details body with handoff's extensions:
// the stable code, the finer reason of a refusal when there is one, and,
// for validation, the fields at fault.
type Problem struct {
	Type     string               `json:"type"`
	Title    string               `json:"title"`
	Status   int                  `json:"status"`
	Detail   string               `json:"detail,omitempty"`
	Instance string               `json:"instance,omitempty"`
	Code     string               `json:"code"`
	Reason   string               `json:"reason,omitempty"`
	Errors   []handoff.FieldError `json:"errors,omitempty"`
}

// WriteError answers with the problem for err. Internal errors are logged with
// their detail; the client only learns that one happened.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	code := handoff.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status, code = http.StatusInternalServerError, handoff.EINTERNAL
	}
	if code == handoff.EINTERNAL {
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "route", r.Pattern, "err", err)
	}
	p := Problem{
		Type: ProblemTypeBase + code, Title: titleOf[code], Status: status, Code: code,
		Detail: handoff.ErrorMessage(err), Instance: r.URL.Path, Errors: handoff.ErrorFields(err),
	}
	if code != handoff.EINTERNAL {
		p.Reason = handoff.ErrorReason(err)
	}
	switch status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="handoff"`)
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", RetryAfter)
	}
	if secs := handoff.RetryAfterSeconds(err); secs > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.MarshalWrite(w, p, json.Deterministic(true))
}

// WriteJSON answers with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.MarshalWrite(w, v, json.Deterministic(true))
}

const msgBodyRequired = "is required: send a JSON object"

// Decode reads a JSON body into v strictly: at most MaxBodyBytes, JSON media
// type, no unknown or duplicate members, no trailing data, every type right.
// Its errors name the field at fault ("packages[0].insuredValue.value").
func Decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !(mt == "application/json" || strings.HasSuffix(mt, "+json")) {
			return handoff.Errorf(handoff.EUNSUPPORTED, "The body must be JSON (Content-Type: application/json).")
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, handoff.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return handoff.Errorf(handoff.ETOOLARGE, "The body is larger than %d bytes.", handoff.MaxBodyBytes)
		}
		if limit.CutOff(err) {
			return handoff.Errorf(handoff.ETIMEOUT, "The body did not all arrive in time.")
		}
		return handoff.Invalid(handoff.FieldError{Field: "body", Message: "could not be read"})
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return handoff.Invalid(handoff.FieldError{Field: "body", Message: msgBodyRequired})
	}
	if err := json.Unmarshal(body, v, json.RejectUnknownMembers(true)); err != nil {
		return decodeError(err)
	}
	return nil
}

// decodeError turns a JSON error into EINVALID with the field path.
func decodeError(err error) error {
	var se *json.SemanticError
	if errors.As(err, &se) {
		field := fieldPath(se.JSONPointer)
		if field == "" {
			field = "body"
		}
		switch {
		case errors.Is(se.Err, json.ErrUnknownName):
			return handoff.Invalid(handoff.FieldError{Field: field, Message: "is not a known field"})
		case se.GoType != nil:
			return handoff.Invalid(handoff.FieldError{Field: field, Message: "must be " + describe(se.GoType, se.JSONKind)})
		default:
			return handoff.Invalid(handoff.FieldError{Field: field, Message: "has the wrong type"})
		}
	}
	var sy *jsontext.SyntacticError
	if errors.As(err, &sy) {
		// Malformed JSON has no field at fault; the body is, and the message
		// says where it broke.
		where := fieldPath(sy.JSONPointer)
		if errors.Is(sy.Err, jsontext.ErrDuplicateName) {
			return handoff.Invalid(handoff.FieldError{Field: where, Message: "appears twice"})
		}
		msg := "is not well-formed JSON"
		if where != "" {
			msg += " (at " + where + ")"
		}
		return handoff.Invalid(handoff.FieldError{Field: "body", Message: msg})
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return handoff.Invalid(handoff.FieldError{Field: "body", Message: "is not well-formed JSON (it ends early)"})
	}
	return handoff.Invalid(handoff.FieldError{Field: "body", Message: "is not well-formed JSON"})
}

// describe names the JSON type a Go type wants.
func describe(t reflect.Type, got jsontext.Kind) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeFor[handoff.Decimal]() {
		return "a number"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if got == '0' {
			return "a whole number in range"
		}
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "of another type"
}

// fieldPath turns a JSON pointer ("/packages/0/insuredValue") into the path
// form used in errors ("packages[0].insuredValue").
func fieldPath(p jsontext.Pointer) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		if _, err := strconv.Atoi(tok); err == nil && b.Len() > 0 {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}
