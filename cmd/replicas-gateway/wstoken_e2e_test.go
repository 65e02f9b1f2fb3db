package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A launcher failure whose output holds secret-looking text: the workspaces
// of a GitHub mention, a Linear assignment and a Linear agent session all
// fail, and what is posted on the pull request, the issue and the session is
// a generic sentence with the workspace page's link. The details stay in the
// API's error field.
func TestLauncherFailureDetailsStayInTheAPI(t *testing.T) {
	t.Parallel()
	const awsKey, stderr = "AKIAIOSFODNN7EXAMPLE", "fatal: could not read Username for https://github.com"
	g, fake, orgID := linearGatewayWith(t, map[string]string{
		"REPLICAS_LAUNCHER":         "exec",
		"REPLICAS_LAUNCHER_COMMAND": `echo "` + stderr + ` (aws key ` + awsKey + `)" >&2; exit 1`,
	})
	mapTeam(t, g, orgID)
	if code, ans := g.mention(t, ada, "gh-secret"); code != 200 {
		t.Fatalf("mention answered %d %v", code, ans)
	}
	issue, err := linearAssign{Email: "ada@example.com", ActorID: "actor-ada", IssueID: "issue-fail", Identifier: "ENG-7", AppUserID: appUser, OrganizationID: linOrg}.build(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	session := edit(t, issue, func(p map[string]any) {
		data := p["data"].(map[string]any)
		data["id"] = "issue-fail-session"
		for _, k := range []string{"data", "updatedFrom", "actor"} {
			delete(p, k)
		}
		p["type"], p["action"], p["appUserId"] = "AgentSessionEvent", "created", appUser
		p["agentSession"] = map[string]any{"id": "session-fail", "issue": data, "creator": map[string]any{"id": "actor-ada", "name": "Ada", "email": "ada@example.com"}}
	})
	for _, body := range [][]byte{issue, session} {
		if code := g.linear(t, body); code != 200 {
			t.Fatalf("linear delivery answered %d", code)
		}
	}
	// Every launch attempt fails: make each retry due at once, as River's
	// scheduler would once its backoff passed.
	g.waitFor(t, "three failed workspaces", func() bool {
		if _, err := g.app.db.Exec(context.Background(), `UPDATE river_job SET state = 'available', scheduled_at = $1
			WHERE state = 'retryable' AND kind = 'launch_workspace'`, time.Now().UTC().Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		return g.count(t, `SELECT COUNT(*) FROM workspaces WHERE status = 'failed'`) == 3
	})
	g.idle(t)

	var posted []string
	for _, c := range g.github.Calls() {
		switch c.Kind {
		case "comment":
			posted = append(posted, "github: "+c.Body)
		case "comment_edit", "check_run", "check_run_update":
			posted = append(posted, "github "+c.Kind+": "+c.Body)
		}
	}
	for _, c := range fake.Comments() {
		posted = append(posted, "linear comment: "+c)
	}
	for _, a := range fake.Activities() {
		posted = append(posted, "linear activity: "+a)
	}
	for _, p := range posted {
		for _, leak := range []string{awsKey, "could not read", "exit status", "launcher command", "attempts"} {
			if strings.Contains(p, leak) {
				t.Errorf("posted %q, which holds %q", p, leak)
			}
		}
	}
	for _, where := range []string{"github: ", "linear comment: ", "linear activity: error: "} {
		n := 0
		for _, p := range posted {
			if strings.HasPrefix(p, where+"Workspace [ws_") && strings.Contains(p, "](http://gateway.test/workspaces/ws_") && strings.Contains(p, ") failed.") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d failure reports as %q with the workspace page's link, want 1:\n%s", n, where, strings.Join(posted, "\n"))
		}
	}

	adaUser, err := g.app.identity.UserByEmail(context.Background(), g.app.db, "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	tok := adaToken(t, g, orgID, adaUser.ID)
	rows, err := g.app.db.Query(context.Background(), `SELECT id FROM workspaces`)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		code, w := getJSON(t, g.url+"/api/v1/workspaces/"+id, tok)
		if code != 200 || w["status"] != "failed" || !strings.Contains(w["error"].(string), stderr) {
			t.Errorf("GET workspace %s = %d %v, want failed with the launcher's output", id, code, w)
		}
	}
}

// The exec launch command gets none of the gateway's own environment beyond
// the allowlist: the host's cloud keys, database password and tokens stay
// out; a REPLICAS_LAUNCHER_PASS_ENV name passes; the agent variable comes
// from the workspace's credential, not the host.
//
// Not parallel: it sets the gateway process's environment.
func TestExecLauncherGetsNoHostSecrets(t *testing.T) {
	host := map[string]string{
		"AWS_SECRET_ACCESS_KEY": "host-aws-secret-value",
		"PGPASSWORD":            "host-pg-password",
		"GITHUB_TOKEN":          "ghp_hostgithubtokenvalue",
		"ANTHROPIC_API_KEY":     "sk-ant-host-key-value",
	}
	for k, v := range host {
		t.Setenv(k, v)
	}
	t.Setenv("CORP_PROXY", "http://proxy.corp.example:3128")
	dir := t.TempDir()
	g := startGateway(t, map[string]string{
		"REPLICAS_LAUNCHER":          "exec",
		"REPLICAS_LAUNCHER_COMMAND":  `env > "` + dir + `/env-$REPLICAS_WORKSPACE_ID.txt"`,
		"REPLICAS_LAUNCHER_PASS_ENV": "CORP_PROXY",
	})
	orgID, adaID := seed(t, g, true)
	code, w := post(t, g.url+"/api/v1/orgs/"+orgID+"/workspaces", map[string]string{"Authorization": "Bearer " + adaToken(t, g, orgID, adaID)},
		[]byte(`{"task":{"title":"Fix it"},"repository":{"full_name":"acme/app"}}`))
	if code != http.StatusCreated {
		t.Fatalf("create = %d %v", code, w)
	}
	id := w["id"].(string)
	g.waitFor(t, "the launch", func() bool {
		return g.count(t, `SELECT COUNT(*) FROM workspaces WHERE id = $1 AND status = 'launched'`, id) == 1
	})
	out, err := os.ReadFile(filepath.Join(dir, "env-"+id+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		vars[k] = v
	}
	for k, v := range host {
		if strings.Contains(string(out), v) {
			t.Errorf("the command sees the host's %s", k)
		}
	}
	for _, k := range []string{"AWS_SECRET_ACCESS_KEY", "PGPASSWORD", "GITHUB_TOKEN", "TEST_DATABASE_URL", "GOFLAGS", "CI"} {
		if _, ok := vars[k]; ok {
			t.Errorf("the command sees the host's %s", k)
		}
	}
	if vars["CORP_PROXY"] != "http://proxy.corp.example:3128" || vars["ANTHROPIC_API_KEY"] != "sk-ant-api03-e2e-key" || vars["REPLICAS_WORKSPACE_ID"] != id {
		t.Errorf("CORP_PROXY %q, ANTHROPIC_API_KEY %q, REPLICAS_WORKSPACE_ID %q", vars["CORP_PROXY"], vars["ANTHROPIC_API_KEY"], vars["REPLICAS_WORKSPACE_ID"])
	}
}
