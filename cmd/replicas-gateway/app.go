// The composition root: opens the database, runs migrations, builds the
// stores, the job queue and its workers, and the HTTP server from Config.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/tryreplicas/gateway/gateway"
	"github.com/tryreplicas/gateway/gateway/queue"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/identity"
)

// migrationSets is every package's schema, in dependency order.
var migrationSets = []sqldb.Set{
	identity.Migrations,
}

// openDB opens PostgreSQL when DATABASE_URL is set, else the SQLite file in
// the data dir.
func openDB(ctx context.Context, cfg Config) (*sqldb.DB, error) {
	if cfg.Database.URL != "" {
		return sqldb.OpenPostgres(ctx, cfg.Database.URL.Reveal(), "")
	}
	return sqldb.OpenSQLite(filepath.Join(cfg.Database.DataDir, "replicas.db"))
}

// migrate applies the gateway's and River's migrations.
func migrate(ctx context.Context, db *sqldb.DB, log *slog.Logger) (int, error) {
	n, err := sqldb.Migrate(ctx, db, migrationSets, queue.Migrations(log))
	if err != nil {
		return n, fmt.Errorf("migrate: %w", err)
	}
	return n, nil
}

// app is everything a running gateway holds.
type app struct {
	cfg      Config
	log      *slog.Logger
	db       *sqldb.DB
	queue    *queue.Queue
	server   *gateway.Server
	identity *identity.Store
}

// newApp wires the gateway on an open, migrated database.
func newApp(cfg Config, db *sqldb.DB, log *slog.Logger, queueOpts queue.Options) (*app, error) {
	a := &app{cfg: cfg, log: log, db: db, identity: identity.NewStore()}
	q, err := queue.New(db, log, queueOpts)
	if err != nil {
		return nil, err
	}
	a.queue = q
	a.server = gateway.New(gateway.Deps{Logger: log, DB: db, Identity: a.identity})
	return a, nil
}

var queueInsertOnly = queue.Options{InsertOnly: true}

func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
