// Recording deliveries (one transaction: the row and its process job, before
// the 2xx), processing them once (the worker), listing and replaying them.

package intake

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/queue"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/integrations/launch"
)

//go:embed migrations
var migrations embed.FS

// Migrations is this package's schema.
var Migrations = sqldb.Set{Name: "intake", FS: sqldb.MustSub(migrations, "migrations"), Needs: []sqldb.Set{launch.Migrations}}

// ErrNotFound is a missing delivery.
var ErrNotFound = fmt.Errorf("intake: delivery %w", errs.ErrNotFound)

// ErrPermanent marks a delivery that retrying cannot help (e.g. a body the
// source cannot interpret): sources wrap it, and the delivery is recorded
// with outcome "error: …" at once, without retries.
var ErrPermanent = errors.New("permanent")

// errNotRecorded answers a delivery that could not be stored: 503 with
// Retry-After, so the sender tries again (nothing was written).
var errNotRecorded = errs.New(errs.ErrUnavailable, "unavailable", "the delivery could not be recorded; retry later")

// Outcomes that intake itself records: those of a launch attempt
// (launch.Outcome) and a delivery no source interprets. Sources add their
// own through Plan.Outcome.
const (
	OutcomeLaunched               = launch.OutcomeLaunched
	OutcomeDuplicate              = launch.OutcomeDuplicate
	OutcomeNoCredentials          = launch.OutcomeNoCredentials
	OutcomeRepositoryNotInstalled = launch.OutcomeRepositoryNotInstalled
	OutcomeNoSource               = "error: no source"
)

// MaxAttempts is how often a delivery is tried before it is dead.
const MaxAttempts = 10

// Launcher creates workspaces inside the committing transaction
// (launch.Service).
type Launcher interface {
	LaunchTx(ctx context.Context, tx sqldb.Tx, t launch.Trigger) (launch.Workspace, error)
}

// Service records and processes deliveries.
type Service struct {
	db       *sqldb.DB
	queue    *queue.Queue
	launcher Launcher
	sources  map[string]Source
	log      *slog.Logger
	now      func() time.Time
	batcher  *batcher
	stats    batchCounters
}

// NewService wires the service and registers its process worker on q.
// Register sources with AddSource before the queue starts.
func NewService(db *sqldb.DB, q *queue.Queue, launcher Launcher, log *slog.Logger) *Service {
	s := &Service{db: db, queue: q, launcher: launcher, sources: map[string]Source{}, log: log, now: func() time.Time { return time.Now().UTC() }}
	s.SetBatching(Batching{})
	queue.AddWorker(q, &processWorker{s: s})
	return s
}

// SetBatching sets how deliveries are grouped into transactions (see
// Batching). Without it, deliveries that arrive while the committers are
// busy are still committed together, without waiting for more. Call it
// before the first Record.
func (s *Service) SetBatching(b Batching) {
	s.batcher = newBatcher(b, s.db.Dialect(), s.commitBatch)
}

// AddSource registers the interpreter of one source's deliveries.
func (s *Service) AddSource(src Source) { s.sources[src.Name()] = src }

// ProcessArgs is the job that processes one delivery.
type ProcessArgs struct {
	DeliveryID string `json:"delivery_id"` // our id
}

// Kind names the job.
func (ProcessArgs) Kind() string { return "process_delivery" }

// InsertOpts: interpretation may call the source's API; River retries with
// exponential backoff up to MaxAttempts.
func (ProcessArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: MaxAttempts} }

// Record stores d and its process job, committed before it returns (so
// before the sender gets its 2xx); deliveries recorded at the same time share
// the transaction (group commit, see Batching). A delivery id seen before is
// a duplicate: nothing is written and the stored delivery's id is returned.
// A failure to store is of kind errs.ErrUnavailable, so the sender is told
// to retry.
func (s *Service) Record(ctx context.Context, d Delivery) (Delivery, bool, error) {
	if d.Source == "" || d.DeliveryID == "" {
		return Delivery{}, false, errs.Invalid("a delivery needs a source and a delivery id")
	}
	return s.batcher.record(ctx, d)
}

