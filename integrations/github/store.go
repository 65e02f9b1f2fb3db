// The github package's tables: installations and their binding to an org,
// and the explanation log that rate-limits replies.

package github

import (
	"context"
	"embed"
	"fmt"
	"time"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/activity"
	"github.com/tryreplicas/gateway/integrations/intake"
	"github.com/tryreplicas/gateway/integrations/launch"
	"github.com/tryreplicas/gateway/integrations/oauthstate"
)

//go:embed migrations
var migrations embed.FS

// Migrations is this package's schema.
var Migrations = sqldb.Set{Name: "github", FS: sqldb.MustSub(migrations, "migrations"),
	Needs: []sqldb.Set{identity.Migrations, oauthstate.Migrations, launch.Migrations, intake.Migrations, activity.Migrations}}

// ErrNotFound is a missing installation.
var ErrNotFound = fmt.Errorf("github: installation %w", errs.ErrNotFound)

// Installation is one installation of the App.
type Installation struct {
	ID                  int64     `json:"installation_id"`
	OrgID               string    `json:"org_id,omitempty"`
	AccountLogin        string    `json:"account_login"`
	AccountID           int64     `json:"account_id"`
	AccountType         string    `json:"account_type"`
	Status              string    `json:"status"`
	RepositorySelection string    `json:"repository_selection"`
	InstallerID         int64     `json:"-"` // the GitHub account that installed it (webhook sender)
	UpdatedAt           time.Time `json:"updated_at"`
}

// Store reads and writes installations.
type Store struct{ now func() time.Time }

// NewStore returns a store on the wall clock.
func NewStore() *Store { return &Store{now: func() time.Time { return time.Now().UTC() }} }

// Installation returns an installation.
func (s *Store) Installation(ctx context.Context, q sqldb.Querier, id int64) (Installation, error) {
	var in Installation
	var org *string
	err := q.QueryRow(ctx, `SELECT installation_id, org_id, account_login, account_id, account_type, status, repository_selection, installer_id, updated_at
		FROM github_installations WHERE installation_id = $1`, id).
		Scan(&in.ID, &org, &in.AccountLogin, &in.AccountID, &in.AccountType, &in.Status, &in.RepositorySelection, &in.InstallerID, &in.UpdatedAt)
	if err := sqldb.NoRowsAs(err, ErrNotFound, "get installation"); err != nil {
		return in, err
	}
	if org != nil {
		in.OrgID = *org
	}
	return in, nil
}

