// Package errs holds the few error kinds that the HTTP layer turns into a
// status and the error body {"error":code,"message":sentence}. Domain
// packages wrap these kinds (errors.Is finds them) or build an *Error with a
// precise code and message; gateway.writeError is the one place that maps them.
package errs
