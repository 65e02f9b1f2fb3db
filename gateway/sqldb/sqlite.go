// The SQLite driver: the embedded file through modernc.org/sqlite.

package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

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
	return &DB{dialect: SQLite, drv: &liteDriver{liteEngine: liteEngine{db}, db: db}, sqlite: db}, nil
}

// liteQuerier is what *sql.DB and *sql.Tx both offer.
type liteQuerier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// liteEngine runs statements on the file or in a transaction.
type liteEngine struct{ q liteQuerier }

func (e liteEngine) exec(ctx context.Context, q string, args []any) (int64, error) {
	res, err := e.q.ExecContext(ctx, q, liteArgs(args)...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (e liteEngine) queryRow(ctx context.Context, q string, args []any) Row {
	return scanRow{e.q.QueryRowContext(ctx, q, liteArgs(args)...)}
}

func (e liteEngine) query(ctx context.Context, q string, args []any) (Rows, error) {
	rows, err := e.q.QueryContext(ctx, q, liteArgs(args)...)
	if err != nil {
		return nil, err
	}
	return scanRows{r: rows, close: func() { _ = rows.Close() }}, nil
}

type liteDriver struct {
	liteEngine
	db    *sql.DB
	locks sync.Map // one mutex per lock name: one process owns the file
}

func (d *liteDriver) ping(ctx context.Context) error { return d.db.PingContext(ctx) }
func (d *liteDriver) close()                         { _ = d.db.Close() }

func (d *liteDriver) begin(ctx context.Context) (txDriver, error) {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return liteTx{liteEngine{tx}, tx}, nil
}

func (d *liteDriver) lock(_ context.Context, key string) (func(), error) {
	m, _ := d.locks.LoadOrStore(key, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock, nil
}

type liteTx struct {
	liteEngine
	tx *sql.Tx
}

func (t liteTx) commit(context.Context) error   { return t.tx.Commit() }
func (t liteTx) rollback(context.Context) error { return t.tx.Rollback() }
func (t liteTx) native() any                    { return t.tx }

// timeLayout is fixed-width UTC, so SQLite's text comparison of two times
// orders them correctly, and modernc.org/sqlite parses it back into time.Time
// for TIMESTAMP columns.
const timeLayout = "2006-01-02 15:04:05.000000000-07:00"

// liteArgs stores times in timeLayout.
func liteArgs(args []any) []any {
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
