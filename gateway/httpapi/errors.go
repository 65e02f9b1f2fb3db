// The one place that turns an error into an HTTP status and the error body
// {"error":"<code>","message":"<sentence>"}.

package httpapi

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
)

// statusCode is the error code of a kinded error that carries none of its
// own (not an *errs.Error), by its status.
var statusCode = map[int]string{
	http.StatusBadRequest:          "invalid_request",
	http.StatusUnauthorized:        "unauthorized",
	http.StatusForbidden:           "forbidden",
	http.StatusNotFound:            "not_found",
	http.StatusConflict:            "conflict",
	http.StatusUnprocessableEntity: "unprocessable",
	http.StatusServiceUnavailable:  "unavailable",
}

// errorBody is the shape of every error answer: a stable code for programs
// and a sentence for people.
type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// writeError answers c with err. Errors of no known kind are logged and
// answered 500 without detail; an unreachable database is a 503 with
// Retry-After so webhook senders try again.
func writeError(c *gin.Context, err error) {
	status, body := classify(err)
	if status >= 500 {
		logger(c).Error("request failed", "err", err, "status", status)
	}
	if status == http.StatusServiceUnavailable {
		c.Header("Retry-After", "5")
	}
	c.AbortWithStatusJSON(status, body)
}

func classify(err error) (int, errorBody) {
	if status, ok := errs.HTTPStatus(err); ok {
		var e *errs.Error
		if errors.As(err, &e) {
			return status, errorBody{Error: e.Code, Message: e.Message}
		}
		return status, errorBody{Error: statusCode[status], Message: err.Error()}
	}
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		return http.StatusRequestEntityTooLarge, errorBody{Error: "too_large", Message: "request body is too large"}
	}
	if sqldb.IsUnavailable(err) {
		return http.StatusServiceUnavailable, errorBody{Error: "unavailable", Message: "the database is unavailable; retry later"}
	}
	return http.StatusInternalServerError, errorBody{Error: "internal", Message: "internal error"}
}
