// Package sqldb is the one database handle every store uses: PostgreSQL through
// pgx/v5 (pgxpool) or the embedded SQLite file (modernc.org/sqlite), behind the
// same small Querier interface, with transactions that callers pass down.
//
// Stores write SQL that both engines accept ($1 placeholders, ON CONFLICT,
// RETURNING); where they differ a store asks Dialect().
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Dialect names the engine behind a DB.
type Dialect string

const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// ErrNoRows is returned by Row.Scan when a query matched nothing. Stores map it
// to their own ErrNotFound.
var ErrNoRows = errors.New("sqldb: no rows")

// Querier runs statements; both *DB and Tx implement it, so store methods take a
// Querier and work inside or outside a caller's transaction.
type Querier interface {
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	QueryRow(ctx context.Context, query string, args ...any) Row
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	Dialect() Dialect
}

// Row is one result row.
type Row interface{ Scan(dest ...any) error }

// Rows iterates a result set; Close must be called.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Tx is an open transaction. Driver returns the engine's own transaction
// (pgx.Tx or *sql.Tx) for libraries such as River that insert in it.
type Tx interface {
	Querier
	Driver() any
}

// DB is an open database of either dialect.
type DB struct {
	dialect Dialect
	pool    *pgxpool.Pool
	sqlite  *sql.DB
	locks   sync.Map      // Lock's mutexes (SQLite)
	slots   chan struct{} // bounds connections held by Lock (PostgreSQL)
}

// OpenPostgres connects to url with pgxpool. searchPath, when not empty, pins
// every connection to that schema (tests isolate themselves this way).
func OpenPostgres(ctx context.Context, url, searchPath string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	if searchPath != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = searchPath
	}
	if !strings.Contains(url, "pool_max_conns") && cfg.MaxConns < 10 {
		cfg.MaxConns = 10 // pgx's default (4 on 2 cores) is tight for the queue plus HTTP
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	// Locks hold a connection each while their work runs queries on others:
	// let them take at most half of the pool so the work can always proceed.
	return &DB{dialect: Postgres, pool: pool, slots: make(chan struct{}, max(1, cfg.MaxConns/2))}, nil
}

// OpenSQLite opens (creating it if needed) the database file path. The pool has
// one connection: SQLite allows one writer, and River asks for exactly this.
func OpenSQLite(path string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return &DB{dialect: SQLite, sqlite: db}, nil
}

// Dialect reports the engine.
func (db *DB) Dialect() Dialect { return db.dialect }

// Pool is the pgx pool (nil for SQLite).
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// SQL is the database/sql handle (nil for PostgreSQL).
func (db *DB) SQL() *sql.DB { return db.sqlite }

// Close releases the connections.
func (db *DB) Close() {
	if db.pool != nil {
		db.pool.Close()
	}
	if db.sqlite != nil {
		db.sqlite.Close()
	}
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if db.pool != nil {
		return db.pool.Ping(ctx)
	}
	return db.sqlite.PingContext(ctx)
}

func (db *DB) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	if db.pool != nil {
		tag, err := db.pool.Exec(ctx, q, args...)
		return tag.RowsAffected(), mapErr(err)
	}
	return sqlExec(ctx, db.sqlite, q, args)
}

func (db *DB) QueryRow(ctx context.Context, q string, args ...any) Row {
	if db.pool != nil {
		return pgRow{db.pool.QueryRow(ctx, q, args...)}
	}
	return sqlRow{db.sqlite.QueryRowContext(ctx, q, sqliteArgs(args)...)}
}

func (db *DB) Query(ctx context.Context, q string, args ...any) (Rows, error) {
	if db.pool != nil {
		rows, err := db.pool.Query(ctx, q, args...)
		if err != nil {
			return nil, mapErr(err)
		}
		return pgRows{rows}, nil
	}
	rows, err := db.sqlite.QueryContext(ctx, q, sqliteArgs(args)...)
	if err != nil {
		return nil, mapErr(err)
	}
	return sqlRows{rows}, nil
}

// InTx runs fn in a transaction, committing when it returns nil and rolling
// back otherwise.
func (db *DB) InTx(ctx context.Context, fn func(tx Tx) error) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return err
	}
	return tx.commit(ctx)
}

// Begin opens a transaction; prefer InTx.
func (db *DB) Begin(ctx context.Context) (*txn, error) {
	if db.pool != nil {
		tx, err := db.pool.Begin(ctx)
		if err != nil {
			return nil, fmt.Errorf("begin: %w", mapErr(err))
		}
		return &txn{dialect: Postgres, pg: tx}, nil
	}
	tx, err := db.sqlite.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", mapErr(err))
	}
	return &txn{dialect: SQLite, sql: tx}, nil
}

