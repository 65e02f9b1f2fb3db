// Group commit on both databases: deliveries recorded at once share one
// transaction, duplicates inside a batch and across batches are recorded
// once, a row the database refuses fails alone, a database that is down
// fails the whole batch as unavailable, and callers that leave do not stop
// their batch. Batches are closed by size (with a wait far longer than any
// test), so which deliveries share a transaction is deterministic.
package intake_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/integrations/intake"
)

// answer is what Record returned to one caller.
type answer struct {
	d   intake.Delivery
	dup bool
	err error
}

// recordAll records ds at once, each from its own goroutine with its own
// context, and returns the answers in the order of ds.
func recordAll(svc *intake.Service, ctxs []context.Context, ds []intake.Delivery) []answer {
	out := make([]answer, len(ds))
	var wg sync.WaitGroup
	for i, d := range ds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			if ctxs != nil {
				ctx = ctxs[i]
			}
			got, dup, err := svc.Record(ctx, d)
			out[i] = answer{got, dup, err}
		}()
	}
	wg.Wait()
	return out
}

// oneBatch closes a batch only when it holds n deliveries.
func oneBatch(n int) intake.Batching {
	return intake.Batching{Wait: time.Hour, Size: n, Committers: 2}
}

func TestBatchRecordsDuplicatesOnce(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, func(d intake.Delivery, _ int) (intake.Plan, error) {
			return intake.Plan{OrgID: "org_1", Outcome: "ignored: " + d.DeliveryID}, nil
		})
		ctx := context.Background()
		e.svc.SetBatching(intake.Batching{Size: 1})
		earlier, dup, err := e.svc.Record(ctx, delivery("d-earlier"))
		if err != nil || dup {
			t.Fatalf("earlier delivery: dup=%v err=%v", dup, err)
		}

		e.svc.SetBatching(oneBatch(6))
		ds := []intake.Delivery{delivery("d-a"), delivery("d-b"), delivery("d-a"), delivery("d-earlier"), delivery("d-c"), delivery("d-a")}
		got := recordAll(e.svc, nil, ds)
		if s := e.svc.Stats(); s.Batches != 1 || s.Deliveries != 6 || s.Fallbacks != 0 {
			t.Fatalf("stats %+v, want one batch of 6 and no fallback", s)
		}
		ids := map[string]string{}
		accepted := map[string]int{}
		for i, a := range got {
			if a.err != nil {
				t.Fatalf("%s: %v", ds[i].DeliveryID, a.err)
			}
			if id, ok := ids[ds[i].DeliveryID]; ok && id != a.d.ID {
				t.Fatalf("%s answered with ids %s and %s", ds[i].DeliveryID, id, a.d.ID)
			}
			ids[ds[i].DeliveryID] = a.d.ID
			if !a.dup {
				accepted[ds[i].DeliveryID]++
			}
		}
		if ids["d-earlier"] != earlier.ID || accepted["d-earlier"] != 0 {
			t.Fatalf("the delivery of an earlier batch: id %s (want %s), accepted %d times", ids["d-earlier"], earlier.ID, accepted["d-earlier"])
		}
		for _, id := range []string{"d-a", "d-b", "d-c"} {
			if accepted[id] != 1 {
				t.Fatalf("%s accepted %d times, want once (answers %+v)", id, accepted[id], got)
			}
		}
		if n := e.count(t, `SELECT COUNT(*) FROM deliveries`); n != 4 {
			t.Fatalf("%d delivery rows, want 4", n)
		}
		// One process job per row, named by the row; none left over for a duplicate.
		if n := e.count(t, `SELECT COUNT(*) FROM river_job WHERE kind = 'process_delivery'`); n != 4 {
			t.Fatalf("%d process jobs, want 4", n)
		}
		if n := e.count(t, `SELECT COUNT(*) FROM deliveries WHERE job_id IS NULL`); n != 0 {
			t.Fatalf("%d deliveries without their job", n)
		}

		e.start(t)
		for _, id := range ids {
			if r := e.waitState(t, id, "processed"); r.Attempts != 1 {
				t.Fatalf("delivery %s: %+v", id, r)
			}
		}
		for _, id := range []string{"d-a", "d-b", "d-c", "d-earlier"} {
			if n := e.src.count(id); n != 1 {
				t.Fatalf("%s interpreted %d times, want once", id, n)
			}
		}
	})
}

