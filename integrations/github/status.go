package github

import (
	"context"
	"errors"
	"fmt"

	"github.com/tryreplicas/gateway/gateway/sqldb"
)

// OrgStatus is what an org's admins see of its GitHub connection: the bound
// installations, the last auto-link report (nil before the first) and the
// installations waiting for GitHub to confirm a connect.
type OrgStatus struct {
	Installations        []Installation `json:"installations"`
	LastAutoLink         *Report        `json:"last_auto_link"`
	PendingInstallations []int64        `json:"pending_installations"`
}

// OrgStatus reads an org's GitHub connection.
func (a *App) OrgStatus(ctx context.Context, orgID string) (OrgStatus, error) {
	inst, err := a.store.OrgInstallations(ctx, a.db, orgID)
	if err != nil {
		return OrgStatus{}, err
	}
	out := OrgStatus{Installations: inst, PendingInstallations: []int64{}}
	if out.Installations == nil {
		out.Installations = []Installation{}
	}
	report, err := LastReport(ctx, a.db, orgID)
	switch {
	case err == nil:
		out.LastAutoLink = &report
	case !errors.Is(err, sqldb.ErrNoRows):
		return OrgStatus{}, err
	}
	pending, err := a.store.PendingInstallations(ctx, a.db, orgID)
	if err != nil {
		return OrgStatus{}, err
	}
	if pending != nil {
		out.PendingInstallations = pending
	}
	return out, nil
}

// PendingInstallations lists the installations an org's admin has started to
// connect and GitHub has not yet confirmed.
func (s *Store) PendingInstallations(ctx context.Context, q sqldb.Querier, orgID string) ([]int64, error) {
	rows, err := q.Query(ctx, `SELECT installation_id FROM github_pending_connects WHERE org_id = $1`, orgID)
	if err != nil {
		return nil, fmt.Errorf("list pending connects: %w", err)
	}
	return sqldb.Collect(rows, func(r sqldb.Rows) (int64, error) { var id int64; return id, r.Scan(&id) })
}
