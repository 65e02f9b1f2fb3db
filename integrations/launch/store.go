// The workspaces table: create, read, authenticate by token, and move along
// the lifecycle. Every write takes the caller's transaction.

package launch

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/identity"
)

//go:embed migrations
var migrations embed.FS

// Migrations is this package's schema. Token authentication reads the
// identity package's memberships.
var Migrations = sqldb.Set{Name: "launch", FS: sqldb.MustSub(migrations, "migrations"), Needs: []sqldb.Set{identity.Migrations}}

// Errors.
var (
	ErrNotFound  = fmt.Errorf("launch: workspace %w", errs.ErrNotFound)
	ErrDuplicate = errs.New(errs.ErrConflict, "duplicate", "a workspace was already launched for this trigger")
	ErrBadToken  = errs.New(errs.ErrUnauthorized, "unauthorized", "missing, unknown, expired or revoked workspace token")
	// ErrRepositoryNotInstalled: no GitHub installation bound to the org holds the repository.
	ErrRepositoryNotInstalled = errs.New(errs.ErrUnprocessable, "repository_not_installed",
		"the repository does not belong to a GitHub App installation connected to this organization")
	// ErrNoCredentials: no coding agent has a usable credential for the
	// trigger's user in its org.
	ErrNoCredentials = errs.New(errs.ErrUnprocessable, "no_credentials", "at least one coding agent must be configured")
)

// Outcomes of a launch attempt, as the delivery that asked for it records
// them.
const (
	OutcomeLaunched      = "launched"
	OutcomeDuplicate     = "duplicate: already launched"
	OutcomeNoCredentials = "no_credentials"
	// OutcomeRepositoryNotInstalled: the trigger's repository belongs to no
	// GitHub installation bound to the org, so nothing launched.
	OutcomeRepositoryNotInstalled = "repository_not_installed"
)

// Outcome names what the error of LaunchTx means for the trigger: launched
// (nil), a duplicate, a follow-up (a message or stop to an active
// workspace, which LaunchTx returns), or a refusal that retrying will not change. Any other
// error is a failure to launch, and ok is false.
func Outcome(err error) (outcome string, ok bool) {
	switch {
	case err == nil:
		return OutcomeLaunched, true
	case errors.Is(err, ErrDuplicate):
		return OutcomeDuplicate, true
	case errors.Is(err, ErrNoCredentials):
		return OutcomeNoCredentials, true
	case errors.Is(err, ErrRepositoryNotInstalled):
		return OutcomeRepositoryNotInstalled, true
	case errors.Is(err, ErrFollowUp):
		return OutcomeMessage, true
	case errors.Is(err, ErrStopping):
		return OutcomeStop, true
	case errors.Is(err, ErrNothingToStop):
		return OutcomeNothingToStop, true
	}
	return "", false
}

// TokenPrefix starts every workspace token.
const TokenPrefix = "rpw"

// DefaultTokenTTL is how long a workspace token lives without being used.
const DefaultTokenTTL = 7 * 24 * time.Hour

// transitions lists the statuses each status may move to.
var transitions = map[Status][]Status{
	StatusQueued:     {StatusLaunching, StatusLaunched, StatusFailed, StatusCancelled, StatusStopping},
	StatusLaunching:  {StatusLaunching, StatusLaunched, StatusFailed, StatusCancelled, StatusStopping},
	StatusLaunched:   {StatusRunning, StatusHibernated, StatusFinished, StatusFailed, StatusCancelled, StatusStopping},
	StatusRunning:    {StatusRunning, StatusHibernated, StatusFinished, StatusFailed, StatusCancelled, StatusStopping},
	StatusHibernated: {StatusRunning, StatusHibernated, StatusFinished, StatusFailed, StatusCancelled, StatusStopping},
	StatusStopping:   {StatusStopping, StatusFinished, StatusFailed, StatusCancelled},
}

// CanMove reports whether a workspace may go from one status to another.
func CanMove(from, to Status) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Terminal statuses revoke the workspace token.
func (s Status) Terminal() bool {
	return s == StatusFinished || s == StatusFailed || s == StatusCancelled
}

const wsCols = `id, org_id, user_id, agent, status, source, task, repository, installation_id, chain, dry_run, launch_file, error, summary, result_url, COALESCE(trigger_key, ''), delivery_id, created_at, updated_at, thread, previous_workspace_id`

