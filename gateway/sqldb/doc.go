// Package sqldb is the one database handle every store uses: PostgreSQL through
// pgx/v5 (pgxpool) or the embedded SQLite file (modernc.org/sqlite), behind the
// same small Querier interface, with transactions that callers pass down.
//
// Stores write SQL that both engines accept ($1 placeholders, ON CONFLICT,
// RETURNING); where they differ a store asks Dialect().
package sqldb
