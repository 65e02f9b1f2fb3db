package errs

import (
	"errors"
	"fmt"
	"net/http"
)

// Kinds. Each maps to one HTTP status in the gateway.
var (
	ErrInvalid       = errors.New("invalid")       // 400
	ErrUnauthorized  = errors.New("unauthorized")  // 401
	ErrForbidden     = errors.New("forbidden")     // 403
	ErrNotFound      = errors.New("not found")     // 404
	ErrConflict      = errors.New("conflict")      // 409
	ErrUnprocessable = errors.New("unprocessable") // 422
	ErrUnavailable   = errors.New("unavailable")   // 503
)

// kindStatus is the one table from kind to HTTP status, for the JSON API
// and the pages alike.
var kindStatus = []struct {
	kind   error
	status int
}{
	{ErrInvalid, http.StatusBadRequest},
	{ErrUnauthorized, http.StatusUnauthorized},
	{ErrForbidden, http.StatusForbidden},
	{ErrNotFound, http.StatusNotFound},
	{ErrConflict, http.StatusConflict},
	{ErrUnprocessable, http.StatusUnprocessableEntity},
	{ErrUnavailable, http.StatusServiceUnavailable},
}

// HTTPStatus is the HTTP status of err's kind; ok is false for an error of
// no kind.
func HTTPStatus(err error) (status int, ok bool) {
	for _, k := range kindStatus {
		if errors.Is(err, k.kind) {
			return k.status, true
		}
	}
	return 0, false
}

// Error is an error of a kind with the code and sentence shown to the caller.
type Error struct {
	Kind    error
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Unwrap lets errors.Is(err, ErrNotFound) and friends see the kind.
func (e *Error) Unwrap() error { return e.Kind }

// New builds an *Error of kind with code and a formatted message.
func New(kind error, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid is a 400 with code "invalid_request".
func Invalid(format string, args ...any) *Error {
	return New(ErrInvalid, "invalid_request", format, args...)
}

// NotFound is a 404 naming what was not found.
func NotFound(what string) *Error {
	return New(ErrNotFound, "not_found", "%s not found", what)
}

// Forbidden is a 403.
func Forbidden(format string, args ...any) *Error {
	return New(ErrForbidden, "forbidden", format, args...)
}

// Conflict is a 409.
func Conflict(format string, args ...any) *Error {
	return New(ErrConflict, "conflict", format, args...)
}
