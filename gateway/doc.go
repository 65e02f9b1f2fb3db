// Package gateway is the folder of the service's foundation and its HTTP API;
// it holds no code of its own.
//
// The foundation is what every domain package builds on: sqldb (one database
// handle for PostgreSQL and SQLite, migrations), queue (River jobs inserted in
// the caller's transaction), errs (typed errors with stable codes), secret
// (values that never print) and retention (periodic clean-up). The HTTP API
// is httpapi: routes, authentication, error mapping and metrics, calling one
// domain method per request.
//
// Domain packages (identity, credstore, integrations/...) import the
// foundation and never httpapi; only the composition root in
// cmd/replicas-gateway imports httpapi.
package gateway
