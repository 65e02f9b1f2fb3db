// Migrations: every domain package embeds its own versioned SQL files, one
// folder per dialect, and declares them as a Set together with the sets its
// tables need. Migrate orders the sets by those needs, applies what is
// missing inside one transaction, and records each file's checksum: a file
// changed after it was applied stops start-up. On PostgreSQL an advisory
// lock makes concurrent replicas starting at once take turns.

package sqldb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Set is one package's migrations: files named NNNN_description.sql under
// postgres/ and sqlite/ in FS. Needs are the sets whose tables these read or
// reference; they are applied first.
type Set struct {
	Name  string
	FS    fs.FS
	Needs []Set
}

// Ordered lists sets and everything they need, each once, every set after
// the sets it needs (and otherwise in the order given).
func Ordered(sets []Set) []Set {
	var out []Set
	seen := map[string]bool{}
	var visit func(s Set)
	visit = func(s Set) {
		if seen[s.Name] {
			return
		}
		seen[s.Name] = true
		for _, n := range s.Needs {
			visit(n)
		}
		out = append(out, s)
	}
	for _, s := range sets {
		visit(s)
	}
	return out
}

// ChangedMigrationError is a migration file whose content differs from what
// was applied: applied files are never edited, a new file changes the schema.
type ChangedMigrationError struct {
	Set, File         string
	Applied, Embedded string // SHA-256 checksums
}

func (e *ChangedMigrationError) Error() string {
	return fmt.Sprintf("migration %s/%s was changed after it was applied (applied checksum %.12s, this build's %.12s): restore the file and put the change in a new migration",
		e.Set, e.File, e.Applied, e.Embedded)
}

// Hook runs extra migrations (River's) after the gateway's own.
type Hook func(ctx context.Context, db *DB) error

type migration struct {
	version  int
	name     string
	sql      string
	checksum string // hex SHA-256 of the file
}

// addChecksumColumn upgrades a schema_migrations table made before checksums
// were recorded.
func addChecksumColumn(ctx context.Context, tx Tx) error {
	var n int
	q := `SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'schema_migrations' AND column_name = 'checksum'`
	if tx.Dialect() == SQLite {
		q = `SELECT COUNT(*) FROM pragma_table_info('schema_migrations') WHERE name = 'checksum'`
	}
	if err := tx.QueryRow(ctx, q).Scan(&n); err != nil {
		return fmt.Errorf("migrate: inspect schema_migrations: %w", err)
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `ALTER TABLE schema_migrations ADD COLUMN checksum TEXT NOT NULL DEFAULT ''`); err != nil {
		return fmt.Errorf("migrate: add checksum column: %w", err)
	}
	return nil
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
		if err := addChecksumColumn(ctx, tx); err != nil {
			return err
		}
		for _, set := range Ordered(sets) {
			files, err := readSet(set, db.Dialect())
			if err != nil {
				return err
			}
			for _, m := range files {
				var sum string
				err := tx.QueryRow(ctx, `SELECT checksum FROM schema_migrations WHERE set_name = $1 AND version = $2`, set.Name, m.version).Scan(&sum)
				switch {
				case err == nil && sum == "":
					// Applied before checksums were kept: record this one.
					if _, err := tx.Exec(ctx, `UPDATE schema_migrations SET checksum = $1 WHERE set_name = $2 AND version = $3`, m.checksum, set.Name, m.version); err != nil {
						return fmt.Errorf("migrate: record checksum of %s/%s: %w", set.Name, m.name, err)
					}
					continue
				case err == nil && sum != m.checksum:
					return &ChangedMigrationError{Set: set.Name, File: m.name, Applied: sum, Embedded: m.checksum}
				case err == nil:
					continue
				case !errors.Is(err, ErrNoRows):
					return fmt.Errorf("migrate: read applied: %w", err)
				}
				for _, stmt := range splitStatements(m.sql) {
					if _, err := tx.Exec(ctx, stmt); err != nil {
						return fmt.Errorf("migrate %s/%s: %w", set.Name, m.name, err)
					}
				}
				if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (set_name, version, name, applied_at, checksum) VALUES ($1, $2, $3, $4, $5)`,
					set.Name, m.version, m.name, time.Now().UTC(), m.checksum); err != nil {
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
		sum := sha256.Sum256(body)
		out = append(out, migration{version: v, name: e.Name(), sql: string(body), checksum: hex.EncodeToString(sum[:])})
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
