// The PostgreSQL driver: pgx/v5 through pgxpool.

package sqldb

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

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
	drv := &pgDriver{pgEngine: pgEngine{pool}, pool: pool, slots: make(chan struct{}, max(1, cfg.MaxConns/2))}
	return &DB{dialect: Postgres, drv: drv, pool: pool}, nil
}

// pgQuerier is what a pool and a transaction of pgx both offer.
type pgQuerier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// pgEngine runs statements on a pool or in a transaction.
type pgEngine struct{ q pgQuerier }

func (e pgEngine) exec(ctx context.Context, q string, args []any) (int64, error) {
	tag, err := e.q.Exec(ctx, q, args...)
	return tag.RowsAffected(), err
}

func (e pgEngine) queryRow(ctx context.Context, q string, args []any) Row {
	return scanRow{e.q.QueryRow(ctx, q, args...)}
}

func (e pgEngine) query(ctx context.Context, q string, args []any) (Rows, error) {
	rows, err := e.q.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return scanRows{r: rows, close: rows.Close}, nil
}

type pgDriver struct {
	pgEngine
	pool  *pgxpool.Pool
	slots chan struct{} // bounds the connections held by locks
}

func (d *pgDriver) ping(ctx context.Context) error { return d.pool.Ping(ctx) }
func (d *pgDriver) close()                         { d.pool.Close() }

func (d *pgDriver) begin(ctx context.Context) (txDriver, error) {
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return pgTx{pgEngine{tx}, tx}, nil
}

// lock is a session advisory lock on a dedicated connection, so every
// replica sharing the database waits for it. At most half of the pool is
// held by locks, so the locked work's own queries always find a connection.
func (d *pgDriver) lock(ctx context.Context, key string) (func(), error) {
	select {
	case d.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		<-d.slots
		return nil, err
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended($1, 0))`, key); err != nil {
		conn.Release()
		<-d.slots
		return nil, err
	}
	return func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, key)
		conn.Release()
		<-d.slots
	}, nil
}

type pgTx struct {
	pgEngine
	tx pgx.Tx
}

func (t pgTx) commit(ctx context.Context) error   { return t.tx.Commit(ctx) }
func (t pgTx) rollback(ctx context.Context) error { return t.tx.Rollback(ctx) }
func (t pgTx) native() any                        { return t.tx }
