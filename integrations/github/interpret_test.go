package github

import (
	"context"
	"testing"

	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/integrations/intake"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// Every way a comment or review can ask for a workspace, and every way it
// does not: each negative gives an outcome and no trigger.
func TestInterpretMentions(t *testing.T) {
	t.Parallel()
	const (
		onPR     = "issue_comment.created.on-pr.json"
		onIssue  = "issue_comment.created.with-installation.json"
		review   = "pull_request_review.submitted.json"
		reviewC  = "pull_request_review_comment.created.json"
		mention  = "@tryreplicas please make the failing test pass"
		prHeadID = "feature-branch" // what the fake answers for the PR
	)
	edited := func(from string) []func(map[string]any) {
		return []func(map[string]any){set("action", "edited"), set("changes", map[string]any{"body": map[string]any{"from": from}})}
	}
	cases := []struct {
		name    string
		event   string
		body    []byte
		key     string // the trigger key; "" when nothing triggers
		ref     string
		outcome string
		then    bool // negatives that still answer (reaction, explanation)
	}{
		{"conversation comment on a PR", "issue_comment.created", build(t, onPR), "github:issue_comment:492700400:2019-05-15T15:20:21Z", prHeadID, "", true},
		{"review comment", "pull_request_review_comment.created", build(t, reviewC, set("comment.body", "@TryReplicas, use emoji here")),
			"github:review_comment:284312630:2019-05-15T15:20:38Z", "changes", "", true},
		{"review with a body", "pull_request_review.submitted", build(t, review, set("review.body", "Looks off. @tryreplicas fix the README")),
			"github:review:237895671:2019-05-15T15:20:38Z", "changes", "", true},
		{"edit that adds the mention", "issue_comment.edited", build(t, onPR, edited("please make the failing test pass")...),
			"github:issue_comment:492700400:2019-05-15T15:20:21Z", prHeadID, "", true},
		{"edit that keeps the mention", "issue_comment.edited", build(t, onPR, edited("@tryreplicas fix it")...), "", "", "ignored: edit kept an earlier mention", false},
		{"edit that removes the mention", "issue_comment.edited", build(t, onPR, append(edited(mention), set("comment.body", "never mind"))...), "", "", "ignored: not a mention", false},
		{"review without a body", "pull_request_review.submitted", build(t, review, set("review.body", nil)), "", "", "ignored: review without a body", false},
		{"review dismissed", "pull_request_review.dismissed", build(t, review, set("action", "dismissed"), set("review.body", mention)), "", "", "ignored: pull_request_review.dismissed", false},
		{"comment on an issue", "issue_comment.created", build(t, onIssue, set("comment.body", mention)), "", "", "ignored: comment on an issue, not a pull request", false},
		{"no mention", "issue_comment.created", build(t, onPR, set("comment.body", "LGTM")), "", "", "ignored: not a mention", false},
		{"email address", "issue_comment.created", build(t, onPR, set("comment.body", "mail x@tryreplicas.com")), "", "", "ignored: not a mention", false},
		{"other handle", "issue_comment.created", build(t, onPR, set("comment.body", "@tryreplicas-bot go")), "", "", "ignored: not a mention", false},
		{"quoted", "issue_comment.created", build(t, onPR, set("comment.body", "> @tryreplicas fix\r\n\r\nagreed")), "", "", "ignored: not a mention", false},
		{"in code", "issue_comment.created", build(t, onPR, set("comment.body", "```\n@tryreplicas\n```")), "", "", "ignored: not a mention", false},
		{"bot sender", "issue_comment.created", build(t, onPR, set("sender.type", "Bot")), "", "", "ignored: bot", false},
		{"the app itself", "issue_comment.created", build(t, onPR, set("sender.login", "tryreplicas[bot]")), "", "", "ignored: bot", false},
		{"deleted comment", "issue_comment.deleted", build(t, onPR, set("action", "deleted")), "", "", "ignored: issue_comment.deleted", false},
		{"edited review comment", "pull_request_review_comment.edited", build(t, reviewC, set("action", "edited"), set("comment.body", mention)), "", "", "ignored: pull_request_review_comment.edited", false},
		{"unknown GitHub account", "issue_comment.created", build(t, onPR, set("sender.id", 999)), "", "", "unknown_user", true},
		{"linked but not a member", "issue_comment.created", build(t, onPR, set("sender.id", outsiderID)), "", "", "not_a_member", true},
		{"installation not bound", "issue_comment.created", build(t, onPR, set("installation.id", 777)), "", "", "installation_not_bound", true},
		{"installation suspended", "issue_comment.created", build(t, onPR, set("installation.id", 2)), "", "", "installation_not_bound", true},
		{"ping", "ping", build(t, "ping.with-app_id.json"), "", "", "ignored: ping", false},
		{"unhandled event", "star.created", []byte(`{"action":"created"}`), "", "", "ignored: star.created", false},
	}
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db)
		for _, tc := range cases {
			plan, err := e.app.Interpret(context.Background(), intake.Delivery{Event: tc.event, Body: tc.body})
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
				continue
			}
			if tc.key == "" {
				if plan.Trigger != nil || plan.Outcome != tc.outcome || (plan.Then != nil) != tc.then {
					t.Errorf("%s: trigger %v, outcome %q (want %q), then %v", tc.name, plan.Trigger, plan.Outcome, tc.outcome, plan.Then != nil)
				}
				continue
			}
			tr := plan.Trigger
			if tr == nil {
				t.Errorf("%s: no trigger (outcome %q)", tc.name, plan.Outcome)
				continue
			}
			if tr.TriggerKey != tc.key || tr.Repository.Ref != tc.ref || tr.Repository.FullName != "Codertocat/Hello-World" ||
				tr.OrgID != e.orgID || tr.UserID != e.ada.ID || plan.OrgID != e.orgID || tr.Source.Kind != "github" ||
				tr.Source.GitHub == nil || tr.Source.GitHub.InstallationID != 1 || tr.Task.URL != tr.Source.URL || tr.Task.URL == "" {
				t.Errorf("%s: trigger %+v", tc.name, tr)
			}
		}
	})
}

