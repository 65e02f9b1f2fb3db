// Package identity answers "who": orgs, users and their roles, API tokens, the
// GitHub account linked to each user, and the audit log of changes to them.
// The Store owns these tables; callers pass a sqldb.Querier (the database or
// an open transaction).
package identity
