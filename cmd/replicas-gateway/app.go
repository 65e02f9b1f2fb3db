// The composition root: opens the database, runs migrations, builds the
// stores, the job queue and its workers, and the HTTP server from Config.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/tryreplicas/gateway/credstore"
	"github.com/tryreplicas/gateway/gateway"
	"github.com/tryreplicas/gateway/gateway/queue"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/identity"
)

// migrationSets is every package's schema, in dependency order.
var migrationSets = []sqldb.Set{
	identity.Migrations,
	credstore.Migrations,
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
	keys     *credstore.Keyring
	creds    *credstore.Store
}

// loadKeyring builds the keyring from REPLICAS_ENCRYPTION_KEY (+ previous
// keys); on the embedded default without a key it uses (and on first start
// creates) the key file in the data dir.
func loadKeyring(cfg Config, log *slog.Logger) (*credstore.Keyring, error) {
	var current []byte
	var err error
	if cfg.Encryption.Key != "" {
		if current, err = credstore.DecodeKey(cfg.Encryption.Key.Reveal()); err != nil {
			return nil, fmt.Errorf("REPLICAS_ENCRYPTION_KEY: %w", err)
		}
	} else {
		var created bool
		if current, created, err = credstore.LoadOrCreateKeyFile(cfg.Database.DataDir); err != nil {
			return nil, err
		}
		if created {
			log.Warn("created a new encryption key file; back it up with the database (or set REPLICAS_ENCRYPTION_KEY)",
				"path", filepath.Join(cfg.Database.DataDir, "encryption.key"))
		}
	}
	var previous [][]byte
	for _, k := range cfg.Encryption.PreviousKeys {
		b, err := credstore.DecodeKey(k.Reveal())
		if err != nil {
			return nil, fmt.Errorf("REPLICAS_PREVIOUS_ENCRYPTION_KEYS: %w", err)
		}
		previous = append(previous, b)
	}
	return credstore.NewKeyring(current, previous...)
}

// newApp wires the gateway on an open, migrated database.
func newApp(cfg Config, db *sqldb.DB, log *slog.Logger, queueOpts queue.Options) (*app, error) {
	a := &app{cfg: cfg, log: log, db: db, identity: identity.NewStore()}
	keys, err := loadKeyring(cfg, log)
	if err != nil {
		return nil, err
	}
	a.keys = keys
	a.creds = credstore.NewStore(keys, a.identity)
	q, err := queue.New(db, log, queueOpts)
	if err != nil {
		return nil, err
	}
	a.queue = q
	a.server = gateway.New(gateway.Deps{Logger: log, DB: db, Identity: a.identity, Credentials: a.creds})
	return a, nil
}

var queueInsertOnly = queue.Options{InsertOnly: true}

func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
