// Wake and stop requests: a message to a hibernated workspace, or a stop,
// inserts a signal job in the transaction that writes the message; the job
// sends the launcher a request of that type.

package launch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/tryreplicas/gateway/gateway/queue"
	"github.com/tryreplicas/gateway/gateway/sqldb"
)

// SignalArgs is the job that sends a wake or stop request.
type SignalArgs struct {
	WorkspaceID string      `json:"workspace_id"`
	Type        RequestType `json:"type"`
	Seq         int64       `json:"seq"` // the message that caused it
}

// Kind names the job.
func (SignalArgs) Kind() string { return "signal_workspace" }

// InsertOpts: retried with River's backoff, like launches.
func (SignalArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 8} }

type signalWorker struct {
	river.WorkerDefaults[SignalArgs]
	s *Service
}

// Timeout: the launcher's own deadline plus bookkeeping, as for launches.
func (w *signalWorker) Timeout(*river.Job[SignalArgs]) time.Duration { return w.s.launcherJobTimeout() }

// NextRetry applies Service.RetryDelay; zero means River's backoff.
func (w *signalWorker) NextRetry(job *river.Job[SignalArgs]) time.Time {
	return w.s.nextRetry(job.Attempt)
}

// Work sends the request outside any transaction. A wake for a workspace
// that is no longer hibernated (it woke, or ended) is not sent. After a stop
// request the launcher accepted, refused, or never accepted in all attempts,
// a workspace still stopping becomes cancelled (its token dies, its source
// hears of it), in the transaction that completes the job.
func (w *signalWorker) Work(ctx context.Context, job *river.Job[SignalArgs]) error {
	s := w.s
	ws, err := s.store.Get(ctx, s.db, job.Args.WorkspaceID)
	if errors.Is(err, ErrNotFound) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	stop := job.Args.Type == RequestStop
	if !stop && ws.Status != StatusHibernated {
		return nil
	}
	_, err = s.launcher.Launch(ctx, NewSignal(ws, job.Args.Type, job.Args.Seq, s.GatewayURL))
	var rejected *RejectedError
	u := Update{Status: StatusCancelled}
	switch {
	case errors.As(err, &rejected):
		s.log.Warn("launcher refused a request", "workspace_id", ws.ID, "type", job.Args.Type, "err", err)
		u.Error = err.Error()
	case err != nil && job.Attempt >= job.MaxAttempts:
		s.log.Error("launcher request failed for good", "workspace_id", ws.ID, "type", job.Args.Type, "err", err)
		u.Error = fmt.Sprintf("%s request failed after %d attempts: %v", job.Args.Type, job.Attempt, err)
	case err != nil:
		s.log.Warn("launcher request failed, will retry", "workspace_id", ws.ID, "type", job.Args.Type, "attempt", job.Attempt, "err", err)
		return err
	}
	if !stop {
		return nil
	}
	return s.db.InTx(ctx, func(tx sqldb.Tx) error {
		cur, err := s.store.lockStatus(ctx, tx, ws.ID)
		if err != nil {
			return err
		}
		if cur == StatusStopping {
			if _, err := s.move(ctx, tx, ws.ID, u); err != nil {
				return err
			}
		}
		return queue.CompleteTx(ctx, tx, job)
	})
}
