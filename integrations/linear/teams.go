// The team → repository mapping: a team's issues work in one repository,
// which must belong to a GitHub installation bound to the org.

package linear

import (
	"context"
	"strings"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// MapTeam maps a team (key or id) of an org's Linear workspace to the
// repository ("owner/name") its issues use. A repository that no GitHub
// installation bound to the org holds is refused with
// launch.ErrRepositoryNotInstalled, and nothing is stored.
func (a *App) MapTeam(ctx context.Context, orgID, team, repo string) error {
	if owner, name, ok := strings.Cut(repo, "/"); !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return errs.Invalid("repository must be owner/name")
	}
	id, err := a.repos.InstallationFor(ctx, a.db, orgID, repo)
	if err != nil {
		return err
	}
	if id == 0 {
		return launch.ErrRepositoryNotInstalled
	}
	return a.store.SetTeamRepository(ctx, a.db, orgID, team, repo)
}
