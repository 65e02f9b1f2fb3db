// Activities: validation, the table, and the relay of each source that is
// told in the storing transaction.

package activity

import (
	"context"
	"embed"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/integrations/launch"
)

//go:embed migrations
var migrations embed.FS

// Migrations is this package's schema; activities belong to workspaces.
var Migrations = sqldb.Set{Name: "activity", FS: sqldb.MustSub(migrations, "migrations"), Needs: []sqldb.Set{launch.Migrations}}

// Type of an activity, as Linear's agent protocol names them.
type Type string

const (
	Thought     Type = "thought"
	Action      Type = "action"
	Response    Type = "response"
	Error       Type = "error"
	Elicitation Type = "elicitation"
)

// Limits of one activity's text fields, in characters.
const (
	MaxBody  = 16000
	MaxField = 2000
)

// Activity is one thing a workspace reported. Thoughts, responses, errors
// and elicitations carry Body; actions carry Action, Parameter and, once
// done, Result. An ephemeral activity is replaced by the next one.
type Activity struct {
	ID          string    `json:"id"`
	WorkspaceID string    `json:"workspace_id"`
	Seq         int64     `json:"seq"`
	Type        Type      `json:"type"`
	Body        string    `json:"body,omitempty"`
	Action      string    `json:"action,omitempty"`
	Parameter   string    `json:"parameter,omitempty"`
	Result      string    `json:"result,omitempty"`
	Ephemeral   bool      `json:"ephemeral,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// Validate checks the type and the fields it needs, and the lengths.
func (a Activity) Validate() error {
	switch a.Type {
	case Thought, Response, Error, Elicitation:
		if strings.TrimSpace(a.Body) == "" {
			return errs.Invalid("a %s needs a body", a.Type)
		}
		if a.Action != "" || a.Parameter != "" || a.Result != "" {
			return errs.Invalid("action, parameter and result belong to an action, not a %s", a.Type)
		}
	case Action:
		if strings.TrimSpace(a.Action) == "" {
			return errs.Invalid("an action needs an action")
		}
		if a.Body != "" {
			return errs.Invalid("an action has no body: use action, parameter and result")
		}
	default:
		return errs.Invalid("type must be thought, action, response, error or elicitation")
	}
	if a.Ephemeral && a.Type != Thought && a.Type != Action {
		return errs.Invalid("only thoughts and actions may be ephemeral")
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"body", a.Body, MaxBody}, {"action", a.Action, MaxField}, {"parameter", a.Parameter, MaxField}, {"result", a.Result, MaxBody}} {
		if !utf8.ValidString(f.v) {
			return errs.Invalid("%s is not valid UTF-8", f.name)
		}
		if utf8.RuneCountInString(f.v) > f.max {
			return errs.Invalid("%s is longer than %d characters", f.name, f.max)
		}
	}
	return nil
}

// Relay tells a workspace's source about one activity, in the transaction
// that stores it: it only enqueues jobs. The github and linear packages
// implement it.
type Relay interface {
	RelayTx(ctx context.Context, tx sqldb.Tx, ws launch.Workspace, a Activity) error
}

// Service stores activities and relays them.
type Service struct {
	db     *sqldb.DB
	store  *Store
	relays map[string]Relay
}

// NewService returns a service without relays.
func NewService(db *sqldb.DB) *Service {
	return &Service{db: db, store: NewStore(), relays: map[string]Relay{}}
}

// RegisterRelay sets who hears the activities of workspaces of a source kind.
func (s *Service) RegisterRelay(kind string, r Relay) { s.relays[kind] = r }

// Store gives read access to activities.
func (s *Service) Store() *Store { return s.store }

// Post records an activity of the workspace ws (authenticated by its token)
// and enqueues its relay in the same transaction. A workspace that ended
// meanwhile gets launch.ErrBadToken, as its token no longer works.
func (s *Service) Post(ctx context.Context, ws launch.Workspace, a Activity) (Activity, error) {
	a.ID, a.WorkspaceID, a.Seq = "", ws.ID, 0
	if err := a.Validate(); err != nil {
		return Activity{}, err
	}
	err := s.db.InTx(ctx, func(tx sqldb.Tx) error {
		status, err := s.store.lockWorkspace(ctx, tx, ws.ID)
		if err != nil {
			return err
		}
		if status.Terminal() {
			return launch.ErrBadToken
		}
		if a, err = s.store.insert(ctx, tx, a); err != nil {
			return err
		}
		if r := s.relays[ws.Source.Kind]; r != nil {
			if err := r.RelayTx(ctx, tx, ws, a); err != nil {
				return fmt.Errorf("relay %s activity to %s: %w", a.Type, ws.Source.Kind, err)
			}
		}
		return nil
	})
	return a, err
}

// Store reads and writes activities.
type Store struct{ now func() time.Time }

// NewStore returns a store on the wall clock.
func NewStore() *Store { return &Store{now: func() time.Time { return time.Now().UTC() }} }

// lockWorkspace reads the workspace's status and, on PostgreSQL, locks its
// row, so its activities are numbered one at a time.
func (s *Store) lockWorkspace(ctx context.Context, q sqldb.Querier, id string) (launch.Status, error) {
	lock := ""
	if q.Dialect() == sqldb.Postgres {
		lock = " FOR UPDATE"
	}
	var st launch.Status
	err := q.QueryRow(ctx, `SELECT status FROM workspaces WHERE id = $1`+lock, id).Scan(&st)
	return st, sqldb.NoRowsAs(err, launch.ErrNotFound, "lock workspace")
}

func (s *Store) insert(ctx context.Context, q sqldb.Querier, a Activity) (Activity, error) {
	a.ID, a.CreatedAt = sqldb.NewID("act"), s.now()
	if err := q.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) + 1 FROM workspace_activities WHERE workspace_id = $1`, a.WorkspaceID).Scan(&a.Seq); err != nil {
		return Activity{}, fmt.Errorf("number activity: %w", err)
	}
	if _, err := q.Exec(ctx, `INSERT INTO workspace_activities (id, workspace_id, seq, type, body, action, parameter, result, ephemeral, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		a.ID, a.WorkspaceID, a.Seq, string(a.Type), a.Body, a.Action, a.Parameter, a.Result, a.Ephemeral, a.CreatedAt); err != nil {
		return Activity{}, fmt.Errorf("insert activity: %w", err)
	}
	return a, nil
}

// Latest returns the workspace's newest activities (at most limit), oldest
// first.
func (s *Store) Latest(ctx context.Context, q sqldb.Querier, workspaceID string, limit int) ([]Activity, error) {
	rows, err := q.Query(ctx, `SELECT id, workspace_id, seq, type, body, action, parameter, result, ephemeral, created_at
		FROM workspace_activities WHERE workspace_id = $1 ORDER BY seq DESC LIMIT $2`, workspaceID, limit)
	if err != nil {
		return nil, fmt.Errorf("list activities: %w", err)
	}
	list, err := sqldb.Collect(rows, scanActivity)
	if err != nil {
		return nil, fmt.Errorf("list activities: %w", err)
	}
	slices.Reverse(list)
	return list, nil
}

// List is what a workspace's page shows of its activities: the newest
// (at most limit), oldest first, leaving out each ephemeral activity that a
// later one replaced (only the newest activity may be an ephemeral one).
func (s *Service) List(ctx context.Context, workspaceID string, limit int) ([]Activity, error) {
	return s.store.List(ctx, s.db, workspaceID, limit)
}

// List reads the workspace's newest activities that still stand (at most
// limit), oldest first: an ephemeral activity counts only while it is the
// newest.
func (s *Store) List(ctx context.Context, q sqldb.Querier, workspaceID string, limit int) ([]Activity, error) {
	rows, err := q.Query(ctx, `SELECT id, workspace_id, seq, type, body, action, parameter, result, ephemeral, created_at
		FROM workspace_activities
		WHERE workspace_id = $1 AND (ephemeral = $2 OR seq = (SELECT MAX(seq) FROM workspace_activities WHERE workspace_id = $1))
		ORDER BY seq DESC LIMIT $3`, workspaceID, false, limit)
	if err != nil {
		return nil, fmt.Errorf("list activities: %w", err)
	}
	list, err := sqldb.Collect(rows, scanActivity)
	if err != nil {
		return nil, fmt.Errorf("list activities: %w", err)
	}
	slices.Reverse(list)
	return list, nil
}

func scanActivity(r sqldb.Rows) (Activity, error) {
	var a Activity
	return a, r.Scan(&a.ID, &a.WorkspaceID, &a.Seq, &a.Type, &a.Body, &a.Action, &a.Parameter, &a.Result, &a.Ephemeral, &a.CreatedAt)
}
