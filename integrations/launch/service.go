// Service: creating workspaces for triggers (resolve the chain, issue the
// token, record, enqueue the launch), moving them along their lifecycle, and
// telling their source through its Reporter.

package launch

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

// ChainResolver resolves the credential chain for a user in an org; agent
// "" lets preferences choose. It returns ErrNoCredentials when no agent is
// configured.
type ChainResolver interface {
	ResolveChain(ctx context.Context, q sqldb.Querier, orgID, userID, agent string) (string, []ChainEntry, error)
}

// Installations finds the GitHub installation, bound to orgID, that holds the
// repository fullName ("owner/name"); 0 means none does.
type Installations interface {
	InstallationFor(ctx context.Context, q sqldb.Querier, orgID, fullName string) (int64, error)
}

// Sealer encrypts the workspace token until the launcher has it.
type Sealer interface {
	Seal(plaintext, aad []byte) (keyID string, ciphertext []byte, err error)
	Open(keyID string, ciphertext, aad []byte) ([]byte, error)
}

// Service creates and runs workspaces.
type Service struct {
	db        *sqldb.DB
	store     *Store
	queue     *queue.Queue
	resolver  ChainResolver
	installs  Installations
	sealer    Sealer
	launcher  Launcher
	reporters map[string]Reporter
	notifier  *notifier
	log       *slog.Logger
	// GatewayURL is what workspaces call back (REPLICAS_PUBLIC_URL).
	GatewayURL string
	// RetryDelay, when set before the queue starts, replaces River's
	// exponential backoff between launch attempts (tests use milliseconds).
	RetryDelay func(attempt int) time.Duration
	// TokenTTL is how long a workspace token lives without being used
	// (REPLICAS_WORKSPACE_TOKEN_TTL); zero means DefaultTokenTTL.
	TokenTTL time.Duration
}

func (s *Service) tokenTTL() time.Duration {
	if s.TokenTTL > 0 {
		return s.TokenTTL
	}
	return DefaultTokenTTL
}

// NewService wires the service and registers its launch worker on q.
func NewService(db *sqldb.DB, q *queue.Queue, resolver ChainResolver, installs Installations, sealer Sealer, launcher Launcher, gatewayURL string, log *slog.Logger) *Service {
	s := &Service{db: db, store: NewStore(), queue: q, resolver: resolver, installs: installs, sealer: sealer, launcher: launcher,
		reporters: map[string]Reporter{}, notifier: newNotifier(db, log), log: log, GatewayURL: gatewayURL}
	queue.AddWorker(q, &launchWorker{s: s})
	queue.AddWorker(q, &signalWorker{s: s})
	return s
}

// Close ends the long polls waiting for messages (they answer with what
// they have: nothing) and stops listening for new messages; call it when
// the server shuts down.
func (s *Service) Close() { s.notifier.close() }

// RegisterReporter sets who hears about workspaces of a source kind.
func (s *Service) RegisterReporter(kind string, r Reporter) { s.reporters[kind] = r }

// Store gives read access to workspaces.
func (s *Service) Store() *Store { return s.store }