type txn struct {
	dialect Dialect
	pg      pgx.Tx
	sql     *sql.Tx
	done    bool
}

func (t *txn) Dialect() Dialect { return t.dialect }

func (t *txn) Driver() any {
	if t.pg != nil {
		return t.pg
	}
	return t.sql
}

func (t *txn) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	if t.pg != nil {
		tag, err := t.pg.Exec(ctx, q, args...)
		return tag.RowsAffected(), mapErr(err)
	}
	return sqlExec(ctx, t.sql, q, args)
}

func (t *txn) QueryRow(ctx context.Context, q string, args ...any) Row {
	if t.pg != nil {
		return pgRow{t.pg.QueryRow(ctx, q, args...)}
	}
	return sqlRow{t.sql.QueryRowContext(ctx, q, sqliteArgs(args)...)}
}

func (t *txn) Query(ctx context.Context, q string, args ...any) (Rows, error) {
	if t.pg != nil {
		rows, err := t.pg.Query(ctx, q, args...)
		if err != nil {
			return nil, mapErr(err)
		}
		return pgRows{rows}, nil
	}
	rows, err := t.sql.QueryContext(ctx, q, sqliteArgs(args)...)
	if err != nil {
		return nil, mapErr(err)
	}
	return sqlRows{rows}, nil
}

func (t *txn) commit(ctx context.Context) error {
	t.done = true
	var err error
	if t.pg != nil {
		err = t.pg.Commit(ctx)
	} else {
		err = t.sql.Commit()
	}
	if err != nil {
		return fmt.Errorf("commit: %w", mapErr(err))
	}
	return nil
}

func (t *txn) rollback(ctx context.Context) {
	if t.done {
		return
	}
	t.done = true
	if t.pg != nil {
		_ = t.pg.Rollback(ctx)
	} else {
		_ = t.sql.Rollback()
	}
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func sqlExec(ctx context.Context, e execer, q string, args []any) (int64, error) {
	res, err := e.ExecContext(ctx, q, sqliteArgs(args)...)
	if err != nil {
		return 0, mapErr(err)
	}
	n, err := res.RowsAffected()
	return n, mapErr(err)
}

// timeLayout is fixed-width UTC, so SQLite's text comparison of two times
// orders them correctly, and modernc.org/sqlite parses it back into time.Time
// for TIMESTAMP columns.
const timeLayout = "2006-01-02 15:04:05.000000000-07:00"

func sqliteArgs(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case time.Time:
			out[i] = v.UTC().Format(timeLayout)
		case *time.Time:
			if v == nil {
				out[i] = nil
			} else {
				out[i] = v.UTC().Format(timeLayout)
			}
		default:
			out[i] = a
		}
	}
	return out
}

type pgRow struct{ r pgx.Row }

func (r pgRow) Scan(dest ...any) error { return mapErr(r.r.Scan(dest...)) }

type sqlRow struct{ r *sql.Row }

func (r sqlRow) Scan(dest ...any) error { return mapErr(r.r.Scan(dest...)) }

type pgRows struct{ r pgx.Rows }

func (r pgRows) Next() bool             { return r.r.Next() }
func (r pgRows) Scan(dest ...any) error { return mapErr(r.r.Scan(dest...)) }
func (r pgRows) Err() error             { return mapErr(r.r.Err()) }
func (r pgRows) Close()                 { r.r.Close() }

type sqlRows struct{ r *sql.Rows }

func (r sqlRows) Next() bool             { return r.r.Next() }
func (r sqlRows) Scan(dest ...any) error { return mapErr(r.r.Scan(dest...)) }
func (r sqlRows) Err() error             { return mapErr(r.r.Err()) }
func (r sqlRows) Close()                 { r.r.Close() }

func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) || errors.Is(err, sql.ErrNoRows) {
		return ErrNoRows
	}
	return err
}

// IsUniqueViolation reports whether err is a unique-constraint violation in
// either engine.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// IsUnavailable reports whether err means the database could not be reached
// (as opposed to a query that the database refused).
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P")
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		return true
	}
	if errors.Is(err, sql.ErrConnDone) || strings.Contains(err.Error(), "database is closed") || strings.Contains(err.Error(), "closed pool") {
		return true
	}
	return pgconn.SafeToRetry(err) || errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "database is locked")
}

// Scan helpers ---------------------------------------------------------------

// Collect scans every row with scan and closes rows.
func Collect[T any](rows Rows, scan func(Rows) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