// OrgInstallations lists the installations bound to an org.
func (s *Store) OrgInstallations(ctx context.Context, q sqldb.Querier, orgID string) ([]Installation, error) {
	rows, err := q.Query(ctx, `SELECT installation_id, account_login, account_id, account_type, status, repository_selection, updated_at
		FROM github_installations WHERE org_id = $1 ORDER BY installation_id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("list installations: %w", err)
	}
	return sqldb.Collect(rows, func(r sqldb.Rows) (Installation, error) {
		in := Installation{OrgID: orgID}
		err := r.Scan(&in.ID, &in.AccountLogin, &in.AccountID, &in.AccountType, &in.Status, &in.RepositorySelection, &in.UpdatedAt)
		return in, err
	})
}

// Upsert records what an installation webhook says, keeping its binding. An
// empty Status keeps the stored one (a new installation is active).
func (s *Store) Upsert(ctx context.Context, q sqldb.Querier, in Installation) error {
	now := s.now()
	if _, err := q.Exec(ctx, `INSERT INTO github_installations (installation_id, account_login, account_id, account_type, status, repository_selection, installer_id, created_at, updated_at)
		VALUES ($1, $2, $3, $4, COALESCE(NULLIF($5, ''), 'active'), $6, $8, $7, $7)
		ON CONFLICT (installation_id) DO UPDATE SET account_login = excluded.account_login, account_id = excluded.account_id,
			account_type = excluded.account_type,
			status = CASE WHEN $5 = '' THEN github_installations.status ELSE excluded.status END,
			installer_id = CASE WHEN excluded.installer_id = 0 THEN github_installations.installer_id ELSE excluded.installer_id END,
			repository_selection = CASE WHEN excluded.repository_selection = '' THEN github_installations.repository_selection ELSE excluded.repository_selection END,
			updated_at = excluded.updated_at`,
		in.ID, in.AccountLogin, in.AccountID, in.AccountType, in.Status, in.RepositorySelection, now, in.InstallerID); err != nil {
		return fmt.Errorf("upsert installation: %w", err)
	}
	return nil
}

// ErrInstallationBound: the installation is bound to another org, which must
// disconnect it before anyone else binds it.
var ErrInstallationBound = errs.New(errs.ErrConflict, "installation_bound",
	"this GitHub installation is connected to another Replicas org; an admin of that org must disconnect it first")

// Bind ties an unbound installation to an org (after proof of who installed
// it); binding it again to the same org is a no-op. An installation bound to
// another org is never moved: ErrInstallationBound.
func (s *Store) Bind(ctx context.Context, q sqldb.Querier, installationID int64, orgID string) error {
	n, err := q.Exec(ctx, `UPDATE github_installations SET org_id = $1, updated_at = $2
		WHERE installation_id = $3 AND (org_id IS NULL OR org_id = $1)`, orgID, s.now(), installationID)
	if err != nil {
		return fmt.Errorf("bind installation: %w", err)
	}
	if n > 0 {
		return nil
	}
	if _, err := s.Installation(ctx, q, installationID); err != nil {
		return err
	}
	return ErrInstallationBound
}

// Unbind disconnects an installation from orgID; ErrNotFound when it is not
// bound to that org.
func (s *Store) Unbind(ctx context.Context, q sqldb.Querier, installationID int64, orgID string) error {
	n, err := q.Exec(ctx, `UPDATE github_installations SET org_id = NULL, updated_at = $1 WHERE installation_id = $2 AND org_id = $3`,
		s.now(), installationID, orgID)
	if err != nil {
		return fmt.Errorf("unbind installation: %w", err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// claimExplanation records that an explanation for key is being posted; false
// means one was already posted within the last hour.
func (s *Store) claimExplanation(ctx context.Context, q sqldb.Querier, key string) (bool, error) {
	return sqldb.ClaimWindow(ctx, q, "github_explanations", key, s.now(), time.Hour)
}

// PurgeExplanations drops explanation claims older than a day: their window
// is an hour, so an older claim decides nothing.
func (s *Store) PurgeExplanations(ctx context.Context, q sqldb.Querier, now time.Time) (int, error) {
	return sqldb.PurgeClaims(ctx, q, "github_explanations", now.Add(-24*time.Hour))
}

// tracking reads a workspace's tracking row (sqldb.ErrNoRows when none).
func (s *Store) tracking(ctx context.Context, q sqldb.Querier, workspaceID string) (tracking, error) {
	var t tracking
	err := q.QueryRow(ctx, `SELECT installation_id, repository, pull_request, comment_id, check_run_id, head_sha, check_state, version
		FROM github_tracking WHERE workspace_id = $1`, workspaceID).
		Scan(&t.installationID, &t.repository, &t.pullRequest, &t.commentID, &t.checkRunID, &t.headSHA, &t.checkState, &t.version)
	return t, err
}

// rememberTracking stores the tracking comment's and check run's ids as soon
// as GitHub made them, so a retried job edits them instead of making more.
func (s *Store) rememberTracking(ctx context.Context, q sqldb.Querier, workspaceID string, t tracking) error {
	if _, err := q.Exec(ctx, `UPDATE github_tracking SET comment_id = $1, check_run_id = $2, head_sha = $3 WHERE workspace_id = $4`,
		t.commentID, t.checkRunID, t.headSHA, workspaceID); err != nil {
		return fmt.Errorf("github: remember tracking comment: %w", err)
	}
	return nil
}
