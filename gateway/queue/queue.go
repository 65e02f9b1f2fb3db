// Package queue is the gateway's durable job queue: River on whichever
// database the gateway uses. Work caused by a webhook or an API call is
// inserted with InsertTx in the same transaction that records it, and workers
// finish a job with CompleteTx in the transaction that records its effect, so a
// job's outcome is committed exactly once.
package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/tryreplicas/gateway/gateway/sqldb"
)

// How long jobs may run, and when a job is taken for dead.
//
// Most jobs are short: record a delivery's outcome, call one API of GitHub or
// Linear, post a comment. They get JobTimeout. A job still marked running
// RescueAfter after it started belongs to a process that died (kill -9, OOM,
// a lost node), and River's rescuer, which runs on the elected leader every
// 30 s, makes it run again. RescueAfter is no longer than what remains of a
// killed leader's lease (10 to 15 s), so the first pass of the next leader
// already finds them: after a crash, short jobs run again within about 30 s.
// The 2 s between the two let a live worker whose context was just cancelled
// record its own result first.
//
// Jobs that wait on something slower (a launcher, paging through an API)
// declare their own, longer Timeout on their worker; River leaves them
// running until that has passed, so they are never run twice at once.
const (
	JobTimeout  = 8 * time.Second
	RescueAfter = 10 * time.Second
)

// Options tunes the queue.
type Options struct {
	// Workers is how many jobs run at once (default 20).
	Workers int
	// PollInterval is how often idle workers look for new jobs (default 1s;
	// PostgreSQL also wakes them through LISTEN/NOTIFY).
	PollInterval time.Duration
	// InsertOnly builds a client that only inserts (admin commands).
	InsertOnly bool
}

// Queue wraps one River client of the right database type.
type Queue struct {
	workers    *river.Workers
	kinds      int
	insertOnly bool
	pg         *river.Client[pgx.Tx]
	lite       *river.Client[*sql.Tx]
}

// New builds the queue. Register workers on Workers() before Start.
func New(db *sqldb.DB, logger *slog.Logger, opts Options) (*Queue, error) {
	if opts.Workers == 0 {
		opts.Workers = 20
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = time.Second
	}
	q := &Queue{workers: river.NewWorkers(), insertOnly: opts.InsertOnly}
	cfg := &river.Config{
		Logger:               logger.With("component", "queue"),
		Workers:              q.workers,
		FetchPollInterval:    opts.PollInterval,
		FetchCooldown:        min(opts.PollInterval, 100*time.Millisecond),
		MaxAttempts:          12,
		JobTimeout:           JobTimeout,
		RescueStuckJobsAfter: RescueAfter,
	}
	if !opts.InsertOnly {
		cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: opts.Workers}}
	}
	var err error
	switch db.Dialect() {
	case sqldb.Postgres:
		q.pg, err = river.NewClient(riverpgxv5.New(db.Pool()), cfg)
	case sqldb.SQLite:
		q.lite, err = river.NewClient(riversqlite.New(db.SQL()), cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("queue: new river client: %w", err)
	}
	return q, nil
}

// AddWorker registers the worker of one job kind; call it before Start.
func AddWorker[T river.JobArgs](q *Queue, w river.Worker[T]) {
	river.AddWorker(q.workers, w)
	q.kinds++
}

// AddPeriodic schedules a periodic job (run by the elected leader only, so
// once across replicas). An insert-only queue never runs jobs, so it
// schedules nothing.
func (q *Queue) AddPeriodic(job *river.PeriodicJob) {
	if q.insertOnly {
		return
	}
	if q.pg != nil {
		q.pg.PeriodicJobs().Add(job)
	} else if q.lite != nil {
		q.lite.PeriodicJobs().Add(job)
	}
}

// Start begins working jobs until Stop. With no worker registered there is
// nothing to work, and it returns at once.
func (q *Queue) Start(ctx context.Context) error {
	if q.kinds == 0 {
		return nil
	}
	if q.pg != nil {
		return q.pg.Start(ctx)
	}
	return q.lite.Start(ctx)
}

