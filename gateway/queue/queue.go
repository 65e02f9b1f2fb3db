package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
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

// Urgent is the queue of jobs a sender's protocol waits for within seconds
// (Linear's first thought in a new agent session). It has its own workers,
// so a backlog of ordinary jobs never delays them; insert with
// &river.InsertOpts{Queue: queue.Urgent}.
const Urgent = "urgent"

// urgentWorkers is how many urgent jobs run at once.
const urgentWorkers = 10

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
	client     client
}

// client is River's client for one database engine: riverClient over pgx
// for PostgreSQL, over database/sql for SQLite.
type client interface {
	start(ctx context.Context) error
	stop(ctx context.Context) error
	subscribe(kinds ...river.EventKind) (<-chan *river.Event, func())
	addPeriodic(job *river.PeriodicJob)
	insertTx(ctx context.Context, tx sqldb.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	insertManyTx(ctx context.Context, tx sqldb.Tx, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
	deleteTx(ctx context.Context, tx sqldb.Tx, ids []int64) error
	completeTx(ctx context.Context, tx sqldb.Tx, row *rivertype.JobRow) error
	jobGet(ctx context.Context, id int64) (*rivertype.JobRow, error)
	jobList(ctx context.Context, params *river.JobListParams) ([]*rivertype.JobRow, error)
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
		cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: opts.Workers}, Urgent: {MaxWorkers: urgentWorkers}}
	}
	var err error
	switch db.Dialect() {
	case sqldb.Postgres:
		q.client, err = newRiverClient[*riverpgxv5.Driver](riverpgxv5.New(db.Pool()), cfg)
	case sqldb.SQLite:
		q.client, err = newRiverClient[*riversqlite.Driver](riversqlite.New(db.SQL()), cfg)
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
	if !q.insertOnly {
		q.client.addPeriodic(job)
	}
}

// Start begins working jobs until Stop. With no worker registered there is
// nothing to work, and it returns at once.
func (q *Queue) Start(ctx context.Context) error {
	if q.kinds == 0 {
		return nil
	}
	return q.client.start(ctx)
}

// Stop waits for running jobs to finish (or ctx to end).
func (q *Queue) Stop(ctx context.Context) error {
	if q.kinds == 0 {
		return nil
	}
	return q.client.stop(ctx)
}

// Subscribe delivers job events (tests wait on them instead of sleeping).
func (q *Queue) Subscribe(kinds ...river.EventKind) (<-chan *river.Event, func()) {
	return q.client.subscribe(kinds...)
}

// InsertTx enqueues args inside tx, so the job exists exactly when tx commits.
func (q *Queue) InsertTx(ctx context.Context, tx sqldb.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobRow, error) {
	res, err := q.client.insertTx(ctx, tx, args, opts)
	if err != nil {
		return nil, fmt.Errorf("queue: insert %s: %w", args.Kind(), err)
	}
	return res.Job, nil
}

// InsertManyTx enqueues many jobs inside tx in one statement and returns
// their ids, in the order of params.
func (q *Queue) InsertManyTx(ctx context.Context, tx sqldb.Tx, params []river.InsertManyParams) ([]int64, error) {
	if len(params) == 0 {
		return nil, nil
	}
	res, err := q.client.insertManyTx(ctx, tx, params)
	if err != nil {
		return nil, fmt.Errorf("queue: insert %d %s jobs: %w", len(params), params[0].Args.Kind(), err)
	}
	ids := make([]int64, len(res))
	for i, r := range res {
		ids[i] = r.Job.ID
	}
	return ids, nil
}

// DeleteTx deletes the jobs ids inside tx (jobs inserted in tx that turned
// out not to be needed); running jobs are never deleted.
func (q *Queue) DeleteTx(ctx context.Context, tx sqldb.Tx, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	if err := q.client.deleteTx(ctx, tx, ids); err != nil {
		return fmt.Errorf("queue: delete %d jobs: %w", len(ids), err)
	}
	return nil
}

// CompleteTx marks job completed inside tx, so the job's effects and its
// completion commit together (a crash in between re-runs neither). It needs
// the context River gave the worker.
func CompleteTx[T river.JobArgs](ctx context.Context, tx sqldb.Tx, job *river.Job[T]) error {
	c, ok := ctx.Value(clientKey{}).(client)
	if !ok {
		return fmt.Errorf("queue: complete job %d: not called from a worker of this queue", job.ID)
	}
	if err := c.completeTx(ctx, tx, job.JobRow); err != nil {
		return fmt.Errorf("queue: complete job %d: %w", job.ID, err)
	}
	return nil
}

// clientKey finds the queue's client in a worker's context.
type clientKey struct{}

// riverClient is the one client implementation, for either engine: TTx is
// the engine's transaction type (pgx.Tx or *sql.Tx).
type riverClient[TDriver riverdriver.Driver[TTx], TTx any] struct {
	c *river.Client[TTx]
}