// scanWorkspace reads the wsCols of a row, then the extra columns selected
// after them into extra.
func scanWorkspace(r sqldb.Row, extra ...any) (Workspace, error) {
	var w Workspace
	var source, task, repo, chain string
	err := r.Scan(append([]any{&w.ID, &w.OrgID, &w.UserID, &w.Agent, &w.Status, &source, &task, &repo, &w.InstallationID, &chain, &w.DryRun, &w.LaunchFile,
		&w.Error, &w.Summary, &w.ResultURL, &w.TriggerKey, &w.DeliveryID, &w.CreatedAt, &w.UpdatedAt, &w.Thread, &w.PreviousWorkspaceID}, extra...)...)
	if err != nil {
		return w, err
	}
	for _, f := range []struct {
		raw string
		v   any
	}{{source, &w.Source}, {task, &w.Task}, {repo, &w.Repository}, {chain, &w.Chain}} {
		if err := json.Unmarshal([]byte(f.raw), f.v); err != nil {
			return w, fmt.Errorf("decode workspace %s: %w", w.ID, err)
		}
	}
	w.Chain = nonNilChain(w.Chain)
	return w, nil
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain structs of strings always encode
	}
	return string(b)
}

// Store reads and writes workspaces.
type Store struct{ now func() time.Time }

// NewStore returns a store on the wall clock.
func NewStore() *Store { return &Store{now: func() time.Time { return time.Now().UTC() }} }

// insert writes a new queued workspace whose token expires at expiresAt
// unless used. A TriggerKey that already exists
// gives ErrDuplicate without a failed statement (ON CONFLICT … DO NOTHING),
// so the caller's transaction stays usable on PostgreSQL: intake goes on to
// record the delivery's outcome in it. A concurrent insert of the same key
// waits for the other transaction and then does nothing.
func (s *Store) insert(ctx context.Context, q sqldb.Querier, w Workspace, tokenHash []byte, keyID string, sealed []byte, expiresAt time.Time) error {
	var key any
	if w.TriggerKey != "" {
		key = w.TriggerKey
	}
	n, err := q.Exec(ctx, `INSERT INTO workspaces (id, org_id, user_id, agent, status, source, task, repository, chain, trigger_key, delivery_id,
		token_hash, token_key_id, token_sealed, token_expires_at, created_at, updated_at, installation_id, thread, previous_workspace_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16, $17, $18, $19)
		ON CONFLICT (trigger_key) DO NOTHING`,
		w.ID, w.OrgID, w.UserID, w.Agent, string(w.Status), mustJSON(w.Source), mustJSON(w.Task), mustJSON(w.Repository), mustJSON(nonNilChain(w.Chain)),
		key, w.DeliveryID, tokenHash, keyID, sealed, expiresAt, w.CreatedAt, w.InstallationID, w.Thread, w.PreviousWorkspaceID)
	if err != nil {
		return fmt.Errorf("insert workspace: %w", err)
	}
	if n == 0 {
		return ErrDuplicate
	}
	return nil
}

// nonNilChain makes an empty chain encode as [] (the API shows a list).
func nonNilChain(c []ChainEntry) []ChainEntry {
	if c == nil {
		return []ChainEntry{}
	}
	return c
}

// Get returns a workspace by id.
func (s *Store) Get(ctx context.Context, q sqldb.Querier, id string) (Workspace, error) {
	w, err := scanWorkspace(q.QueryRow(ctx, `SELECT `+wsCols+` FROM workspaces WHERE id = $1`, id))
	return w, sqldb.NoRowsAs(err, ErrNotFound, "get workspace")
}

// ByTriggerKey returns the workspace a trigger launched.
func (s *Store) ByTriggerKey(ctx context.Context, q sqldb.Querier, key string) (Workspace, error) {
	w, err := scanWorkspace(q.QueryRow(ctx, `SELECT `+wsCols+` FROM workspaces WHERE trigger_key = $1`, key))
	return w, sqldb.NoRowsAs(err, ErrNotFound, "get workspace")
}

// List returns an org's newest workspaces (of one user when userID is set).
func (s *Store) List(ctx context.Context, q sqldb.Querier, orgID, userID string, limit int) ([]Workspace, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	rows, err := q.Query(ctx, `SELECT `+wsCols+` FROM workspaces WHERE org_id = $1 AND ($2 = '' OR user_id = $2)
		ORDER BY created_at DESC, id DESC LIMIT $3`, orgID, userID, limit)
	if err != nil {
		return nil, fmt.Errorf("list workspaces: %w", err)
	}
	return sqldb.Collect(rows, func(r sqldb.Rows) (Workspace, error) { return scanWorkspace(r) })
}