// enqueue inserts the process job of delivery id in tx and remembers it.
func (s *Service) enqueue(ctx context.Context, tx sqldb.Tx, id string) error {
	job, err := s.queue.InsertTx(ctx, tx, ProcessArgs{DeliveryID: id}, nil)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE deliveries SET job_id = $1 WHERE id = $2`, job.ID, id); err != nil {
		return fmt.Errorf("remember process job: %w", err)
	}
	return nil
}

// ErrBodyDropped is a replay of a delivery whose body is past its
// retention: there is nothing left to process, and its outcome stays.
var ErrBodyDropped = errs.New(errs.ErrConflict, "body_dropped", "the delivery's body is past its retention and was dropped; it cannot be replayed")

// Replay processes a stored delivery again with a new job. The TriggerKey of
// a launch keeps it from launching twice; a delivery that launched nothing
// (e.g. no credentials at the time) may launch now. Only a delivery of
// orgID is replayed: any other (another org's, or one no org was found for)
// is ErrNotFound.
func (s *Service) Replay(ctx context.Context, orgID, id string) error {
	return s.db.InTx(ctx, func(tx sqldb.Tx) error {
		var size int
		err := tx.QueryRow(ctx, `SELECT length(body) FROM deliveries WHERE id = $1 AND org_id = $2`, id, orgID).Scan(&size)
		if errors.Is(err, sqldb.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("replay delivery: %w", err)
		}
		if size == 0 {
			return ErrBodyDropped
		}
		if _, err := tx.Exec(ctx, `UPDATE deliveries SET outcome = '', error = '', processed_at = NULL WHERE id = $1`, id); err != nil {
			return fmt.Errorf("replay delivery: %w", err)
		}
		return s.enqueue(ctx, tx, id)
	})
}

// BodyRetention is how long deliveries keep their body. Past it the body is
// emptied and the row stays, with its outcome, workspace and idempotency key.
type BodyRetention time.Duration

// purgeBatch bounds the rows one statement empties, so a first purge of a
// large table does not hold one long transaction.
const purgeBatch = 500

// Purge empties the bodies of deliveries received before now minus the
// retention, and says how many.
func (r BodyRetention) Purge(ctx context.Context, q sqldb.Querier, now time.Time) (int, error) {
	before := now.Add(-time.Duration(r))
	total := 0
	for {
		n, err := q.Exec(ctx, `UPDATE deliveries SET body = $1 WHERE id IN
			(SELECT id FROM deliveries WHERE received_at < $2 AND length(body) > 0 LIMIT $3)`, []byte{}, before, purgeBatch)
		if err != nil {
			return total, fmt.Errorf("purge delivery bodies: %w", err)
		}
		total += int(n)
		if n < purgeBatch {
			return total, nil
		}
	}
}

// Record of a delivery as the API shows it.
type Record struct {
	ID          string     `json:"id"`
	OrgID       string     `json:"org_id,omitempty"`
	Source      string     `json:"source"`
	DeliveryID  string     `json:"delivery_id"`
	Event       string     `json:"event"`
	ReceivedAt  time.Time  `json:"received_at"`
	Outcome     string     `json:"outcome"`
	Error       string     `json:"error,omitempty"`
	WorkspaceID string     `json:"workspace_id,omitempty"`
	ProcessedAt *time.Time `json:"processed_at,omitempty"`
	State       string     `json:"state"` // pending, processing, processed, retrying, dead
	Attempts    int        `json:"attempts"`
	JobID       *int64     `json:"-"`
}

const recordCols = `id, COALESCE(org_id, ''), source, delivery_id, event, received_at, outcome, error, workspace_id, processed_at, job_id`

func scanRecord(r sqldb.Row) (Record, error) {
	var x Record
	err := r.Scan(&x.ID, &x.OrgID, &x.Source, &x.DeliveryID, &x.Event, &x.ReceivedAt, &x.Outcome, &x.Error, &x.WorkspaceID, &x.ProcessedAt, &x.JobID)
	return x, err
}

// Get returns a delivery's record with its job state.
func (s *Service) Get(ctx context.Context, id string) (Record, error) {
	x, err := scanRecord(s.db.QueryRow(ctx, `SELECT `+recordCols+` FROM deliveries WHERE id = $1`, id))
	if err := sqldb.NoRowsAs(err, ErrNotFound, "get delivery"); err != nil {
		return Record{}, err
	}
	var ids []int64
	if x.JobID != nil {
		ids = []int64{*x.JobID}
	}
	jobs, err := s.queue.Jobs(ctx, ids)
	if err != nil {
		return Record{}, fmt.Errorf("get delivery %s: %w", x.ID, err)
	}
	return withState(x, jobs), nil
}

// List returns an org's newest deliveries (at most limit; 0 means 100) with
// their job states.
func (s *Service) List(ctx context.Context, orgID string, limit int) ([]Record, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	rows, err := s.db.Query(ctx, `SELECT `+recordCols+` FROM deliveries WHERE org_id = $1 ORDER BY received_at DESC, id DESC LIMIT $2`, orgID, limit)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	list, err := sqldb.Collect(rows, func(r sqldb.Rows) (Record, error) { return scanRecord(r) })
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	var ids []int64
	for _, x := range list {
		if x.JobID != nil {
			ids = append(ids, *x.JobID)
		}
	}
	jobs, err := s.queue.Jobs(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	for i := range list {
		list[i] = withState(list[i], jobs)
	}
	return list, nil
}

// withState derives the delivery's state from its outcome and its latest
// process job (from jobs, by id): pending, processing, processed, retrying
// or dead.
func withState(x Record, jobs map[int64]queue.Job) Record {
	x.State = "pending"
	if x.ProcessedAt != nil {
		x.State = "processed"
	}
	if x.JobID == nil {
		return x
	}
	job, ok := jobs[*x.JobID]
	if !ok {
		// River deletes finalized jobs after a while: an unprocessed
		// delivery whose job is gone was given up on.
		if x.ProcessedAt == nil {
			x.State = "dead"
		}
		return x
	}
	x.Attempts = job.Attempt
	if x.ProcessedAt != nil {
		return x
	}
	switch job.State {
	case "discarded", "cancelled":
		x.State = "dead"
		if x.Error == "" {
			x.Error = job.LastError
		}
	case "retryable":
		x.State = "retrying"
		x.Error = job.LastError
	case "running":
		x.State = "processing"
	}
	return x
}

type processWorker struct {
	river.WorkerDefaults[ProcessArgs]
	s *Service
}

// Work interprets the delivery outside any transaction, then commits the
// plan's workspace, the source's follow-up jobs, the outcome and the job's
// completion together.
func (w *processWorker) Work(ctx context.Context, job *river.Job[ProcessArgs]) error {
	s := w.s
	var d Delivery
	var processed *time.Time
	err := s.db.QueryRow(ctx, `SELECT id, source, delivery_id, event, body, received_at, processed_at FROM deliveries WHERE id = $1`, job.Args.DeliveryID).
		Scan(&d.ID, &d.Source, &d.DeliveryID, &d.Event, &d.Body, &d.ReceivedAt, &processed)
	if errors.Is(err, sqldb.ErrNoRows) {
		return river.JobCancel(ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("load delivery: %w", err)
	}
	if processed != nil {
		return nil // processed by an earlier job (a replay raced a retry)
	}
	log := s.log.With("delivery", d.DeliveryID, "source", d.Source, "event", d.Event, "attempt", job.Attempt)
	src, ok := s.sources[d.Source]
	if !ok {
		log.Warn("no source registered for this delivery")
		return s.commit(ctx, job, d, Plan{Outcome: OutcomeNoSource}, "", log)
	}
	plan, err := src.Interpret(ctx, d)
	if errors.Is(err, ErrPermanent) {
		log.Warn("delivery cannot be processed", "err", err)
		return s.commit(ctx, job, d, Plan{Outcome: "error: " + err.Error()}, err.Error(), log)
	}
	if err != nil {
		log.Warn("interpret delivery; will retry", "err", err)
		return err
	}
	err = s.commit(ctx, job, d, plan, "", log)
	if errors.Is(err, ErrPermanent) {
		log.Warn("delivery cannot be committed", "err", err)
		return s.commit(ctx, job, d, Plan{OrgID: plan.OrgID, Outcome: "error: " + err.Error()}, err.Error(), log)
	}
	if err != nil {
		log.Warn("commit delivery; will retry", "err", err)
		return err
	}
	return nil
}

// commit records the plan's effects in one transaction: the workspace, the
// source's follow-up, the outcome and the job's completion.
func (s *Service) commit(ctx context.Context, job *river.Job[ProcessArgs], d Delivery, plan Plan, errText string, log *slog.Logger) error {
	return s.db.InTx(ctx, func(tx sqldb.Tx) error {
		outcome := plan.Outcome
		var ws *launch.Workspace
		var launchErr error
		if plan.Trigger != nil {
			t := *plan.Trigger
			t.DeliveryID = d.ID
			w, err := s.launcher.LaunchTx(ctx, tx, t)
			o, ok := launch.Outcome(err)
			if !ok {
				return fmt.Errorf("launch: %w", err)
			}
			outcome, launchErr = o, err
			if w.ID != "" { // launched, or the workspace a follow-up went to
				ws = &w
			}
			if plan.OrgID == "" {
				plan.OrgID = t.OrgID
			}
		}
		if plan.Then != nil {
			if err := plan.Then(ctx, tx, ws, launchErr); err != nil {
				return fmt.Errorf("source follow-up: %w", err)
			}
		}
		var org any
		if plan.OrgID != "" {
			org = plan.OrgID
		}
		wsID := ""
		if ws != nil {
			wsID = ws.ID
		}
		// A replay that finds its workspace already launched keeps its id.
		if _, err := tx.Exec(ctx, `UPDATE deliveries SET outcome = $1, org_id = COALESCE($2, org_id),
			workspace_id = COALESCE(NULLIF($3, ''), workspace_id), error = $4, processed_at = $5 WHERE id = $6`,
			outcome, org, wsID, errText, s.now(), d.ID); err != nil {
			return fmt.Errorf("record outcome: %w", err)
		}
		if err := queue.CompleteTx(ctx, tx, job); err != nil {
			return err
		}
		log.Info("delivery processed", "outcome", outcome, "workspace_id", wsID)
		return nil
	})
}
