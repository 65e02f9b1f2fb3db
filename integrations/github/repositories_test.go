package github

import (
	"context"
	"fmt"
	"testing"

	"github.com/riverqueue/river"

	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/integrations/github/githubtest"
	"github.com/tryreplicas/gateway/integrations/intake"
)

// The installation webhooks decide which repositories a bound installation
// lends its org: created lists them, installation_repositories adds and
// removes them (and may switch to all repositories of the account),
// suspension and deletion withdraw them.
func TestInstallationRepositories(t *testing.T) {
	t.Parallel()
	const id = 957387 // the installation of the testdata payloads (account Codertocat)
	helloWorld := map[string]any{"id": 186853002, "node_id": "MDEwOlJlcG9zaXRvcnkxODY4NTMwMDI=", "name": "Hello-World", "full_name": "Codertocat/Hello-World", "private": false}
	space := map[string]any{"id": 186853007, "node_id": "MDEwOlJlcG9zaXRvcnkxODY4NTMwMDc=", "name": "Space", "full_name": "Codertocat/Space", "private": false}
	removed := []func(map[string]any){set("action", "removed"), set("repositories_added", []any{}), set("repositories_removed", []any{helloWorld})}
	steps := []struct {
		name, event, file string
		edits             []func(map[string]any)
		bind              bool
		allowed, refused  []string
	}{
		{"created, not yet bound", "installation.created", "installation.created.json", nil, false,
			nil, []string{"Codertocat/Hello-World"}},
		{"bound", "", "", nil, true,
			[]string{"Codertocat/Hello-World", "codertocat/hello-world"}, []string{"Codertocat/Space", "otherco/private", "Codertocat/Hello-World/x"}},
		{"a repository added", "installation_repositories.added", "installation_repositories.added.json", nil, false,
			[]string{"Codertocat/Hello-World", "Codertocat/Space"}, []string{"otherco/private"}},
		{"a repository removed", "installation_repositories.removed", "installation_repositories.added.json", removed, false,
			[]string{"Codertocat/Space"}, []string{"Codertocat/Hello-World"}},
		{"suspended", "installation.suspend", "installation.created.json", []func(map[string]any){set("action", "suspend")}, false,
			nil, []string{"Codertocat/Space"}},
		{"unsuspended", "installation.unsuspend", "installation.created.json", []func(map[string]any){set("action", "unsuspend")}, false,
			[]string{"Codertocat/Space"}, []string{"Codertocat/Hello-World"}},
		{"all repositories", "installation_repositories.added", "installation_repositories.added.json",
			[]func(map[string]any){set("repository_selection", "all"), set("repositories_added", []any{space})}, false,
			[]string{"Codertocat/Space", "Codertocat/anything", "CODERTOCAT/x.y_z-1"}, []string{"otherco/private", "Codertocat/..", "Codertocat/a/b", "Codertocat"}},
		{"back to selected repositories", "installation_repositories.removed", "installation_repositories.added.json",
			append(removed, set("repository_selection", "selected")), false,
			[]string{"Codertocat/Space"}, []string{"Codertocat/anything"}},
		{"deleted", "installation.deleted", "installation.created.json", []func(map[string]any){set("action", "deleted")}, false,
			nil, []string{"Codertocat/Space"}},
	}
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		e := newEnv(t, db)
		for _, s := range steps {
			if s.bind {
				if err := e.app.Store().Bind(ctx, db, id, e.orgID); err != nil {
					t.Fatal(err)
				}
			} else {
				plan, err := e.app.Interpret(ctx, intake.Delivery{Event: s.event, Body: build(t, s.file, s.edits...)})
				if err != nil || plan.Then == nil {
					t.Fatalf("%s: %+v, %v", s.name, plan, err)
				}
				e.commit(t, plan, nil, nil)
			}
			for _, repo := range s.allowed {
				if got, err := e.app.Store().InstallationFor(ctx, db, e.orgID, repo); err != nil || got != id {
					t.Errorf("%s: %s → installation %d, %v; want %d", s.name, repo, got, err, id)
				}
				if got, _ := e.app.Store().InstallationFor(ctx, db, "org_other", repo); got != 0 {
					t.Errorf("%s: %s lent to another org", s.name, repo)
				}
			}
			for _, repo := range s.refused {
				if got, err := e.app.Store().InstallationFor(ctx, db, e.orgID, repo); err != nil || got != 0 {
					t.Errorf("%s: %s → installation %d, %v; want none", s.name, repo, got, err)
				}
			}
		}
		if left, err := e.app.Store().Repositories(ctx, db, id); err != nil || len(left) != 0 {
			t.Fatalf("a deleted installation still lists %v, %v", left, err)
		}
	})
}

// The refresh job replaces what the webhooks said with GitHub's own list,
// read page by page with the installation's token.
func TestRefreshRepositories(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		e := newEnv(t, db)
		e.fake.SetRepositories(installation, "Codertocat/Hello-World", "Codertocat/Space", "Codertocat/Linguist")
		e.fake.SetRepositories(2, "suspended-org/other")
		if err := e.app.Store().SetRepositories(ctx, db, installation, []Repository{{ID: 1, FullName: "Codertocat/Stale"}}); err != nil {
			t.Fatal(err)
		}
		events, stop := e.q.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed)
		defer stop()
		if err := e.q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.q.Stop(context.Background()) })
		if err := db.InTx(ctx, func(tx sqldb.Tx) error { return e.app.refreshRepositoriesTx(ctx, tx, installation) }); err != nil {
			t.Fatal(err)
		}
		ev := <-events
		if ev.Kind != river.EventKindJobCompleted || ev.Job.Kind != (RefreshRepositoriesArgs{}).Kind() {
			t.Fatalf("job %s ended %s: %v", ev.Job.Kind, ev.Kind, ev.Job.Errors)
		}
		got, err := e.app.Store().Repositories(ctx, db, installation)
		if err != nil {
			t.Fatal(err)
		}
		want := []Repository{
			{githubtest.RepositoryID("Codertocat/Hello-World"), "codertocat/hello-world"},
			{githubtest.RepositoryID("Codertocat/Linguist"), "codertocat/linguist"},
			{githubtest.RepositoryID("Codertocat/Space"), "codertocat/space"},
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("after the refresh: %v, want %v", got, want)
		}
	})
}

// A mention comes from the installation that holds its repository (GitHub
// sends it for that installation only, bound to the org by construction):
// the trigger carries that installation, for the launch request.
func TestMentionCarriesItsInstallation(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		plan, err := e.app.Interpret(context.Background(), intake.Delivery{Event: "issue_comment.created", Body: build(t, "issue_comment.created.on-pr.json")})
		if err != nil || plan.Trigger == nil {
			t.Fatalf("%+v, %v", plan, err)
		}
		if plan.Trigger.InstallationID != installation || plan.Trigger.Repository.FullName != "Codertocat/Hello-World" {
			t.Fatalf("trigger installation %d for %s, want %d", plan.Trigger.InstallationID, plan.Trigger.Repository.FullName, installation)
		}
	})
}
