// Package sqldbtest gives tests a freshly migrated database of either dialect:
// a new schema on the PostgreSQL server named by TEST_DATABASE_URL, or a new
// SQLite file. With CI set, a missing or unreachable PostgreSQL fails the test
// instead of skipping it.
package sqldbtest
