// Package errs holds the few error kinds that the HTTP layers turn into a
// status: the JSON API's body {"error":code,"message":sentence} and the
// pages' error page. Domain packages wrap these kinds (errors.Is finds them)
// or build an *Error with a precise code and message; HTTPStatus is the one
// table from kind to status.
package errs
