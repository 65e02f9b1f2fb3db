package github

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/integrations/activity"
	"github.com/tryreplicas/gateway/integrations/github/githubtest"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// storeWorkspace writes ws as the launch package would, with a throwaway
// token hash, so jobs that read it find it.
func (e *env) storeWorkspace(t *testing.T, ws launch.Workspace) {
	t.Helper()
	enc := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	now := time.Now().UTC()
	_, err := e.db.Exec(context.Background(), `INSERT INTO workspaces (id, org_id, user_id, agent, status, source, task, repository, chain, token_hash, created_at, updated_at, token_expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '[]', $9, $10, $10, $11)`,
		ws.ID, e.orgID, e.ada.ID, ws.Agent, string(ws.Status), enc(ws.Source), enc(ws.Task), enc(ws.Repository), []byte(ws.ID), now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
}

// setStatus changes the stored workspace and reports it, as launch does.
func (e *env) setStatus(t *testing.T, ws *launch.Workspace, status launch.Status) {
	t.Helper()
	ctx := context.Background()
	ws.Status = status
	err := e.db.InTx(ctx, func(tx sqldb.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE workspaces SET status = $1, summary = $2, result_url = $3, error = $4 WHERE id = $5`,
			string(status), ws.Summary, ws.ResultURL, ws.Error, ws.ID); err != nil {
			return err
		}
		return e.app.ReportTx(ctx, tx, *ws)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// settled waits until no tracking job is pending and cond holds of the
// calls GitHub received.
func (e *env) settled(t *testing.T, what string, cond func([]githubtest.Call) bool) []githubtest.Call {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		if e.jobsLeft(t, (TrackArgs{}).Kind()) == 0 && cond(e.fake.Calls()) {
			return e.fake.Calls()
		}
		select {
		case <-e.fake.Changed():
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s; calls %+v", what, e.fake.Calls())
		}
	}
}

func (e *env) jobsLeft(t *testing.T, kind string) int {
	t.Helper()
	var n int
	if err := e.db.QueryRow(context.Background(), `SELECT COUNT(*) FROM river_job WHERE kind = $1 AND state NOT IN ('completed', 'cancelled', 'discarded')`, kind).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func kinds(calls []githubtest.Call, kind string) []githubtest.Call {
	var out []githubtest.Call
	for _, c := range calls {
		if c.Kind == kind {
			out = append(out, c)
		}
	}
	return out
}

func last(calls []githubtest.Call) githubtest.Call {
	if len(calls) == 0 {
		return githubtest.Call{}
	}
	return calls[len(calls)-1]
}

// One tracking comment per workspace: created at launch, then edited in
// place; a burst of 50 activities becomes a few edits; a response is also a
// comment of its own; the check run on the head commit goes in_progress →
// success, linking the workspace page; the posted summary is scrubbed and a
// result link that is not http(s) is left out.
func TestTrackingCommentAndCheckRun(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		e := newEnv(t, db)
		e.app.TrackingInterval = time.Second
		acts := activity.NewService(db)
		acts.RegisterRelay(launch.SourceGitHub, e.app)
		if err := e.q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.q.Stop(context.Background()) })
		page := "https://gw.example/workspaces/ws_t"
		ws := launch.Workspace{ID: "ws_t", Agent: "claude", Status: launch.StatusQueued,
			Source: launch.Source{Kind: launch.SourceGitHub, GitHub: &launch.GitHubSource{InstallationID: installation, Repository: "Codertocat/Hello-World", PullRequest: 1, Sender: "Codertocat"}}}
		e.storeWorkspace(t, ws)
		e.setStatus(t, &ws, launch.StatusLaunching) // nothing yet
		e.setStatus(t, &ws, launch.StatusLaunched)
		calls := e.settled(t, "the tracking comment", func(c []githubtest.Call) bool { return len(kinds(c, "check_run")) == 1 })
		if c := kinds(calls, "comment"); len(c) != 1 || !strings.Contains(c[0].Body, "Launched workspace [ws_t]("+page+") with claude for @Codertocat.") {
			t.Fatalf("tracking comment %+v", c)
		}
		if c := kinds(calls, "check_run"); c[0].Body != "in_progress  "+page+" "+githubtest.DefaultHeadSHA {
			t.Fatalf("check run %+v", c)
		}
		e.setStatus(t, &ws, launch.StatusRunning)
		before := len(e.fake.Calls())
		for i := 1; i <= 50; i++ {
			a := activity.Activity{Type: activity.Action, Action: "Edit", Parameter: fmt.Sprintf("file%d.go", i), Result: fmt.Sprintf("step %d", i)}
			if i%10 == 0 {
				a = activity.Activity{Type: activity.Thought, Body: fmt.Sprintf("thinking at step %d", i)}
			}
			if _, err := acts.Post(ctx, ws, a); err != nil {
				t.Fatal(err)
			}
		}
		calls = e.settled(t, "the burst", func(c []githubtest.Call) bool {
			return strings.Contains(last(kinds(c, "comment_edit")).Body, "thinking at step 50")
		})
		burst := calls[before:]
		if n := len(kinds(burst, "comment_edit")) + len(kinds(burst, "comment")); n > 10 || n == 0 {
			t.Fatalf("%d comment writes for 50 activities, want 1 to 10", n)
		}
		if len(kinds(burst, "comment")) != 0 || len(kinds(burst, "check_run")) != 0 || len(kinds(burst, "check_run_update")) != 0 {
			t.Fatalf("the burst made new comments or check runs: %+v", burst)
		}
		if _, err := acts.Post(ctx, ws, activity.Activity{Type: activity.Response, Body: "Done: the test passes. Used key ghp_16C7e42F292c6912E7710c838347Ae178B4a"}); err != nil {
			t.Fatal(err)
		}
		ws.Summary, ws.ResultURL = "Fixed the spelling. AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG", "javascript:alert(1)"
		e.setStatus(t, &ws, launch.StatusFinished)
		calls = e.settled(t, "the finished report", func(c []githubtest.Call) bool { return len(kinds(c, "check_run_update")) == 1 })
		resp := kinds(calls, "comment")
		if len(resp) != 2 || !strings.Contains(resp[1].Body, "Done: the test passes.") || strings.Contains(resp[1].Body, "ghp_16C7") {
			t.Fatalf("response comment %+v", resp)
		}
		final := last(kinds(calls, "comment_edit")).Body
		if !strings.Contains(final, "Workspace [ws_t]("+page+") finished.") || !strings.Contains(final, "Fixed the spelling.") ||
			strings.Contains(final, "wJalrXUtnFEMI") || strings.Contains(final, "javascript") {
			t.Fatalf("final tracking comment:\n%s", final)
		}
		if u := kinds(calls, "check_run_update"); u[0].Body != "completed success "+page+" " || u[0].Path != "/repos/Codertocat/Hello-World/check-runs/"+fmt.Sprint(checkRunID(t, e, ws.ID)) {
			t.Fatalf("check run update %+v", u)
		}
	})
}

func checkRunID(t *testing.T, e *env, wsID string) int64 {
	t.Helper()
	tr, err := e.app.store.tracking(context.Background(), e.db, wsID)
	if err != nil {
		t.Fatal(err)
	}
	return tr.checkRunID
}

// A failed workspace is shown as a generic sentence with the workspace
// page's link, whatever its error holds (launcher output, secrets), and its
// check run fails; a cancelled one says so, and its check run is neutral.
func TestFailureAndCancelReportsHoldNoDetails(t *testing.T) {
	t.Parallel()
	db := sqldbtest.New(t, sqldb.SQLite, sets...)
	ctx := context.Background()
	e := newEnv(t, db)
	if err := e.q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.q.Stop(context.Background()) })
	const secret, stderr = "AKIAIOSFODNN7EXAMPLE", "fatal: could not read Username for 'https://github.com'"
	source := launch.Source{Kind: "github", GitHub: &launch.GitHubSource{InstallationID: 1, Repository: "Codertocat/Hello-World", PullRequest: 1}}
	for _, ws := range []launch.Workspace{
		{ID: "ws_f", Status: launch.StatusQueued, Source: source, Error: "launch failed after 8 attempts: launcher command: exit status 1: " + stderr + " key=" + secret},
		{ID: "ws_c", Status: launch.StatusQueued, Source: source},
	} {
		e.storeWorkspace(t, ws)
		to := launch.StatusFailed
		if ws.ID == "ws_c" {
			to = launch.StatusCancelled
		}
		e.setStatus(t, &ws, to)
	}
	calls := e.settled(t, "both reports", func(c []githubtest.Call) bool { return len(kinds(c, "check_run")) == 2 })
	var bodies []string
	for _, c := range calls {
		bodies = append(bodies, c.Body)
		if strings.Contains(c.Body, secret) || strings.Contains(c.Body, "could not read") || strings.Contains(c.Body, "exit status") {
			t.Errorf("GitHub was sent the failure's details: %q", c.Body)
		}
	}
	all := strings.Join(bodies, "\n")
	for _, want := range []string{"Workspace [ws_f](https://gw.example/workspaces/ws_f) failed.", "Workspace [ws_c](https://gw.example/workspaces/ws_c) was cancelled.",
		"completed failure https://gw.example/workspaces/ws_f", "completed neutral https://gw.example/workspaces/ws_c"} {
		if !strings.Contains(all, want) {
			t.Errorf("GitHub was not sent %q:\n%s", want, all)
		}
	}
}

// An App without checks: write still keeps its tracking comment current:
// the refused check run is logged, not retried until the next state.
func TestTrackingWithoutChecksPermission(t *testing.T) {
	t.Parallel()
	db := sqldbtest.New(t, sqldb.SQLite, sets...)
	ctx := context.Background()
	e := newEnv(t, db)
	e.fake.RefuseChecks = true
	if err := e.q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.q.Stop(context.Background()) })
	ws := launch.Workspace{ID: "ws_n", Agent: "claude", Status: launch.StatusQueued,
		Source: launch.Source{Kind: launch.SourceGitHub, GitHub: &launch.GitHubSource{InstallationID: installation, Repository: "Codertocat/Hello-World", PullRequest: 1, Sender: "Codertocat"}}}
	e.storeWorkspace(t, ws)
	e.setStatus(t, &ws, launch.StatusLaunched)
	e.settled(t, "the tracking comment", func(c []githubtest.Call) bool { return len(kinds(c, "comment")) == 1 })
	e.setStatus(t, &ws, launch.StatusFinished)
	calls := e.settled(t, "the finished edit", func(c []githubtest.Call) bool {
		return strings.Contains(last(kinds(c, "comment_edit")).Body, "finished.")
	})
	if n := len(kinds(calls, "check_run")) + len(kinds(calls, "check_run_update")); n != 0 {
		t.Fatalf("%d check run writes recorded by a GitHub that refuses them", n)
	}
	var failed int
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM river_job WHERE kind = $1 AND (errors IS NOT NULL AND errors <> '[]' AND errors <> 'null')`, (TrackArgs{}).Kind()).Scan(&failed); err != nil {
		t.Fatal(err)
	}
	if failed != 0 {
		t.Fatalf("%d tracking jobs failed", failed)
	}
}