func newRiverClient[TDriver riverdriver.Driver[TTx], TTx any](driver TDriver, cfg *river.Config) (*riverClient[TDriver, TTx], error) {
	rc := &riverClient[TDriver, TTx]{}
	// Workers find the client in their context, for CompleteTx.
	cfg.Middleware = append(cfg.Middleware, river.WorkerMiddlewareFunc(func(ctx context.Context, _ *rivertype.JobRow, next func(context.Context) error) error {
		return next(context.WithValue(ctx, clientKey{}, client(rc)))
	}))
	c, err := river.NewClient[TTx](driver, cfg)
	if err != nil {
		return nil, err
	}
	rc.c = c
	return rc, nil
}

// native is the engine's transaction inside tx.
func (rc *riverClient[TDriver, TTx]) native(tx sqldb.Tx) (TTx, error) {
	t, ok := tx.Driver().(TTx)
	if !ok {
		return t, fmt.Errorf("transaction of type %T is not this queue's database", tx.Driver())
	}
	return t, nil
}

func (rc *riverClient[TDriver, TTx]) start(ctx context.Context) error { return rc.c.Start(ctx) }
func (rc *riverClient[TDriver, TTx]) stop(ctx context.Context) error  { return rc.c.Stop(ctx) }
func (rc *riverClient[TDriver, TTx]) addPeriodic(job *river.PeriodicJob) {
	rc.c.PeriodicJobs().Add(job)
}

func (rc *riverClient[TDriver, TTx]) subscribe(kinds ...river.EventKind) (<-chan *river.Event, func()) {
	return rc.c.Subscribe(kinds...)
}

func (rc *riverClient[TDriver, TTx]) insertTx(ctx context.Context, tx sqldb.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	t, err := rc.native(tx)
	if err != nil {
		return nil, err
	}
	return rc.c.InsertTx(ctx, t, args, opts)
}

func (rc *riverClient[TDriver, TTx]) insertManyTx(ctx context.Context, tx sqldb.Tx, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error) {
	t, err := rc.native(tx)
	if err != nil {
		return nil, err
	}
	return rc.c.InsertManyTx(ctx, t, params)
}

func (rc *riverClient[TDriver, TTx]) deleteTx(ctx context.Context, tx sqldb.Tx, ids []int64) error {
	t, err := rc.native(tx)
	if err != nil {
		return err
	}
	_, err = rc.c.JobDeleteManyTx(ctx, t, river.NewJobDeleteManyParams().IDs(ids...).First(len(ids)))
	return err
}

// anyArgs lets one non-generic method complete a job of any kind: River
// only reads the row.
type anyArgs struct{}

func (anyArgs) Kind() string { return "" }

func (rc *riverClient[TDriver, TTx]) completeTx(ctx context.Context, tx sqldb.Tx, row *rivertype.JobRow) error {
	t, err := rc.native(tx)
	if err != nil {
		return err
	}
	_, err = river.JobCompleteTx[TDriver](ctx, t, &river.Job[anyArgs]{JobRow: row})
	return err
}

func (rc *riverClient[TDriver, TTx]) jobList(ctx context.Context, params *river.JobListParams) ([]*rivertype.JobRow, error) {
	res, err := rc.c.JobList(ctx, params)
	if err != nil {
		return nil, err
	}
	return res.Jobs, nil
}

func (rc *riverClient[TDriver, TTx]) jobGet(ctx context.Context, id int64) (*rivertype.JobRow, error) {
	return rc.c.JobGet(ctx, id)
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
	row, err := q.client.jobGet(ctx, id)
	if err != nil {
		if errors.Is(err, river.ErrNotFound) {
			return Job{}, sqldb.ErrNoRows
		}
		return Job{}, fmt.Errorf("queue: get job %d: %w", id, err)
	}
	return toJob(row), nil
}

// Jobs returns the jobs with these ids that still exist, by id, in one query.
func (q *Queue) Jobs(ctx context.Context, ids []int64) (map[int64]Job, error) {
	out := make(map[int64]Job, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := q.client.jobList(ctx, river.NewJobListParams().IDs(ids...).First(len(ids)))
	if err != nil {
		return nil, fmt.Errorf("queue: list jobs: %w", err)
	}
	for _, row := range rows {
		out[row.ID] = toJob(row)
	}
	return out, nil
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
		var err error
		switch db.Dialect() {
		case sqldb.Postgres:
			err = migrateRiver(ctx, riverpgxv5.New(db.Pool()), logger)
		case sqldb.SQLite:
			err = migrateRiver(ctx, riversqlite.New(db.SQL()), logger)
		}
		if err != nil {
			return fmt.Errorf("migrate river: %w", err)
		}
		return nil
	}
}

func migrateRiver[TTx any](ctx context.Context, driver riverdriver.Driver[TTx], logger *slog.Logger) error {
	m, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: logger})
	if err != nil {
		return err
	}
	_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	return err
}
