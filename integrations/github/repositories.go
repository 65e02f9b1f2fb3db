// The repositories each installation may access: kept from the installation
// webhooks (created, deleted, installation_repositories added/removed) and
// refreshed from GitHub's own list when an installation is bound. A
// workspace's repository must belong to an active installation bound to its
// org; InstallationFor answers which one.

package github

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	gh "github.com/google/go-github/v62/github"
	"github.com/riverqueue/river"

	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/integrations/intake"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// Repository is one repository an installation may access.
type Repository struct {
	ID       int64  `json:"id"`
	FullName string `json:"full_name"`
}

// fullNamePattern is a GitHub "owner/name": a login (letters, digits,
// hyphens) and a repository name (letters, digits, '.', '_', '-').
var fullNamePattern = regexp.MustCompile(`^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$`)

// ownerOf is the lower-cased owner of a well-formed full name ("" otherwise).
func ownerOf(fullName string) string {
	if !fullNamePattern.MatchString(fullName) {
		return ""
	}
	owner, name, _ := strings.Cut(fullName, "/")
	if name == "." || name == ".." {
		return ""
	}
	return strings.ToLower(owner)
}

func repositoriesOf(list []*gh.Repository) []Repository {
	out := make([]Repository, 0, len(list))
	for _, r := range list {
		if r.GetID() != 0 && r.GetFullName() != "" {
			out = append(out, Repository{ID: r.GetID(), FullName: r.GetFullName()})
		}
	}
	return out
}

// InstallationFor is the active installation bound to orgID that holds the
// repository fullName (GitHub names are case-insensitive), or 0. An
// installation holds the repositories GitHub told us about, and with
// repository_selection "all" every repository of its account.
func (s *Store) InstallationFor(ctx context.Context, q sqldb.Querier, orgID, fullName string) (int64, error) {
	owner := ownerOf(fullName)
	if owner == "" || orgID == "" {
		return 0, nil
	}
	var id int64
	err := q.QueryRow(ctx, `SELECT i.installation_id FROM github_installations i
		WHERE i.org_id = $1 AND i.status = 'active' AND (
			EXISTS (SELECT 1 FROM github_installation_repositories r WHERE r.installation_id = i.installation_id AND r.full_name = $2)
			OR (i.repository_selection = 'all' AND lower(i.account_login) = $3))
		ORDER BY i.installation_id LIMIT 1`, orgID, strings.ToLower(fullName), owner).Scan(&id)
	if errors.Is(err, sqldb.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("github: installation of %s: %w", fullName, err)
	}
	return id, nil
}

// Repositories lists what an installation is known to access, by name.
func (s *Store) Repositories(ctx context.Context, q sqldb.Querier, installationID int64) ([]Repository, error) {
	rows, err := q.Query(ctx, `SELECT repository_id, full_name FROM github_installation_repositories WHERE installation_id = $1 ORDER BY full_name`, installationID)
	if err != nil {
		return nil, fmt.Errorf("github: list installation repositories: %w", err)
	}
	return sqldb.Collect(rows, func(r sqldb.Rows) (Repository, error) {
		var x Repository
		return x, r.Scan(&x.ID, &x.FullName)
	})
}

// AddRepositories records repositories an installation may now access.
func (s *Store) AddRepositories(ctx context.Context, q sqldb.Querier, installationID int64, repos []Repository) error {
	for _, r := range repos {
		if _, err := q.Exec(ctx, `INSERT INTO github_installation_repositories (installation_id, repository_id, full_name) VALUES ($1, $2, $3)
			ON CONFLICT (installation_id, repository_id) DO UPDATE SET full_name = excluded.full_name`,
			installationID, r.ID, strings.ToLower(r.FullName)); err != nil {
			return fmt.Errorf("github: add installation repository: %w", err)
		}
	}
	return nil
}

// RemoveRepositories forgets repositories an installation no longer accesses.
func (s *Store) RemoveRepositories(ctx context.Context, q sqldb.Querier, installationID int64, repos []Repository) error {
	for _, r := range repos {
		if _, err := q.Exec(ctx, `DELETE FROM github_installation_repositories WHERE installation_id = $1 AND repository_id = $2`, installationID, r.ID); err != nil {
			return fmt.Errorf("github: remove installation repository: %w", err)
		}
	}
	return nil
}

// SetRepositories replaces everything an installation is known to access.
func (s *Store) SetRepositories(ctx context.Context, q sqldb.Querier, installationID int64, repos []Repository) error {
	if _, err := q.Exec(ctx, `DELETE FROM github_installation_repositories WHERE installation_id = $1`, installationID); err != nil {
		return fmt.Errorf("github: clear installation repositories: %w", err)
	}
	return s.AddRepositories(ctx, q, installationID, repos)
}

