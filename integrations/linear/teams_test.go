package linear

import (
	"context"
	"errors"
	"testing"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// A team maps only to a repository of a GitHub installation bound to the
// org; anything else is refused and the mapping stays as it was.
func TestMapTeam(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		e := newEnv(t, db, oauthToken)
		e.app.repos = installed{e.orgID + " acme/web": 3, "org_other otherco/private": 9}
		cases := []struct {
			repo    string
			wantErr error
			stored  string
		}{
			{"acme/web", nil, "acme/web"},
			{"otherco/private", launch.ErrRepositoryNotInstalled, "acme/web"},
			{"acme", errs.ErrInvalid, "acme/web"},
			{"acme/web/x", errs.ErrInvalid, "acme/web"},
		}
		for _, tc := range cases {
			if err := e.app.MapTeam(ctx, e.orgID, "WEB", tc.repo); !errors.Is(err, tc.wantErr) {
				t.Fatalf("map WEB → %s: %v, want %v", tc.repo, err, tc.wantErr)
			}
			if got, err := e.app.store.TeamRepository(ctx, db, e.orgID, "WEB"); err != nil || got != tc.stored {
				t.Fatalf("after %s: WEB → %q, %v; want %q", tc.repo, got, err, tc.stored)
			}
		}
		if err := e.app.MapTeam(ctx, e.orgID, "API", "acme/web"); err != nil {
			t.Fatal(err)
		}
		list, err := e.app.TeamMappings(ctx, e.orgID)
		if err != nil || len(list) != 2 || list[0] != (TeamMapping{"API", "acme/web"}) || list[1] != (TeamMapping{"WEB", "acme/web"}) {
			t.Fatalf("mappings %+v, %v", list, err)
		}
		if list, err := e.app.TeamMappings(ctx, "org_other"); err != nil || len(list) != 0 {
			t.Fatalf("another org's mappings %+v, %v", list, err)
		}
	})
}
