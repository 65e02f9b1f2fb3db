package github

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/tryreplicas/gateway/gateway/secret"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/integrations/github/githubtest"
	"github.com/tryreplicas/gateway/integrations/intake"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// Acknowledgements run as jobs against a GitHub that checks the App JWT on
// the token exchange and the installation token on every call: eyes on
// comments (not on reviews) and at most one explanation per user and PR
// within an hour. Lifecycle reports go to the tracking comment
// (tracking_test.go).
func TestAcknowledgements(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		e := newEnv(t, db)
		events, stop := e.q.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed)
		defer stop()
		if err := e.q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.q.Stop(context.Background()) })

		interpret := func(event string, body []byte) intake.Plan {
			t.Helper()
			plan, err := e.app.Interpret(ctx, intake.Delivery{Event: event, Body: body})
			if err != nil {
				t.Fatal(err)
			}
			return plan
		}
		const onPR = "issue_comment.created.on-pr.json"
		// Launched from a conversation comment: eyes now.
		plan := interpret("issue_comment.created", build(t, onPR))
		ws := launch.Workspace{ID: "ws_1", OrgID: e.orgID, Agent: "claude", Status: launch.StatusQueued, Source: plan.Trigger.Source}
		e.commit(t, plan, &ws, nil)
		e.commit(t, plan, nil, launch.ErrDuplicate)
		// Review comment: eyes through the pull request comment reactions API.
		e.commit(t, interpret("pull_request_review_comment.created", build(t, "pull_request_review_comment.created.json", set("comment.body", "@tryreplicas here"))), &launch.Workspace{ID: "ws_2"}, nil)
		// Review: no reactions API, nothing until the launch report.
		e.commit(t, interpret("pull_request_review.submitted", build(t, "pull_request_review.submitted.json", set("review.body", "@tryreplicas please"))), &launch.Workspace{ID: "ws_3"}, nil)
		// Unknown account, twice on the same PR: two eyes, one explanation.
		e.commit(t, interpret("issue_comment.created", build(t, onPR, set("sender.id", 999), set("sender.login", "stranger"))), nil, nil)
		e.commit(t, interpret("issue_comment.created", build(t, onPR, set("sender.id", 999), set("sender.login", "stranger"), set("comment.id", 5))), nil, nil)
		// Not a member; no credentials (PR 2, so the explanation is not rate-limited by the first).
		e.commit(t, interpret("issue_comment.created", build(t, onPR, set("sender.id", outsiderID))), nil, nil)
		e.commit(t, interpret("pull_request_review_comment.created", build(t, "pull_request_review_comment.created.json", set("comment.body", "@tryreplicas go"), set("comment.id", 6))), nil, launch.ErrNoCredentials)
		// Installation not bound.
		e.commit(t, interpret("issue_comment.created", build(t, onPR, set("installation.id", 777), set("sender.id", 31))), nil, nil)

		const wantReactions, wantComments = 7, 4
		for done := 0; done < wantReactions+wantComments; {
			select {
			case ev := <-events:
				if ev.Job.Kind != (ReactArgs{}).Kind() && ev.Job.Kind != (CommentArgs{}).Kind() {
					continue
				}
				if ev.Kind == river.EventKindJobFailed {
					t.Fatalf("%s failed: %v", ev.Job.Kind, ev.Job.Errors)
				}
				done++
			case <-time.After(20 * time.Second):
				t.Fatalf("%d jobs done; calls %+v", done, e.fake.Calls())
			}
		}
		var reactions, comments []githubtest.Call
		for _, c := range e.fake.Calls() {
			if c.Kind == "reaction" {
				reactions = append(reactions, c)
			} else {
				comments = append(comments, c)
			}
		}
		if len(reactions) != wantReactions || len(comments) != wantComments {
			t.Fatalf("%d reactions, %d comments: %+v", len(reactions), len(comments), e.fake.Calls())
		}
		paths := map[string]int{}
		for _, r := range reactions {
			if r.Body != "eyes" {
				t.Errorf("reaction %+v", r)
			}
			paths[r.Path]++
		}
		if paths["/repos/Codertocat/Hello-World/issues/comments/492700400/reactions"] != 4 ||
			paths["/repos/Codertocat/Hello-World/pulls/comments/284312630/reactions"] != 1 ||
			paths["/repos/Codertocat/Hello-World/pulls/comments/6/reactions"] != 1 {
			t.Errorf("reaction paths %v", paths)
		}
		wants := []struct{ path, text string }{
			{"/repos/Codertocat/Hello-World/issues/1/comments", "/settings/user"},
			{"/repos/Codertocat/Hello-World/issues/1/comments", "not a member of the organization"},
			{"/repos/Codertocat/Hello-World/issues/2/comments", "at least one coding agent must be configured"},
			{"/repos/Codertocat/Hello-World/issues/1/comments", "not connected to a Replicas organization"},
		}
		for _, c := range comments {
			if strings.Contains(c.Body, "the launcher refused") {
				t.Errorf("a comment posts the failure's details: %q", c.Body)
			}
		}
		for _, w := range wants {
			n := 0
			for _, c := range comments {
				if c.Path == w.path && strings.Contains(c.Body, w.text) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%d comments on %s saying %q: %+v", n, w.path, w.text, comments)
			}
		}
	})
}

// A key GitHub does not know gets no installation token, and the job fails
// (to be retried) instead of calling the API anonymously.
func TestWrongAppKeyIsRefused(t *testing.T) {
	t.Parallel()
	fake, err := githubtest.New(42)
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	for _, cfg := range []Config{
		{AppID: 42, PrivateKey: secret.Secret(other), APIURL: fake.URL},
		{AppID: 43, PrivateKey: secret.Secret(fake.PrivateKey), APIURL: fake.URL},
	} {
		a := &App{cfg: cfg, transport: fake.Client().Transport}
		job := &river.Job[ReactArgs]{Args: ReactArgs{InstallationID: 1, Repository: "Codertocat/Hello-World", CommentKind: "issue_comment", CommentID: 1}}
		if err := (&reactWorker{a: a}).Work(context.Background(), job); err == nil {
			t.Errorf("app %d with that key reacted", cfg.AppID)
		}
	}
	// The right key works against the same server.
	a := &App{cfg: Config{AppID: 42, PrivateKey: secret.Secret(fake.PrivateKey), APIURL: fake.URL}, transport: fake.Client().Transport}
	job := &river.Job[CommentArgs]{Args: CommentArgs{InstallationID: 1, Repository: "Codertocat/Hello-World", PullRequest: 1, Body: "hello"}}
	if err := (&commentWorker{a: a}).Work(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	if c := fake.Calls(); len(c) != 1 || c[0].Kind != "comment" || c[0].Body != "hello" {
		t.Fatalf("calls %+v", c)
	}
}