// Authenticate finds the live workspace of a token. A token works while its
// workspace has not ended (finished, failed, cancelled), its expiry has not
// passed, and the workspace's owner is still a member of the workspace's org
// (the identity package's memberships). Each use pushes the expiry to now+ttl;
// the row is written only when the expiry is more than a minute (a tenth of
// ttl when that is shorter) behind, so concurrent and frequent calls stay reads.
func (s *Store) Authenticate(ctx context.Context, q sqldb.Querier, token string, ttl time.Duration) (Workspace, error) {
	if token == "" {
		return Workspace{}, ErrBadToken
	}
	now := s.now()
	var expires time.Time
	w, err := scanWorkspace(q.QueryRow(ctx, `SELECT `+wsCols+`, token_expires_at FROM workspaces w
		WHERE token_hash = $1 AND token_expires_at > $2
		AND EXISTS (SELECT 1 FROM memberships m WHERE m.org_id = w.org_id AND m.user_id = w.user_id)`,
		sqldb.HashToken(token), now), &expires)
	if errors.Is(err, sqldb.ErrNoRows) || (err == nil && w.Status.Terminal()) {
		return Workspace{}, ErrBadToken
	}
	if err != nil {
		return Workspace{}, fmt.Errorf("authenticate workspace: %w", err)
	}
	stale := now.Add(ttl - min(time.Minute, ttl/10))
	if expires.Before(stale) {
		if _, err := q.Exec(ctx, `UPDATE workspaces SET token_expires_at = $1 WHERE id = $2 AND token_expires_at < $3 AND token_expires_at > $4`,
			now.Add(ttl), w.ID, stale, now); err != nil {
			return Workspace{}, fmt.Errorf("extend workspace token: %w", err)
		}
	}
	return w, nil
}

// sealedToken returns the sealed token the launch job hands over.
func (s *Store) sealedToken(ctx context.Context, q sqldb.Querier, id string) (keyID string, sealed []byte, err error) {
	err = q.QueryRow(ctx, `SELECT token_key_id, token_sealed FROM workspaces WHERE id = $1`, id).Scan(&keyID, &sealed)
	return keyID, sealed, sqldb.NoRowsAs(err, ErrNotFound, "get workspace")
}

// Update is a change of a workspace's status and its details.
type Update struct {
	Status     Status
	Error      string
	Summary    string
	ResultURL  string
	DryRun     bool
	LaunchFile string
}

// setStatus moves a workspace, refusing transitions the lifecycle forbids.
// The row is locked (PostgreSQL) so concurrent events apply one at a time.
func (s *Store) setStatus(ctx context.Context, q sqldb.Querier, id string, u Update) (Workspace, error) {
	cur, err := s.lockStatus(ctx, q, id)
	if err != nil {
		return Workspace{}, err
	}
	if !CanMove(cur, u.Status) {
		return Workspace{}, errs.Conflict("a %s workspace cannot become %s", cur, u.Status)
	}
	clearToken := u.Status != StatusQueued && u.Status != StatusLaunching
	if _, err := q.Exec(ctx, `UPDATE workspaces SET status = $1,
		error = CASE WHEN $2 = '' THEN error ELSE $2 END,
		summary = CASE WHEN $3 = '' THEN summary ELSE $3 END,
		result_url = CASE WHEN $4 = '' THEN result_url ELSE $4 END,
		dry_run = (dry_run OR $5), launch_file = CASE WHEN $6 = '' THEN launch_file ELSE $6 END,
		token_sealed = CASE WHEN $7 THEN NULL ELSE token_sealed END,
		updated_at = $8 WHERE id = $9`,
		string(u.Status), u.Error, u.Summary, u.ResultURL, u.DryRun, u.LaunchFile, clearToken, s.now(), id); err != nil {
		return Workspace{}, fmt.Errorf("set workspace status: %w", err)
	}
	return s.Get(ctx, q, id)
}

// lockStatus reads a workspace's status and, on PostgreSQL, locks its row
// until the transaction ends (a SQLite transaction has the database to itself).
func (s *Store) lockStatus(ctx context.Context, q sqldb.Querier, id string) (Status, error) {
	lock := ""
	if q.Dialect() == sqldb.Postgres {
		lock = " FOR UPDATE"
	}
	var cur Status
	if err := q.QueryRow(ctx, `SELECT status FROM workspaces WHERE id = $1`+lock, id).Scan(&cur); err != nil {
		return "", sqldb.NoRowsAs(err, ErrNotFound, "get workspace")
	}
	return cur, nil
}

// clearSealed drops the sealed token once nobody will launch with it again.
func (s *Store) clearSealed(ctx context.Context, q sqldb.Querier, id string) error {
	if _, err := q.Exec(ctx, `UPDATE workspaces SET token_sealed = NULL WHERE id = $1`, id); err != nil {
		return fmt.Errorf("clear sealed workspace token: %w", err)
	}
	return nil
}

// setChain stores a re-resolved chain (wake).
func (s *Store) setChain(ctx context.Context, q sqldb.Querier, id, agent string, chain []ChainEntry) error {
	n, err := q.Exec(ctx, `UPDATE workspaces SET agent = $1, chain = $2, updated_at = $3 WHERE id = $4`, agent, mustJSON(nonNilChain(chain)), s.now(), id)
	if err != nil {
		return fmt.Errorf("set workspace chain: %w", err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
