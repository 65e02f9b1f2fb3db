package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/tryreplicas/gateway/gateway/queue"
	"github.com/tryreplicas/gateway/gateway/sqldb"
)

// Purge removes (or empties) what has expired as of now and says how many
// rows it touched.
type Purge func(ctx context.Context, q sqldb.Querier, now time.Time) (int, error)

// Task is one named purge.
type Task struct {
	Name  string
	Purge Purge
}

// Interval is how often the purges run; the first run is at the leader's
// start.
const Interval = time.Hour

// Args is the retention job.
type Args struct{}

// Kind names the job.
func (Args) Kind() string { return "retention" }

// Register adds the retention worker and its periodic job to q.
func Register(q *queue.Queue, db *sqldb.DB, log *slog.Logger, tasks []Task) {
	queue.AddWorker(q, &worker{db: db, log: log.With("component", "retention"), tasks: tasks})
	q.AddPeriodic(river.NewPeriodicJob(river.PeriodicInterval(Interval),
		func() (river.JobArgs, *river.InsertOpts) { return Args{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true}))
}

type worker struct {
	river.WorkerDefaults[Args]
	db    *sqldb.DB
	log   *slog.Logger
	tasks []Task
}

// Timeout: a first run on a large, old table purges many rows.
func (w *worker) Timeout(*river.Job[Args]) time.Duration { return 5 * time.Minute }

// Work runs every purge; one that fails does not keep the others from
// running, and the job is retried.
func (w *worker) Work(ctx context.Context, _ *river.Job[Args]) error {
	now := time.Now().UTC()
	var errs []error
	for _, t := range w.tasks {
		n, err := t.Purge(ctx, w.db, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("retention: %s: %w", t.Name, err))
			continue
		}
		if n > 0 {
			w.log.Info("purged", "what", t.Name, "rows", n)
		}
	}
	return errors.Join(errs...)
}