// Stop waits for running jobs to finish (or ctx to end).
func (q *Queue) Stop(ctx context.Context) error {
	if q.kinds == 0 {
		return nil
	}
	if q.pg != nil {
		return q.pg.Stop(ctx)
	}
	return q.lite.Stop(ctx)
}

// Subscribe delivers job events (tests wait on them instead of sleeping).
func (q *Queue) Subscribe(kinds ...river.EventKind) (<-chan *river.Event, func()) {
	if q.pg != nil {
		return q.pg.Subscribe(kinds...)
	}
	return q.lite.Subscribe(kinds...)
}

// InsertTx enqueues args inside tx, so the job exists exactly when tx commits.
func (q *Queue) InsertTx(ctx context.Context, tx sqldb.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobRow, error) {
	var res *rivertype.JobInsertResult
	var err error
	switch t := tx.Driver().(type) {
	case pgx.Tx:
		res, err = q.pg.InsertTx(ctx, t, args, opts)
	case *sql.Tx:
		res, err = q.lite.InsertTx(ctx, t, args, opts)
	default:
		return nil, fmt.Errorf("queue: unknown transaction type %T", t)
	}
	if err != nil {
		return nil, fmt.Errorf("queue: insert %s: %w", args.Kind(), err)
	}
	return res.Job, nil
}

// CompleteTx marks job completed inside tx, so the job's effects and its
// completion commit together (a crash in between re-runs neither).
func CompleteTx[T river.JobArgs](ctx context.Context, tx sqldb.Tx, job *river.Job[T]) error {
	var err error
	switch t := tx.Driver().(type) {
	case pgx.Tx:
		_, err = river.JobCompleteTx[*riverpgxv5.Driver](ctx, t, job)
	case *sql.Tx:
		_, err = river.JobCompleteTx[*riversqlite.Driver](ctx, t, job)
	default:
		err = fmt.Errorf("unknown transaction type %T", t)
	}
	if err != nil {
		return fmt.Errorf("queue: complete job %d: %w", job.ID, err)
	}
	return nil
}

// Job is what the API shows of a queued job.
type Job struct {
	ID          int64     `json:"id"`
	Kind        string    `json:"kind"`
	State       string    `json:"state"`
	Attempt     int       `json:"attempt"`
	MaxAttempts int       `json:"max_attempts"`
	LastError   string    `json:"last_error,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// Get returns a job by id.
func (q *Queue) Get(ctx context.Context, id int64) (Job, error) {
	var row *rivertype.JobRow
	var err error
	if q.pg != nil {
		row, err = q.pg.JobGet(ctx, id)
	} else {
		row, err = q.lite.JobGet(ctx, id)
	}
	if err != nil {
		if errors.Is(err, river.ErrNotFound) {
			return Job{}, sqldb.ErrNoRows
		}
		return Job{}, fmt.Errorf("queue: get job %d: %w", id, err)
	}
	return toJob(row), nil
}

func toJob(row *rivertype.JobRow) Job {
	j := Job{ID: row.ID, Kind: row.Kind, State: string(row.State), Attempt: row.Attempt, MaxAttempts: row.MaxAttempts, CreatedAt: row.CreatedAt}
	if n := len(row.Errors); n > 0 {
		j.LastError = row.Errors[n-1].Error
	}
	return j
}

// Migrations returns the hook that creates and upgrades River's tables.
func Migrations(logger *slog.Logger) sqldb.Hook {
	return func(ctx context.Context, db *sqldb.DB) error {
		cfg := &rivermigrate.Config{Logger: logger}
		var err error
		switch db.Dialect() {
		case sqldb.Postgres:
			var m *rivermigrate.Migrator[pgx.Tx]
			if m, err = rivermigrate.New(riverpgxv5.New(db.Pool()), cfg); err == nil {
				_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
			}
		case sqldb.SQLite:
			var m *rivermigrate.Migrator[*sql.Tx]
			if m, err = rivermigrate.New(riversqlite.New(db.SQL()), cfg); err == nil {
				_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
			}
		}
		if err != nil {
			return fmt.Errorf("migrate river: %w", err)
		}
		return nil
	}
}