// alsoThen runs more writes after a plan's own, in the same transaction.
func alsoThen(plan intake.Plan, more func(ctx context.Context, tx sqldb.Tx) error) intake.Plan {
	first := plan.Then
	plan.Then = func(ctx context.Context, tx sqldb.Tx, ws *launch.Workspace, launchErr error) error {
		if first != nil {
			if err := first(ctx, tx, ws, launchErr); err != nil {
				return err
			}
		}
		return more(ctx, tx)
	}
	return plan
}

// installationRepositoriesPlan keeps what an installation event says about
// its repositories: a new installation lists them, a deleted one has none.
func (a *App) installationRepositoriesPlan(plan intake.Plan, e *gh.InstallationEvent) intake.Plan {
	id := e.GetInstallation().GetID()
	switch e.GetAction() {
	case "created":
		repos := repositoriesOf(e.Repositories)
		return alsoThen(plan, func(ctx context.Context, tx sqldb.Tx) error { return a.store.SetRepositories(ctx, tx, id, repos) })
	case "deleted":
		return alsoThen(plan, func(ctx context.Context, tx sqldb.Tx) error { return a.store.SetRepositories(ctx, tx, id, nil) })
	}
	return plan
}

// repositoriesChangedPlan applies installation_repositories added/removed,
// and the repository selection the event reports.
func (a *App) repositoriesChangedPlan(e *gh.InstallationRepositoriesEvent) intake.Plan {
	in := *e.GetInstallation()
	if e.RepositorySelection != nil {
		in.RepositorySelection = e.RepositorySelection
	}
	id := in.GetID()
	added, removed := repositoriesOf(e.RepositoriesAdded), repositoriesOf(e.RepositoriesRemoved)
	// A change of repositories says nothing of suspension: keep the status.
	plan := a.upsertPlan(&in, "", "installation repositories "+e.GetAction())
	return alsoThen(plan, func(ctx context.Context, tx sqldb.Tx) error {
		if err := a.store.RemoveRepositories(ctx, tx, id, removed); err != nil {
			return err
		}
		return a.store.AddRepositories(ctx, tx, id, added)
	})
}

// RefreshRepositoriesArgs re-reads an installation's repositories from
// GitHub (GET /installation/repositories with its installation token).
type RefreshRepositoriesArgs struct {
	InstallationID int64 `json:"installation_id"`
}

// Kind names the job.
func (RefreshRepositoriesArgs) Kind() string { return "github_refresh_repositories" }

// refreshRepositoriesTx enqueues the refresh of a newly bound installation.
func (a *App) refreshRepositoriesTx(ctx context.Context, tx sqldb.Tx, installationID int64) error {
	if !a.appConfigured() {
		a.log.Warn("GitHub App not configured: the installation's repositories are known from its webhooks only", "installation_id", installationID)
		return nil
	}
	_, err := a.queue.InsertTx(ctx, tx, RefreshRepositoriesArgs{InstallationID: installationID}, nil)
	return err
}

type refreshRepositoriesWorker struct {
	river.WorkerDefaults[RefreshRepositoriesArgs]
	a *App
}

// Work lists every page, then replaces the stored list in one transaction.
func (w *refreshRepositoriesWorker) Work(ctx context.Context, job *river.Job[RefreshRepositoriesArgs]) error {
	c, err := w.a.client(job.Args.InstallationID)
	if err != nil {
		return err
	}
	var repos []Repository
	opts := &gh.ListOptions{PerPage: 100}
	for {
		page, resp, err := c.Apps.ListRepos(ctx, opts)
		if err != nil {
			return fmt.Errorf("github: list the repositories of installation %d: %w", job.Args.InstallationID, err)
		}
		repos = append(repos, repositoriesOf(page.Repositories)...)
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	return w.a.db.InTx(ctx, func(tx sqldb.Tx) error {
		return w.a.store.SetRepositories(ctx, tx, job.Args.InstallationID, repos)
	})
}

// OrgRepositories lists, by full name, the repositories that the active
// installations bound to orgID are known to access.
func (s *Store) OrgRepositories(ctx context.Context, q sqldb.Querier, orgID string) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT DISTINCT r.full_name FROM github_installation_repositories r
		JOIN github_installations i ON i.installation_id = r.installation_id
		WHERE i.org_id = $1 AND i.status = 'active' ORDER BY r.full_name`, orgID)
	if err != nil {
		return nil, fmt.Errorf("github: list org repositories: %w", err)
	}
	return sqldb.Collect(rows, func(r sqldb.Rows) (string, error) {
		var n string
		return n, r.Scan(&n)
	})
}
