// Package httpapi is the HTTP layer and nothing else: routes, middleware,
// authentication, JSON in and out, and the mapping of errors to statuses.
// Each api_*.go file serves one area and declares the small interface it needs
// from the domain package behind it.
package httpapi