// rejectPoison makes the database refuse the row of delivery id "poison",
// the way a row can fail for its own reasons (a constraint, a bad value).
func rejectPoison(t *testing.T, db *sqldb.DB) {
	t.Helper()
	stmts := []string{
		`CREATE FUNCTION reject_poison() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.delivery_id = 'poison' THEN RAISE EXCEPTION 'poison delivery'; END IF; RETURN NEW; END $$`,
		`CREATE TRIGGER reject_poison BEFORE INSERT ON deliveries FOR EACH ROW EXECUTE FUNCTION reject_poison()`,
	}
	if db.Dialect() == sqldb.SQLite {
		stmts = []string{`CREATE TRIGGER reject_poison BEFORE INSERT ON deliveries WHEN NEW.delivery_id = 'poison'
			BEGIN SELECT RAISE(ABORT, 'poison delivery'); END`}
	}
	for _, s := range stmts {
		if _, err := db.Exec(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBatchFailingRowFailsAlone(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, nil)
		rejectPoison(t, db)
		e.svc.SetBatching(oneBatch(4))
		ds := []intake.Delivery{delivery("ok-1"), delivery("poison"), delivery("ok-2"), delivery("ok-3")}
		got := recordAll(e.svc, nil, ds)
		for i, a := range got {
			if ds[i].DeliveryID == "poison" {
				if !errors.Is(a.err, errs.ErrUnavailable) {
					t.Fatalf("poison: %v, want the unavailable kind (503, the sender retries)", a.err)
				}
				continue
			}
			if a.err != nil || a.dup || a.d.ID == "" {
				t.Fatalf("%s: %+v", ds[i].DeliveryID, a)
			}
		}
		if s := e.svc.Stats(); s.Batches != 1 || s.Fallbacks != 1 {
			t.Fatalf("stats %+v, want one batch that fell back", s)
		}
		if n := e.count(t, `SELECT COUNT(*) FROM deliveries WHERE delivery_id IN ('ok-1', 'ok-2', 'ok-3') AND job_id IS NOT NULL`); n != 3 {
			t.Fatalf("%d of the 3 good deliveries recorded with their job", n)
		}
		if n := e.count(t, `SELECT COUNT(*) FROM river_job WHERE kind = 'process_delivery'`); n != 3 {
			t.Fatalf("%d process jobs, want 3", n)
		}
	})
}

func TestBatchDatabaseDown(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, nil)
		e.svc.SetBatching(oneBatch(3))
		db.Close()
		got := recordAll(e.svc, nil, []intake.Delivery{delivery("d-1"), delivery("d-2"), delivery("d-1")})
		for i, a := range got {
			if !errors.Is(a.err, errs.ErrUnavailable) {
				t.Fatalf("delivery %d: %v, want the unavailable kind", i, a.err)
			}
		}
		if s := e.svc.Stats(); s.Fallbacks != 0 {
			t.Fatalf("stats %+v: an unavailable database is not retried row by row", s)
		}
	})
}

// Every caller of a batch has left before it commits (GitHub gave up, the
// connection dropped): the batch still commits, as a whole.
func TestBatchCommitsWhenCallersLeave(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, nil)
		e.svc.SetBatching(oneBatch(3))
		gone, cancel := context.WithCancel(context.Background())
		cancel()
		ctxs := []context.Context{gone, gone, gone}
		got := recordAll(e.svc, ctxs, []intake.Delivery{delivery("d-1"), delivery("d-2"), delivery("d-3")})
		// The batch's leader commits for everyone and answers after it
		// did; the others were told that their caller left.
		var led int
		for _, a := range got {
			if a.err == nil {
				led++
			} else if !errors.Is(a.err, context.Canceled) || !errors.Is(a.err, errs.ErrUnavailable) {
				t.Fatalf("a caller that left: %v", a.err)
			}
		}
		if led != 1 {
			t.Fatalf("%d callers answered without error, want the leader only", led)
		}
		if n := e.count(t, `SELECT COUNT(*) FROM deliveries`); n != 3 {
			t.Fatalf("%d deliveries recorded, want all 3", n)
		}
	})
}
