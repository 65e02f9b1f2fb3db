package sqldb_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/fstest"
	"time"

	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
)

var testSet = sqldb.Set{Name: "sqldbtest", FS: fstest.MapFS{
	"postgres/0001_things.sql": {Data: []byte("CREATE TABLE things (id TEXT PRIMARY KEY, at TIMESTAMPTZ NOT NULL, n BIGINT NOT NULL, b BYTEA, done TIMESTAMPTZ);\n")},
	"sqlite/0001_things.sql":   {Data: []byte("CREATE TABLE things (id TEXT PRIMARY KEY, at TIMESTAMP NOT NULL, n INTEGER NOT NULL, b BLOB, done TIMESTAMP);\n")},
}}

// The behaviour every store relies on, identical on both engines.
func TestConformance(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, []sqldb.Set{testSet}, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		// Times with fractional parts of different lengths must still order.
		times := []time.Time{base.Add(500 * time.Millisecond), base.Add(450 * time.Millisecond), base.Add(time.Second), base}
		for i, at := range times {
			if _, err := db.Exec(ctx, `INSERT INTO things (id, at, n, b) VALUES ($1, $2, $3, $4)`, string(rune('a'+i)), at, i, []byte{byte(i)}); err != nil {
				t.Fatal(err)
			}
		}
		rows, err := db.Query(ctx, `SELECT id, at FROM things WHERE at > $1 ORDER BY at`, base.Add(400*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		got, err := sqldb.Collect(rows, func(r sqldb.Rows) (string, error) {
			var id string
			var at time.Time
			err := r.Scan(&id, &at)
			return id + at.UTC().Format(".000"), err
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"b.450", "a.500", "c.000"}
		if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
			t.Fatalf("ordered by time = %v, want %v", got, want)
		}

		var done *time.Time
		if err := db.QueryRow(ctx, `SELECT done FROM things WHERE id = 'a'`).Scan(&done); err != nil || done != nil {
			t.Fatalf("NULL time = %v, %v", done, err)
		}
		if err := db.QueryRow(ctx, `SELECT id FROM things WHERE id = 'zzz'`).Scan(new(string)); !errors.Is(err, sqldb.ErrNoRows) {
			t.Fatalf("no rows: err = %v", err)
		}
		_, err = db.Exec(ctx, `INSERT INTO things (id, at, n) VALUES ('a', $1, 1)`, base)
		if !sqldb.IsUniqueViolation(err) {
			t.Fatalf("duplicate key: err = %v", err)
		}

		// A failed transaction leaves nothing behind; a good one commits.
		boom := errors.New("boom")
		err = db.InTx(ctx, func(tx sqldb.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO things (id, at, n) VALUES ('t1', $1, 1)`, base); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx err = %v", err)
		}
		if err := db.InTx(ctx, func(tx sqldb.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO things (id, at, n) VALUES ('t2', $1, 2)`, base)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM things WHERE id IN ('t1', 't2')`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("after rollback and commit: %d rows, %v", n, err)
		}

		// Migrating again applies nothing.
		if applied, err := sqldb.Migrate(ctx, db, []sqldb.Set{testSet}); err != nil || applied != 0 {
			t.Fatalf("second migrate applied %d, %v", applied, err)
		}
	})
}

// Replicas starting at once migrate once, without errors.
func TestConcurrentMigrationsPostgres(t *testing.T) {
	t.Parallel()
	schema := sqldbtest.NewSchema(t)
	ctx := context.Background()
	errs := make(chan error, 4)
	applied := make(chan int, 4)
	for i := 0; i < 4; i++ {
		go func() {
			db, err := sqldb.OpenPostgres(ctx, sqldbtest.URL(t), schema)
			if err != nil {
				errs <- err
				return
			}
			defer db.Close()
			n, err := sqldb.Migrate(ctx, db, []sqldb.Set{testSet})
			applied <- n
			errs <- err
		}()
	}
	total := 0
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 4; i++ {
		total += <-applied
	}
	if total != 1 {
		t.Fatalf("migration files applied %d times, want 1", total)
	}
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := sqldb.OpenPostgres(ctx, "postgres://nobody@127.0.0.1:1/none?connect_timeout=1", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = db.Exec(ctx, "SELECT 1")
	if !sqldb.IsUnavailable(err) {
		t.Fatalf("connection refused is not unavailable: %v", err)
	}
}

// Many locks at once never starve the pool: each holder can still query.
func TestLocksLeaveConnectionsForWork(t *testing.T) {
	t.Parallel()
	db := sqldbtest.New(t, sqldb.Postgres)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	errs := make(chan error, 60)
	for i := 0; i < 60; i++ {
		go func() {
			unlock, err := db.Lock(ctx, fmt.Sprint("key-", i))
			if err != nil {
				errs <- err
				return
			}
			defer unlock()
			var one int
			errs <- db.QueryRow(ctx, `SELECT 1`).Scan(&one)
		}()
	}
	for i := 0; i < 60; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// An applied migration file that changes afterwards stops the next start
// with ChangedMigrationError; an untouched set migrates again as a no-op.
func TestChangedMigrationStopsStart(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, nil, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		v1 := sqldb.Set{Name: "drift", FS: fstest.MapFS{
			"postgres/0001_a.sql": {Data: []byte("CREATE TABLE drift_a (id TEXT PRIMARY KEY);\n")},
			"sqlite/0001_a.sql":   {Data: []byte("CREATE TABLE drift_a (id TEXT PRIMARY KEY);\n")},
		}}
		if n, err := sqldb.Migrate(ctx, db, []sqldb.Set{v1}); err != nil || n != 1 {
			t.Fatalf("first migrate = %d, %v", n, err)
		}
		if n, err := sqldb.Migrate(ctx, db, []sqldb.Set{v1}); err != nil || n != 0 {
			t.Fatalf("second migrate = %d, %v", n, err)
		}
		edited := sqldb.Set{Name: "drift", FS: fstest.MapFS{
			"postgres/0001_a.sql": {Data: []byte("CREATE TABLE drift_a (id TEXT PRIMARY KEY, x TEXT);\n")},
			"sqlite/0001_a.sql":   {Data: []byte("CREATE TABLE drift_a (id TEXT PRIMARY KEY, x TEXT);\n")},
		}}
		_, err := sqldb.Migrate(ctx, db, []sqldb.Set{edited})
		var changed *sqldb.ChangedMigrationError
		if !errors.As(err, &changed) || changed.Set != "drift" || changed.File != "0001_a.sql" {
			t.Fatalf("migrate with an edited applied file = %v, want ChangedMigrationError", err)
		}
		// A migration recorded before checksums were kept gets its checksum
		// on the next start instead of failing.
		if _, err := db.Exec(ctx, `UPDATE schema_migrations SET checksum = '' WHERE set_name = 'drift'`); err != nil {
			t.Fatal(err)
		}
		if _, err := sqldb.Migrate(ctx, db, []sqldb.Set{v1}); err != nil {
			t.Fatalf("migrate after a checksum-less record: %v", err)
		}
		if _, err := sqldb.Migrate(ctx, db, []sqldb.Set{edited}); !errors.As(err, &changed) {
			t.Fatalf("recorded checksum not enforced: %v", err)
		}
	})
}

// Ordered puts every set after the sets it needs, each once.
func TestOrderedSets(t *testing.T) {
	a := sqldb.Set{Name: "a"}
	b := sqldb.Set{Name: "b", Needs: []sqldb.Set{a}}
	c := sqldb.Set{Name: "c", Needs: []sqldb.Set{a, b}}
	d := sqldb.Set{Name: "d"}
	var names []string
	for _, s := range sqldb.Ordered([]sqldb.Set{c, d, b, a}) {
		names = append(names, s.Name)
	}
	if got := fmt.Sprint(names); got != "[a b c d]" {
		t.Errorf("Ordered = %s, want [a b c d]", got)
	}
}
