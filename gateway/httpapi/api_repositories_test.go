package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/github"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// install records a GitHub installation the way its webhooks do, bound to
// orgID when set.
func install(t *testing.T, db *sqldb.DB, gh *github.Store, in github.Installation, orgID string, repos ...string) {
	t.Helper()
	ctx := context.Background()
	if err := gh.Upsert(ctx, db, in); err != nil {
		t.Fatal(err)
	}
	var list []github.Repository
	for i, r := range repos {
		list = append(list, github.Repository{ID: in.ID*100 + int64(i), FullName: r})
	}
	if err := gh.AddRepositories(ctx, db, in.ID, list); err != nil {
		t.Fatal(err)
	}
	if orgID != "" {
		if err := gh.Bind(ctx, db, in.ID, orgID); err != nil {
			t.Fatal(err)
		}
	}
}

// A member asks for a workspace on a repository: it is created only when the
// repository belongs to an active installation bound to the member's org,
// and it carries that installation. Another company's repository, an
// unbound or suspended installation's, or a malformed name is a 422
// repository_not_installed and nothing is stored.
func TestCreateWorkspaceRepositoryMustBeInstalled(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, []sqldb.Set{identity.Migrations, launch.Migrations, github.Migrations}, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		a, o := bootstrapOrg(t, db, "acme", "admin@acme.example"), bootstrapOrg(t, db, "otherco", "admin@otherco.example")
		acme, otherco, tokOther := a.Org, o.Org, o.Token
		_, tokMia := member(t, db, acme.ID, "mia@acme.example")
		gh := github.NewStore()
		install(t, db, gh, github.Installation{ID: 10, AccountLogin: "acme", AccountID: 1, AccountType: "Organization", Status: "active", RepositorySelection: "selected"}, acme.ID, "acme/app")
		install(t, db, gh, github.Installation{ID: 20, AccountLogin: "otherco", AccountID: 2, AccountType: "Organization", Status: "active", RepositorySelection: "selected"}, otherco.ID, "otherco/private")
		install(t, db, gh, github.Installation{ID: 30, AccountLogin: "loose", AccountID: 3, AccountType: "User", Status: "active", RepositorySelection: "selected"}, "", "loose/repo")
		install(t, db, gh, github.Installation{ID: 40, AccountLogin: "acme-old", AccountID: 4, AccountType: "Organization", Status: "suspended", RepositorySelection: "all"}, acme.ID, "acme-old/app")
		install(t, db, gh, github.Installation{ID: 50, AccountLogin: "Acme-Labs", AccountID: 5, AccountType: "Organization", Status: "active", RepositorySelection: "all"}, acme.ID)

		h, _ := workspaceAPI(t, db, apiChain{}, gh)

		cases := []struct {
			name, org, token, repo string
			want                   int
			installation           float64
		}{
			{"installed repository", acme.ID, tokMia, "acme/app", 201, 10},
			{"names are case-insensitive", acme.ID, tokMia, "ACME/App", 201, 10},
			{"every repository of an all-repositories installation", acme.ID, tokMia, "acme-labs/anything", 201, 50},
			{"another company's private repository", acme.ID, tokMia, "otherco/private", 422, 0},
			{"an installation bound to no org", acme.ID, tokMia, "loose/repo", 422, 0},
			{"a suspended installation", acme.ID, tokMia, "acme-old/app", 422, 0},
			{"a repository the installation does not hold", acme.ID, tokMia, "acme/secret", 422, 0},
			{"a path that climbs out of the owner", acme.ID, tokMia, "acme-labs/../otherco", 422, 0},
			{"more than owner/name", acme.ID, tokMia, "acme-labs/app/extra", 422, 0},
			{"a dot-dot name", acme.ID, tokMia, "acme-labs/..", 422, 0},
			{"the other company in its own org", otherco.ID, tokOther, "otherco/private", 201, 20},
			{"the other company cannot use acme's", otherco.ID, tokOther, "acme/app", 422, 0},
		}
		created := 0
		for _, tc := range cases {
			body := fmt.Sprintf(`{"task":{"title":"Fix it"},"repository":{"full_name":%q,"ref":"main"}}`, tc.repo)
			code, ans := call(t, h, "POST", "/api/v1/orgs/"+tc.org+"/workspaces", tc.token, body)
			if code != tc.want {
				t.Errorf("%s: %d %v, want %d", tc.name, code, ans, tc.want)
				continue
			}
			if code == http.StatusCreated {
				created++
				if ans["installation_id"] != tc.installation {
					t.Errorf("%s: installation_id = %v, want %v", tc.name, ans["installation_id"], tc.installation)
				}
				continue
			}
			if ans["error"] != "repository_not_installed" || ans["message"] == "" {
				t.Errorf("%s: answer %v, want repository_not_installed", tc.name, ans)
			}
		}
		var n int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM workspaces`).Scan(&n); err != nil || n != created {
			t.Fatalf("%d workspaces stored (%v), want %d", n, err, created)
		}
	})
}