// LaunchTx creates the workspace for t in tx — chain snapshot, token and
// launch job included — so it exists exactly when tx commits. The same
// TriggerKey twice gives ErrDuplicate. A repository must belong to a GitHub
// installation bound to the org (ErrRepositoryNotInstalled otherwise), unless
// the trigger already names its installation: a GitHub webhook comes from the
// installation that holds the repository, and its source checked that the
// installation is bound to the org.
//
// A trigger on a thread where the same user has an active workspace becomes
// a message to that workspace (or stops it): LaunchTx returns that workspace
// with ErrFollowUp or ErrStopping. Otherwise the new workspace's message 1 is
// its task, linking the thread's previous workspace of that user.
func (s *Service) LaunchTx(ctx context.Context, tx sqldb.Tx, t Trigger) (Workspace, error) {
	previous := ""
	if t.Thread != "" {
		w, prev, err := s.threadTx(ctx, tx, t)
		if w.ID != "" || err != nil {
			return w, err
		}
		previous = prev
	} else if seen, err := s.store.triggerSeen(ctx, tx, t.TriggerKey); err != nil {
		return Workspace{}, err
	} else if seen {
		return Workspace{}, ErrDuplicate
	}
	if t.Stop {
		return Workspace{}, ErrNothingToStop
	}
	agent, chain, err := s.resolver.ResolveChain(ctx, tx, t.OrgID, t.UserID, t.Agent)
	if err != nil {
		return Workspace{}, err
	}
	if t.InstallationID == 0 && t.Repository.FullName != "" {
		id, err := s.installs.InstallationFor(ctx, tx, t.OrgID, t.Repository.FullName)
		if err != nil {
			return Workspace{}, err
		}
		if id == 0 {
			return Workspace{}, ErrRepositoryNotInstalled
		}
		t.InstallationID = id
	}
	w := Workspace{
		ID: sqldb.NewID("ws"), OrgID: t.OrgID, UserID: t.UserID, Agent: agent, Status: StatusQueued,
		Source: t.Source, Task: t.Task, Repository: t.Repository, InstallationID: t.InstallationID, Chain: nonNilChain(chain),
		TriggerKey: t.TriggerKey, DeliveryID: t.DeliveryID, CreatedAt: s.store.now(),
		Thread: t.Thread, PreviousWorkspaceID: previous,
	}
	w.UpdatedAt = w.CreatedAt
	token := sqldb.NewToken(TokenPrefix)
	keyID, sealed, err := s.sealer.Seal([]byte(token), []byte(w.ID))
	if err != nil {
		return Workspace{}, fmt.Errorf("seal workspace token: %w", err)
	}
	if err := s.store.insert(ctx, tx, w, sqldb.HashToken(token), keyID, sealed, w.CreatedAt.Add(s.tokenTTL())); err != nil {
		return Workspace{}, err
	}
	first, err := s.firstMessage(ctx, tx, w, t)
	if err != nil {
		return Workspace{}, err
	}
	if _, err := s.store.appendMessage(ctx, tx, w.ID, first, ""); err != nil {
		return Workspace{}, err
	}
	if t.Thread != "" {
		if err := s.store.setThread(ctx, tx, t.OrgID, t.Thread, t.UserID, w.ID); err != nil {
			return Workspace{}, err
		}
	}
	if _, err := s.queue.InsertTx(ctx, tx, LaunchArgs{WorkspaceID: w.ID}, nil); err != nil {
		return Workspace{}, err
	}
	return w, nil
}

// UpdateTx moves a workspace and reports the change to its source in tx.
// A workspace may report that it runs (or hibernated, or finished) while its
// launch job has not yet recorded the launch: it has evidently launched, so
// it passes through launched first and its source hears about that too.
func (s *Service) UpdateTx(ctx context.Context, tx sqldb.Tx, id string, u Update) (Workspace, error) {
	if u.Status == StatusRunning || u.Status == StatusHibernated || u.Status == StatusFinished {
		cur, err := s.store.lockStatus(ctx, tx, id)
		if err != nil {
			return Workspace{}, err
		}
		if cur == StatusQueued || cur == StatusLaunching {
			if _, err := s.move(ctx, tx, id, Update{Status: StatusLaunched}); err != nil {
				return Workspace{}, err
			}
		}
	}
	return s.move(ctx, tx, id, u)
}

// move applies one lifecycle step and reports it.
func (s *Service) move(ctx context.Context, tx sqldb.Tx, id string, u Update) (Workspace, error) {
	w, err := s.store.setStatus(ctx, tx, id, u)
	if err != nil {
		return Workspace{}, err
	}
	if r := s.reporters[w.Source.Kind]; r != nil {
		if err := r.ReportTx(ctx, tx, w); err != nil {
			return Workspace{}, fmt.Errorf("report %s to %s: %w", w.Status, w.Source.Kind, err)
		}
	}
	return w, nil
}

// Update is UpdateTx in its own transaction.
func (s *Service) Update(ctx context.Context, id string, u Update) (Workspace, error) {
	var w Workspace
	err := s.db.InTx(ctx, func(tx sqldb.Tx) error {
		var err error
		w, err = s.UpdateTx(ctx, tx, id, u)
		return err
	})
	return w, err
}

// SetChainTx replaces a workspace's chain (re-resolved on wake).
func (s *Service) SetChainTx(ctx context.Context, tx sqldb.Tx, id, agent string, chain []ChainEntry) error {
	return s.store.setChain(ctx, tx, id, agent, chain)
}

