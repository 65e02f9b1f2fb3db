package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
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

// driver is what each engine implements once: statements outside and inside
// a transaction, beginning one, and the engine's own lock. postgres.go and
// sqlite.go hold the two implementations; DB only delegates.
type driver interface {
	engine
	begin(ctx context.Context) (txDriver, error)
	ping(ctx context.Context) error
	lock(ctx context.Context, key string) (func(), error)
	close()
}

// engine runs statements (a pool or a transaction of one engine).
type engine interface {
	exec(ctx context.Context, q string, args []any) (int64, error)
	queryRow(ctx context.Context, q string, args []any) Row
	query(ctx context.Context, q string, args []any) (Rows, error)
}

// txDriver is an engine's open transaction.
type txDriver interface {
	engine
	commit(ctx context.Context) error
	rollback(ctx context.Context) error
	native() any
}

// DB is an open database of either dialect.
type DB struct {
	dialect Dialect
	drv     driver
	pool    *pgxpool.Pool // PostgreSQL only: River and the migration lock use it
	sqlite  *sql.DB       // SQLite only: River uses it
	closed  atomic.Bool
}

// Dialect reports the engine.
func (db *DB) Dialect() Dialect { return db.dialect }

// Pool is the pgx pool (nil for SQLite).
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// SQL is the database/sql handle (nil for PostgreSQL).
func (db *DB) SQL() *sql.DB { return db.sqlite }

// Close releases the connections; later calls answer ErrClosed.
func (db *DB) Close() {
	if db.closed.CompareAndSwap(false, true) {
		db.drv.close()
	}
}

// ErrClosed is every call on a closed DB; it counts as unavailable.
var ErrClosed = errors.New("sqldb: database closed")

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if db.closed.Load() {
		return ErrClosed
	}
	return db.drv.ping(ctx)
}

func (db *DB) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	if db.closed.Load() {
		return 0, ErrClosed
	}
	n, err := db.drv.exec(ctx, q, args)
	return n, mapErr(err)
}

func (db *DB) QueryRow(ctx context.Context, q string, args ...any) Row {
	if db.closed.Load() {
		return errRow{ErrClosed}
	}
	return db.drv.queryRow(ctx, q, args)
}

func (db *DB) Query(ctx context.Context, q string, args ...any) (Rows, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	rows, err := db.drv.query(ctx, q, args)
	return rows, mapErr(err)
}

// Lock takes the lock named key and returns its release: work that must not
// run twice at once (an OAuth refresh whose refresh token is single-use)
// waits here on every replica that shares the database.
func (db *DB) Lock(ctx context.Context, key string) (func(), error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	release, err := db.drv.lock(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", key, mapErr(err))
	}
	return release, nil
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
	if db.closed.Load() {
		return nil, fmt.Errorf("begin: %w", ErrClosed)
	}
	t, err := db.drv.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", mapErr(err))
	}
	return &txn{dialect: db.dialect, t: t}, nil
}

type txn struct {
	dialect Dialect
	t       txDriver
	done    bool
}

func (t *txn) Dialect() Dialect { return t.dialect }

// Driver is the engine's own transaction: pgx.Tx or *sql.Tx.
func (t *txn) Driver() any { return t.t.native() }

func (t *txn) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	n, err := t.t.exec(ctx, q, args)
	return n, mapErr(err)
}

func (t *txn) QueryRow(ctx context.Context, q string, args ...any) Row {
	return t.t.queryRow(ctx, q, args)
}

func (t *txn) Query(ctx context.Context, q string, args ...any) (Rows, error) {
	rows, err := t.t.query(ctx, q, args)
	return rows, mapErr(err)
}

func (t *txn) commit(ctx context.Context) error {
	t.done = true
	if err := t.t.commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", mapErr(err))
	}
	return nil
}

func (t *txn) rollback(ctx context.Context) {
	if t.done {
		return
	}
	t.done = true
	_ = t.t.rollback(ctx)
}

// errRow is a Row whose Scan reports err.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// scanRow maps an engine's row so Scan reports ErrNoRows.
type scanRow struct{ r Row }

func (r scanRow) Scan(dest ...any) error { return mapErr(r.r.Scan(dest...)) }

// scanRows maps an engine's rows the same way.
type scanRows struct {
	r interface {
		Next() bool
		Scan(dest ...any) error
		Err() error
	}
	close func()
}

func (r scanRows) Next() bool             { return r.r.Next() }
func (r scanRows) Scan(dest ...any) error { return mapErr(r.r.Scan(dest...)) }
func (r scanRows) Err() error             { return mapErr(r.r.Err()) }
func (r scanRows) Close()                 { r.close() }

func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) || errors.Is(err, sql.ErrNoRows) {
		return ErrNoRows
	}
	return err
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