// The trigger names the PR as the task, and committing it records the
// sender's new login and the eyes reaction.
func TestInterpretTriggerDetails(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		e := newEnv(t, db)
		plan, err := e.app.Interpret(ctx, intake.Delivery{Event: "issue_comment.created", Body: build(t, "issue_comment.created.on-pr.json")})
		if err != nil || plan.Trigger == nil {
			t.Fatalf("%+v, %v", plan, err)
		}
		tr := plan.Trigger
		want := launch.GitHubSource{Repository: "Codertocat/Hello-World", PullRequest: 1, InstallationID: 1,
			CommentID: 492700400, CommentKind: "issue_comment", Sender: "Codertocat"}
		if tr.Source.GitHub == nil || *tr.Source.GitHub != want {
			t.Errorf("details = %+v, want %+v", tr.Source.GitHub, want)
		}
		if tr.Task.Title != "Codertocat/Hello-World#1: Spelling error in the README file" ||
			tr.Task.Body != "@tryreplicas please make the failing test pass" ||
			tr.Source.URL != "https://github.com/Codertocat/Hello-World/issues/1#issuecomment-492700400" {
			t.Errorf("task %+v source %+v", tr.Task, tr.Source)
		}
		e.commit(t, plan, &launch.Workspace{ID: "ws_1", Status: launch.StatusQueued}, nil)
		link, err := e.ids.GitHubLinkByID(ctx, db, codertocat)
		if err != nil || link.Login != "Codertocat" {
			t.Fatalf("login after the mention: %q, %v", link.Login, err)
		}
		if r, c := e.jobs(t, "github_react"), e.jobs(t, "github_comment"); r != 1 || c != 0 {
			t.Fatalf("%d reactions and %d comments queued, want 1 and 0 (the reply comes with the launch report)", r, c)
		}
		// The same trigger again (another delivery id): nothing more to say.
		e.commit(t, plan, nil, launch.ErrDuplicate)
		if r, c := e.jobs(t, "github_react"), e.jobs(t, "github_comment"); r != 1 || c != 0 {
			t.Fatalf("duplicate queued %d reactions and %d comments", r, c)
		}
	})
}

// Installation events keep the table current without losing the binding.
func TestInterpretInstallations(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		e := newEnv(t, db)
		const id = 957387
		steps := []struct {
			event, file, action string
			status              string
		}{
			{"installation", "installation.created.json", "created", "active"},
			{"installation", "installation.created.json", "suspend", "suspended"},
			{"installation", "installation.created.json", "unsuspend", "active"},
			{"installation_repositories", "installation_repositories.added.json", "added", "active"},
			{"installation", "installation.created.json", "deleted", "deleted"},
		}
		for i, s := range steps {
			plan, err := e.app.Interpret(ctx, intake.Delivery{Event: s.event + "." + s.action, Body: build(t, s.file, set("action", s.action))})
			if err != nil || plan.Trigger != nil || plan.Then == nil {
				t.Fatalf("%s.%s: %+v, %v", s.event, s.action, plan, err)
			}
			e.commit(t, plan, nil, nil)
			in, err := e.app.Store().Installation(ctx, db, id)
			if err != nil || in.Status != s.status || in.AccountLogin != "Codertocat" || in.AccountType != "User" {
				t.Fatalf("%s.%s: %+v, %v", s.event, s.action, in, err)
			}
			if i == 0 {
				if in.InstallerID != codertocat || in.OrgID != "" || in.RepositorySelection != "selected" {
					t.Fatalf("created: %+v", in)
				}
				if err := e.app.Store().Bind(ctx, db, id, e.orgID); err != nil {
					t.Fatal(err)
				}
			} else if in.OrgID != e.orgID {
				t.Fatalf("%s.%s lost the binding: %+v", s.event, s.action, in)
			}
		}
	})
}
