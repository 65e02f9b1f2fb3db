package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/credstore"
	"github.com/tryreplicas/gateway/integrations/github/githubtest"
)

// A Linear issue works only in a repository of an installation bound to the
// org: a team cannot be mapped to another company's repository (422), and an
// issue whose attachment names one launches nothing (the delivery says why,
// and so does a comment in Linear); an installed repository launches with
// its installation id in the launch request.
func TestLinearRepositoryMustBeInstalled(t *testing.T) {
	t.Parallel()
	g, fake, orgID := linearGateway(t)
	admin := map[string]string{"Authorization": "Bearer " + adaToken(t, g, orgID, adminOf(t, g, orgID)), "Content-Type": "application/json"}
	code, ans := post2(t, "PUT", g.url+"/api/v1/orgs/"+orgID+"/integrations/linear/teams/ENG", admin, `{"repository":"otherco/private"}`)
	if code != 422 || ans["error"] != "repository_not_installed" {
		t.Fatalf("map a team to another company's repository = %d %v", code, ans)
	}
	if n := g.count(t, `SELECT COUNT(*) FROM linear_team_repositories`); n != 0 {
		t.Fatalf("%d team mappings stored", n)
	}

	fake.SetAttachments("issue-f", "https://github.com/otherco/private/pull/3")
	fake.SetAttachments("issue-g", "https://github.com/acme/storefront/issues/1")
	for _, issue := range []string{"issue-f", "issue-g"} {
		body, err := linearAssign{Email: "ada@example.com", ActorID: "actor-ada", IssueID: issue, Identifier: "ENG-8", AppUserID: appUser, OrganizationID: linOrg}.build(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if code := g.linear(t, body); code != 200 {
			t.Fatalf("%s: answered %d", issue, code)
		}
	}
	g.waitFor(t, "both deliveries processed", func() bool {
		return g.count(t, `SELECT COUNT(*) FROM deliveries WHERE processed_at IS NOT NULL`) == 2
	})
	g.waitFor(t, "the launch", func() bool { return g.count(t, `SELECT COUNT(*) FROM workspaces WHERE status = 'launched'`) == 1 })
	g.idle(t)
	if n := g.count(t, `SELECT COUNT(*) FROM deliveries WHERE outcome = 'repository_not_installed' AND workspace_id = '' AND org_id = $1`, orgID); n != 1 {
		t.Fatalf("%d deliveries with outcome repository_not_installed, want 1", n)
	}
	if n := g.count(t, `SELECT COUNT(*) FROM workspaces WHERE repository LIKE '%otherco%'`); n != 0 {
		t.Fatal("a workspace was created on another company's repository")
	}
	comments := strings.Join(fake.Comments(), "\n")
	if !strings.Contains(comments, "not part of a GitHub App installation") {
		t.Fatalf("Linear was not told why: %s", comments)
	}
	var file string
	var installation int64
	if err := g.app.db.QueryRow(context.Background(), `SELECT launch_file, installation_id FROM workspaces WHERE repository LIKE '%acme/storefront%'`).Scan(&file, &installation); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var req struct {
		InstallationID int64 `json:"installation_id"`
	}
	if err := json.Unmarshal(raw, &req); err != nil || installation != 2 || req.InstallationID != 2 {
		t.Fatalf("installation %d, launch request %s (%v); want installation 2", installation, raw, err)
	}
}

// Binding an installation reads its repositories from GitHub; afterwards
// installation_repositories webhooks add and remove what a member may ask
// for, through the workspaces API.
func TestRepositoriesFollowTheInstallation(t *testing.T) {
	t.Parallel()
	f := newConnectFixture(t)
	ctx := context.Background()
	a := f.g.app
	if _, err := a.creds.Put(ctx, a.db, credstore.Owner{Scope: "org", ID: f.orgID}, "claude", "api_key", credstore.Secret{APIKey: "sk-ant-api03-e2e-key"}, credstore.Change{ActorID: f.adminID}); err != nil {
		t.Fatal(err)
	}
	f.g.github.SetRepositories(77, "acme-gh/api", "acme-gh/web")
	ask := func(repo string) (int, map[string]any) {
		t.Helper()
		return f.api(t, "POST", "/api/v1/orgs/"+f.orgID+"/workspaces", fmt.Sprintf(`{"task":{"title":"Fix it"},"repository":{"full_name":%q}}`, repo))
	}
	if code, ans := ask("acme-gh/api"); code != 422 || ans["error"] != "repository_not_installed" {
		t.Fatalf("before the connect: %d %v", code, ans)
	}
	if code, ans := f.setup(t, 77, f.connectState(t), "code-boss"); code != 200 || ans["bound"] != true {
		t.Fatalf("setup = %d %v", code, ans)
	}
	f.g.waitFor(t, "the repositories of installation 77", func() bool {
		return f.g.count(t, `SELECT COUNT(*) FROM github_installation_repositories WHERE installation_id = 77`) == 2
	})
	changed := func(action string, selection string, repo string, id int64) {
		t.Helper()
		body := edit(t, readTestdata(t, "github/installation_repositories.added.json"), func(p map[string]any) {
			in := p["installation"].(map[string]any)
			in["id"] = 77
			acc := in["account"].(map[string]any)
			acc["login"], acc["id"], acc["type"] = "acme-gh", 7000, "Organization"
			list := []any{map[string]any{"id": id, "name": strings.TrimPrefix(repo, "acme-gh/"), "full_name": repo, "private": true}}
			p["action"], p["repository_selection"] = action, selection
			p["repositories_added"], p["repositories_removed"] = []any{}, []any{}
			p["repositories_"+action] = list
		})
		if code, ans := post(t, f.g.url+"/webhooks/github", githubHeaders("gh-secret", "installation_repositories", body), body); code != 200 {
			t.Fatalf("installation_repositories webhook = %d %v", code, ans)
		}
		f.g.idle(t)
	}
	changed("removed", "selected", "acme-gh/api", githubtest.RepositoryID("acme-gh/api"))
	changed("added", "selected", "acme-gh/new", 4242)
	for _, tc := range []struct {
		repo string
		want int
	}{
		{"acme-gh/web", 201}, // from GitHub's list
		{"acme-gh/new", 201}, // added
		{"acme-gh/api", 422}, // removed
		{"acme-gh/other", 422},
		{"otherco/private", 422},
	} {
		code, ans := ask(tc.repo)
		if code != tc.want || (code == 201 && ans["installation_id"] != 77.0) || (code == 422 && ans["error"] != "repository_not_installed") {
			t.Errorf("%s: %d %v, want %d", tc.repo, code, ans, tc.want)
		}
	}
}
