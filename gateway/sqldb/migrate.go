// Migrations: every domain package embeds its own versioned SQL files, one
// folder per dialect, and hands them to Migrate as a Set. Migrate applies what
// is missing inside one transaction; on PostgreSQL an advisory lock makes
// concurrent replicas starting at once take turns.
package sqldb

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Set is one package's migrations: files named NNNN_description.sql under
// postgres/ and sqlite/ in FS.
type Set struct {
	Name string
	FS   fs.FS
}

// Hook runs extra migrations (River's) after the gateway's own.
type Hook func(ctx context.Context, db *DB) error

type migration struct {
	version int
	name    string
	sql     string
}

// migrationLockKey is the advisory lock id that serializes migrating replicas.
const migrationLockKey = 7201594823

// Migrate applies the pending migrations of sets, in order, then hooks. It
// returns how many files it applied.
func Migrate(ctx context.Context, db *DB, sets []Set, hooks ...Hook) (int, error) {
	if db.Dialect() == Postgres {
		conn, err := db.pool.Acquire(ctx)
		if err != nil {
			return 0, fmt.Errorf("migrate: connect: %w", err)
		}
		defer conn.Release()
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrationLockKey)); err != nil {
			return 0, fmt.Errorf("migrate: lock: %w", err)
		}
		defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(migrationLockKey))
	}
	applied := 0
	err := db.InTx(ctx, func(tx Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			set_name TEXT NOT NULL,
			version INTEGER NOT NULL,
			name TEXT NOT NULL,
			applied_at TIMESTAMP NOT NULL,
			PRIMARY KEY (set_name, version))`); err != nil {
			return fmt.Errorf("migrate: create schema_migrations: %w", err)
		}
		for _, set := range sets {
			files, err := readSet(set, db.Dialect())
			if err != nil {
				return err
			}
			for _, m := range files {
				var n int
				if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE set_name = $1 AND version = $2`, set.Name, m.version).Scan(&n); err != nil {
					return fmt.Errorf("migrate: read applied: %w", err)
				}
				if n > 0 {
					continue
				}
				for _, stmt := range splitStatements(m.sql) {
					if _, err := tx.Exec(ctx, stmt); err != nil {
						return fmt.Errorf("migrate %s/%s: %w", set.Name, m.name, err)
					}
				}
				if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (set_name, version, name, applied_at) VALUES ($1, $2, $3, $4)`,
					set.Name, m.version, m.name, time.Now().UTC()); err != nil {
					return fmt.Errorf("migrate: record %s/%s: %w", set.Name, m.name, err)
				}
				applied++
			}
		}
		return nil
	})
	if err != nil {
		return applied, err
	}
	for _, h := range hooks {
		if err := h(ctx, db); err != nil {
			return applied, err
		}
	}
	return applied, nil
}

func readSet(set Set, d Dialect) ([]migration, error) {
	dir := string(d)
	entries, err := fs.ReadDir(set.FS, dir)
	if err != nil {
		return nil, fmt.Errorf("migrate: read %s/%s: %w", set.Name, dir, err)
	}
	var out []migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migrate: %s/%s: file name must start with a version number", set.Name, e.Name())
		}
		body, err := fs.ReadFile(set.FS, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("migrate: read %s: %w", e.Name(), err)
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// splitStatements splits a migration file on semicolons at line ends. The
// migrations are plain DDL without procedural bodies, so this is enough.
func splitStatements(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ";\n") {
		var lines []string
		for _, l := range strings.Split(part, "\n") {
			if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "--") {
				lines = append(lines, l)
			}
		}
		stmt := strings.TrimSuffix(strings.TrimSpace(strings.Join(lines, "\n")), ";")
		if stmt != "" {
			out = append(out, stmt)
		}
	}
	return out
}
