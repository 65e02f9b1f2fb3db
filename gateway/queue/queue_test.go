package queue_test

import (
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/tryreplicas/gateway/gateway/queue"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
)

type noArgs struct{}

func (noArgs) Kind() string { return "noop" }

// An insert-only queue (admin commands) takes periodic jobs and schedules
// nothing, whatever the configuration registers.
func TestInsertOnlyTakesPeriodicJobs(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, nil, func(t *testing.T, db *sqldb.DB) {
		q, err := queue.New(db, sqldbtest.Logger(), queue.Options{InsertOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("AddPeriodic on an insert-only queue panicked: %v", r)
			}
		}()
		q.AddPeriodic(river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
			func() (river.JobArgs, *river.InsertOpts) { return noArgs{}, nil }, nil))
	})
}
