package main

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
)

// column is what both schemas must agree on.
type column struct {
	table, name string
	notNull     bool
}

// The PostgreSQL and SQLite migrations make the same tables with the same
// columns and nullability (River's own tables are River's business).
func TestSchemaParity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schemas := map[sqldb.Dialect][]column{}
	for _, d := range sqldbtest.Dialects {
		db := sqldbtest.New(t, d, migrationSets...)
		q := `SELECT table_name, column_name, is_nullable = 'NO' FROM information_schema.columns
			WHERE table_schema = current_schema()`
		if d == sqldb.SQLite {
			q = `SELECT m.name, p.name, p."notnull" = 1 OR p.pk > 0 FROM sqlite_master m, pragma_table_info(m.name) p
				WHERE m.type = 'table'`
		}
		rows, err := db.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		cols, err := sqldb.Collect(rows, func(r sqldb.Rows) (column, error) {
			var c column
			return c, r.Scan(&c.table, &c.name, &c.notNull)
		})
		if err != nil {
			t.Fatal(err)
		}
		var ours []column
		for _, c := range cols {
			if !strings.HasPrefix(c.table, "river_") && c.table != "sqlite_sequence" {
				ours = append(ours, c)
			}
		}
		sort.Slice(ours, func(i, j int) bool {
			if ours[i].table != ours[j].table {
				return ours[i].table < ours[j].table
			}
			return ours[i].name < ours[j].name
		})
		schemas[d] = ours
	}
	pg, lite := index(schemas[sqldb.Postgres]), index(schemas[sqldb.SQLite])
	if len(pg) < 20 {
		t.Fatalf("only %d PostgreSQL columns found", len(pg))
	}
	for k, nn := range pg {
		if lnn, ok := lite[k]; !ok {
			t.Errorf("%s is in PostgreSQL only", k)
		} else if nn != lnn {
			t.Errorf("%s: NOT NULL is %v on PostgreSQL, %v on SQLite", k, nn, lnn)
		}
	}
	for k := range lite {
		if _, ok := pg[k]; !ok {
			t.Errorf("%s is in SQLite only", k)
		}
	}
}

func index(cols []column) map[string]bool {
	m := map[string]bool{}
	for _, c := range cols {
		m[c.table+"."+c.name] = c.notNull
	}
	return m
}