// Authenticate finds the live workspace of a workspace token and extends the
// token's life.
func (s *Service) Authenticate(ctx context.Context, token string) (Workspace, error) {
	return s.store.Authenticate(ctx, s.db, token, s.tokenTTL())
}

// Actor is an API caller acting on workspaces: a user of an org, an admin of
// it or not.
type Actor struct {
	OrgID  string
	UserID string
	Admin  bool
}

// Sees reports whether a may see and cancel w: w's owner, or an admin of w's
// org.
func (a Actor) Sees(w Workspace) bool {
	return w.OrgID == a.OrgID && (a.Admin || w.UserID == a.UserID)
}

// Cancel ends a workspace for its owner or an admin of its org: it becomes
// cancelled, its token stops working at once, a pending launch does not
// happen, and its source is told. Anyone else gets ErrNotFound; a workspace
// that already ended is a conflict.
func (s *Service) Cancel(ctx context.Context, id string, by Actor) (Workspace, error) {
	var w Workspace
	err := s.db.InTx(ctx, func(tx sqldb.Tx) error {
		if _, err := s.store.lockStatus(ctx, tx, id); err != nil {
			return err
		}
		cur, err := s.store.Get(ctx, tx, id)
		if err != nil {
			return err
		}
		if !by.Sees(cur) {
			return ErrNotFound
		}
		w, err = s.move(ctx, tx, id, Update{Status: StatusCancelled})
		return err
	})
	return w, err
}

// Reseal re-encrypts workspace tokens still waiting for their launcher with
// the current key (admin rotate-key).
func (s *Service) Reseal(ctx context.Context, q sqldb.Querier, current string) (int, error) {
	rows, err := q.Query(ctx, `SELECT id, token_key_id, token_sealed FROM workspaces WHERE token_sealed IS NOT NULL AND token_key_id <> $1`, current)
	if err != nil {
		return 0, fmt.Errorf("reseal workspace tokens: %w", err)
	}
	type sealedRow struct {
		id, keyID string
		ct        []byte
	}
	list, err := sqldb.Collect(rows, func(r sqldb.Rows) (sealedRow, error) {
		var x sealedRow
		return x, r.Scan(&x.id, &x.keyID, &x.ct)
	})
	if err != nil {
		return 0, fmt.Errorf("reseal workspace tokens: %w", err)
	}
	for _, x := range list {
		pt, err := s.sealer.Open(x.keyID, x.ct, []byte(x.id))
		if err != nil {
			return 0, fmt.Errorf("reseal workspace %s: open: %w", x.id, err)
		}
		keyID, ct, err := s.sealer.Seal(pt, []byte(x.id))
		if err != nil {
			return 0, fmt.Errorf("reseal workspace %s: seal: %w", x.id, err)
		}
		if _, err := q.Exec(ctx, `UPDATE workspaces SET token_key_id = $1, token_sealed = $2 WHERE id = $3`, keyID, ct, x.id); err != nil {
			return 0, fmt.Errorf("reseal workspace token: %w", err)
		}
	}
	return len(list), nil
}

// LaunchArgs is the launch job.
type LaunchArgs struct {
	WorkspaceID string `json:"workspace_id"`
}

// Kind names the job.
func (LaunchArgs) Kind() string { return "launch_workspace" }

// InsertOpts: launches retry with River's exponential backoff.
func (LaunchArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 8} }

type launchWorker struct {
	river.WorkerDefaults[LaunchArgs]
	s *Service
}

// Timeout of a launch job: the launcher's own deadline (when it has one) and
// a few seconds for the bookkeeping around it; else the queue's short
// default. River re-runs the job of a dead process only after this, so a
// launch still in flight is never started twice at once.
func (w *launchWorker) Timeout(*river.Job[LaunchArgs]) time.Duration { return w.s.launcherJobTimeout() }

// NextRetry applies Service.RetryDelay; zero means River's backoff.
func (w *launchWorker) NextRetry(job *river.Job[LaunchArgs]) time.Time {
	return w.s.nextRetry(job.Attempt)
}

// launcherJobTimeout is the timeout of a job that calls the launcher: the
// launcher's own deadline (when it has one) plus a few seconds for the
// bookkeeping around it; zero (the queue's default) otherwise.
func (s *Service) launcherJobTimeout() time.Duration {
	if l, ok := s.launcher.(interface{ Timeout() time.Duration }); ok {
		return l.Timeout() + 5*time.Second
	}
	return 0
}

