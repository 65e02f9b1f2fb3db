package linear

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/tryreplicas/gateway/gateway/queue"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/integrations/intake"
	"github.com/tryreplicas/gateway/integrations/launch"
	"github.com/tryreplicas/gateway/integrations/linear/lineartest"
)

// Acknowledgements run as jobs committed with the plan: a thought in the
// session at once, then the workspace link; a comment with the link on
// issues; a note on a follow-up prompt; why nothing launched, at most once
// per user, issue and hour.
func TestAcknowledgements(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		e := newEnv(t, db, oauthToken)
		q, err := queue.New(db, sqldbtest.Logger(), queue.Options{PollInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		app := New(e.app.cfg, db, e.app.ids, e.sealer, installed{}, q, sqldbtest.Logger())
		if err := app.store.SetTeamRepository(ctx, db, e.orgID, "ENG", "acme/web"); err != nil {
			t.Fatal(err)
		}
		done, stop := q.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed)
		defer stop()
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = q.Stop(context.Background()) })

		// commit runs what intake would: Interpret, then Then in a transaction.
		commit := func(body []byte, ws *launch.Workspace, launchErr error) {
			t.Helper()
			plan, err := app.Interpret(ctx, intake.Delivery{Body: body})
			if err != nil || plan.Then == nil {
				t.Fatalf("plan %+v, %v", plan, err)
			}
			if ws != nil {
				ws.Source = plan.Trigger.Source
			}
			if err := db.InTx(ctx, func(tx sqldb.Tx) error { return plan.Then(ctx, tx, ws, launchErr) }); err != nil {
				t.Fatal(err)
			}
		}
		report := func(ws launch.Workspace) {
			t.Helper()
			if err := db.InTx(ctx, func(tx sqldb.Tx) error { return app.ReportTx(ctx, tx, ws) }); err != nil {
				t.Fatal(err)
			}
		}
		noCredentials := errors.New("no coding agent configured")

		session := &launch.Workspace{ID: "ws_s", OrgID: e.orgID, Status: launch.StatusQueued}
		commit(build(t, "agent_session_event.created.json"), session, nil)
		commit(build(t, "agent_session_event.prompted.json"), session, launch.ErrFollowUp)
		session.Status, session.Agent = launch.StatusLaunched, "claude"
		report(*session)

		issue := &launch.Workspace{ID: "ws_i", OrgID: e.orgID, Status: launch.StatusQueued}
		commit(build(t, "issue.update.assigned.json"), issue, nil)
		commit(build(t, "issue.update.assigned.json"), nil, launch.ErrDuplicate) // nothing to say
		issue.Status, issue.Agent = launch.StatusLaunched, "codex"
		report(*issue)
		issue.Status, issue.Summary, issue.ResultURL = launch.StatusFinished, "Fixed the gift card path.", "https://github.com/acme/shop/pull/9"
		report(*issue)

		for i := 0; i < 2; i++ { // one explanation per hour
			commit(build(t, "issue.create.assigned.json"), nil, noCredentials)
			commit(build(t, "issue.update.assigned.json", set("actor.email", "Nobody@Example.com"), set("data.id", "other-issue")), nil, nil)
		}

		var jobs int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM river_job`).Scan(&jobs); err != nil {
			t.Fatal(err)
		}
		if jobs != 10 { // 7 acknowledgements, the session link, two issue moves
			t.Fatalf("%d acknowledgement jobs, want 10", jobs)
		}
		timeout := time.After(20 * time.Second)
		for i := 0; i < jobs; i++ {
			select {
			case ev := <-done:
				if ev.Kind != river.EventKindJobCompleted {
					t.Fatalf("job %s failed: %v", ev.Job.Kind, ev.Job.Errors)
				}
			case <-timeout:
				t.Fatalf("%d of %d jobs done", i, jobs)
			}
		}
		acts := strings.Join(e.fake.Activities(), "\n")
		for _, want := range []string{"thought: Launching a Replicas workspace", "thought: Got it", "thought: Replicas launched workspace [ws_s](https://gw.example/workspaces/ws_s) with claude"} {
			if !strings.Contains(acts, want) {
				t.Errorf("activities lack %q:\n%s", want, acts)
			}
		}
		if n := len(e.fake.Activities()); n != 3 {
			t.Errorf("%d activities:\n%s", n, acts)
		}
		if link := e.fake.SessionLink("a7c3e9f1-2b4d-4f6a-8c0e-1d3f5a7b9c2e"); link != "https://gw.example/workspaces/ws_s" {
			t.Errorf("session link %q", link)
		}
		if m := e.fake.Moves(); len(m) != 2 || !strings.HasSuffix(m[0], "→ "+lineartest.StateInProgress) {
			t.Errorf("issue moves %v", m)
		}
		comments := strings.Join(e.fake.Comments(), "\n---\n")
		for _, want := range []string{"Replicas launched workspace [ws_i](https://gw.example/workspaces/ws_i) with codex",
			"Fixed the gift card path.", "https://github.com/acme/shop/pull/9", "at least one coding agent must be configured", "with the email nobody@example.com"} {
			if !strings.Contains(comments, want) {
				t.Errorf("comments lack %q:\n%s", want, comments)
			}
		}
		if n := len(e.fake.Comments()); n != 4 {
			t.Errorf("%d comments:\n%s", n, comments)
		}
	})
}

// A failed workspace is posted (as a session activity or an issue comment)
// as a generic sentence with the workspace page's link, whatever its error
// holds (launcher output, secrets); a cancelled one says so.
func TestFailureAndCancelReportsHoldNoDetails(t *testing.T) {
	t.Parallel()
	db := sqldbtest.New(t, sqldb.SQLite, sets...)
	ctx := context.Background()
	e := newEnv(t, db, oauthToken)
	q, err := queue.New(db, sqldbtest.Logger(), queue.Options{PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	app := New(e.app.cfg, db, e.app.ids, e.sealer, installed{}, q, sqldbtest.Logger())
	done, stop := q.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed)
	defer stop()
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Stop(context.Background()) })
	const secret, stderr = "ghp_16C7e42F292c6912E7710c838347Ae178B4a", "error: permission denied (publickey)"
	failure := "launcher answered 422: " + stderr + " token=" + secret
	session := launch.Source{Kind: "linear", Linear: &launch.LinearSource{AgentSessionID: "session-1", IssueID: "issue-1"}}
	issue := launch.Source{Kind: "linear", Linear: &launch.LinearSource{IssueID: "issue-2"}}
	reports := []launch.Workspace{
		{ID: "ws_fs", OrgID: e.orgID, Status: launch.StatusFailed, Source: session, Error: failure},
		{ID: "ws_fi", OrgID: e.orgID, Status: launch.StatusFailed, Source: issue, Error: failure},
		{ID: "ws_ci", OrgID: e.orgID, Status: launch.StatusCancelled, Source: issue},
	}
	for _, ws := range reports {
		if err := db.InTx(ctx, func(tx sqldb.Tx) error { return app.ReportTx(ctx, tx, ws) }); err != nil {
			t.Fatal(err)
		}
	}
	timeout := time.After(20 * time.Second)
	for range reports {
		select {
		case ev := <-done:
			if ev.Kind != river.EventKindJobCompleted {
				t.Fatalf("job %s failed: %v", ev.Job.Kind, ev.Job.Errors)
			}
		case <-timeout:
			t.Fatal("reports never posted")
		}
	}
	acts, comments := strings.Join(e.fake.Activities(), "\n"), strings.Join(e.fake.Comments(), "\n")
	for _, body := range append(e.fake.Activities(), e.fake.Comments()...) {
		if strings.Contains(body, secret) || strings.Contains(body, "permission denied") || strings.Contains(body, "422") {
			t.Errorf("posted the failure's details: %q", body)
		}
	}
	if !strings.Contains(acts, "error: Workspace [ws_fs](https://gw.example/workspaces/ws_fs) failed.") {
		t.Errorf("activities lack the failure:\n%s", acts)
	}
	for _, want := range []string{"Workspace [ws_fi](https://gw.example/workspaces/ws_fi) failed.", "Workspace [ws_ci](https://gw.example/workspaces/ws_ci) was cancelled."} {
		if !strings.Contains(comments, want) {
			t.Errorf("comments lack %q:\n%s", want, comments)
		}
	}
}
