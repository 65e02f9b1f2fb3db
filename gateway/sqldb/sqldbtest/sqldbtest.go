package sqldbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/gateway/queue"
	"github.com/tryreplicas/gateway/gateway/sqldb"
)

// Dialects is the list every conformance suite runs over.
var Dialects = []sqldb.Dialect{sqldb.Postgres, sqldb.SQLite}

// Each runs fn once per dialect as parallel subtests, each with its own
// migrated database.
func Each(t *testing.T, sets []sqldb.Set, fn func(t *testing.T, db *sqldb.DB)) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			fn(t, New(t, d, sets...))
		})
	}
}

// New opens a migrated, isolated database of dialect d, closed and dropped at
// the end of the test.
func New(t testing.TB, d sqldb.Dialect, sets ...sqldb.Set) *sqldb.DB {
	t.Helper()
	ctx := context.Background()
	var db *sqldb.DB
	switch d {
	case sqldb.Postgres:
		db = newPostgres(t)
	case sqldb.SQLite:
		var err error
		db, err = sqldb.OpenSQLite(filepath.Join(t.TempDir(), "replicas.db"))
		if err != nil {
			t.Fatalf("open sqlite: %v", err)
		}
		t.Cleanup(db.Close)
	}
	if _, err := sqldb.Migrate(ctx, db, sets, queue.Migrations(Logger())); err != nil {
		t.Fatalf("migrate %s: %v", d, err)
	}
	return db
}

// URL returns TEST_DATABASE_URL, failing under CI and skipping elsewhere when
// it is not set.
func URL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("TEST_DATABASE_URL")
	if url == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TEST_DATABASE_URL is not set: PostgreSQL tests must not skip under CI")
		}
		t.Skip("TEST_DATABASE_URL not set; PostgreSQL tests skipped (set it, or run .ci/run)")
	}
	return url
}

// NewSchema creates an empty schema on the test server and returns its name;
// it is dropped when the test ends.
func NewSchema(t testing.TB) string {
	t.Helper()
	url := URL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := sqldb.OpenPostgres(ctx, url, "")
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	if err := admin.Ping(ctx); err != nil {
		t.Fatalf("TEST_DATABASE_URL unreachable: %v", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
		admin.Close()
	})
	return schema
}

// SchemaURL creates an empty schema (as NewSchema) and returns a connection
// URL whose search_path is that schema, for code that opens the database
// itself (a gateway's configuration, a child process), and the schema's name.
func SchemaURL(t testing.TB) (dsn, schema string) {
	t.Helper()
	schema = NewSchema(t)
	url := URL(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return url + sep + "search_path=" + schema, schema
}

func newPostgres(t testing.TB) *sqldb.DB {
	t.Helper()
	schema := NewSchema(t)
	db, err := sqldb.OpenPostgres(context.Background(), URL(t), schema)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(db.Close)
	return db
}

// Logger discards everything unless TEST_LOG is set.
func Logger() *slog.Logger {
	if os.Getenv("TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// Dump returns every row of every table of db as text, for tests that scan
// the raw database for secrets.
func Dump(t testing.TB, db *sqldb.DB) string {
	t.Helper()
	ctx := context.Background()
	q := `SELECT name FROM sqlite_master WHERE type = 'table'`
	if db.Dialect() == sqldb.Postgres {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`
	}
	rows, err := db.Query(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := sqldb.Collect(rows, func(r sqldb.Rows) (string, error) {
		var s string
		return s, r.Scan(&s)
	})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, table := range tables {
		cq := `SELECT * FROM "` + table + `"`
		if db.Dialect() == sqldb.Postgres {
			cq = `SELECT t::text FROM "` + table + `" t`
		}
		rows, err := db.Query(ctx, cq)
		if err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		if db.Dialect() == sqldb.Postgres {
			lines, err := sqldb.Collect(rows, func(r sqldb.Rows) (string, error) {
				var s string
				return s, r.Scan(&s)
			})
			if err != nil {
				t.Fatal(err)
			}
			b.WriteString(table + ": " + strings.Join(lines, "\n") + "\n")
			continue
		}
		rows.Close()
		b.WriteString(dumpSQLite(t, db, table))
	}
	return b.String()
}

func dumpSQLite(t testing.TB, db *sqldb.DB, table string) string {
	t.Helper()
	rows, err := db.SQL().Query(`SELECT * FROM "` + table + `"`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var b strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		b.WriteString(table + ":")
		for _, v := range vals {
			switch x := v.(type) {
			case []byte:
				b.WriteString(" " + string(x))
			default:
				b.WriteString(" " + fmt.Sprint(x))
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}
