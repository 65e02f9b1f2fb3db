// Package lineartest is a small Linear GraphQL API for tests and the demo. It
// checks the Authorization header (OAuth tokens as "Bearer …", personal API
// keys bare), answers the gateway's operations and records the comments and
// agent activities it receives.
package lineartest