// nextRetry applies Service.RetryDelay to a job's attempt; zero means
// River's backoff.
func (s *Service) nextRetry(attempt int) time.Time {
	if s.RetryDelay == nil {
		return time.Time{}
	}
	return time.Now().Add(s.RetryDelay(attempt))
}

// Work marks the workspace launching, calls the launcher outside any
// transaction, then records the result and completes the job together.
func (w *launchWorker) Work(ctx context.Context, job *river.Job[LaunchArgs]) error {
	s := w.s
	ws, err := s.store.Get(ctx, s.db, job.Args.WorkspaceID)
	if err != nil {
		return err
	}
	if ws.Status != StatusQueued && ws.Status != StatusLaunching {
		// Already launched, running or ended: nothing to launch, and nobody
		// needs the sealed token any more.
		return s.store.clearSealed(ctx, s.db, ws.ID)
	}
	if _, err := s.Update(ctx, ws.ID, Update{Status: StatusLaunching}); err != nil {
		return err
	}
	keyID, sealed, err := s.store.sealedToken(ctx, s.db, ws.ID)
	if err != nil {
		return err
	}
	token, err := s.sealer.Open(keyID, sealed, []byte(ws.ID))
	if err != nil {
		return s.finish(ctx, job, ws.ID, Update{Status: StatusFailed, Error: "workspace token unreadable: " + err.Error()})
	}
	res, err := s.launcher.Launch(ctx, NewRequest(ws, s.GatewayURL, string(token)))
	var rejected *RejectedError
	switch {
	case errors.As(err, &rejected):
		s.log.Warn("launch rejected", "workspace_id", ws.ID, "err", err)
		return s.finish(ctx, job, ws.ID, Update{Status: StatusFailed, Error: err.Error()})
	case err != nil && job.Attempt >= job.MaxAttempts:
		s.log.Error("launch failed for good", "workspace_id", ws.ID, "attempt", job.Attempt, "err", err)
		return s.finish(ctx, job, ws.ID, Update{Status: StatusFailed, Error: fmt.Sprintf("launch failed after %d attempts: %v", job.Attempt, err)})
	case err != nil:
		s.log.Warn("launch failed, will retry", "workspace_id", ws.ID, "attempt", job.Attempt, "err", err)
		return err
	}
	return s.finish(ctx, job, ws.ID, Update{Status: StatusLaunched, DryRun: res.DryRun, LaunchFile: res.File})
}

// finish records the launch's outcome, clears the sealed token and completes
// the job in one transaction. When the workspace has meanwhile reported its
// own status (it runs, or even finished), that status stands.
func (s *Service) finish(ctx context.Context, job *river.Job[LaunchArgs], id string, u Update) error {
	return s.db.InTx(ctx, func(tx sqldb.Tx) error {
		cur, err := s.store.lockStatus(ctx, tx, id)
		if err != nil {
			return err
		}
		if cur == StatusQueued || cur == StatusLaunching {
			if _, err := s.UpdateTx(ctx, tx, id, u); err != nil {
				return err
			}
		} else if err := s.store.clearSealed(ctx, tx, id); err != nil {
			return err
		}
		return queue.CompleteTx(ctx, tx, job)
	})
}

// Rechain re-resolves a workspace's chain from scratch (wake from
// hibernation: credentials added, replaced, rotated or removed since count)
// and stores it.
func (s *Service) Rechain(ctx context.Context, id string) (Workspace, error) {
	var w Workspace
	err := s.db.InTx(ctx, func(tx sqldb.Tx) error {
		var err error
		if w, err = s.store.Get(ctx, tx, id); err != nil {
			return err
		}
		agent, chain, err := s.resolver.ResolveChain(ctx, tx, w.OrgID, w.UserID, w.Agent)
		if err != nil && !errors.Is(err, ErrNoCredentials) {
			return err
		}
		if err != nil { // nothing configured any more: an empty chain answers exhausted
			agent, chain = w.Agent, []ChainEntry{}
		}
		w.Agent, w.Chain = agent, chain
		return s.store.setChain(ctx, tx, id, agent, chain)
	})
	return w, err
}
