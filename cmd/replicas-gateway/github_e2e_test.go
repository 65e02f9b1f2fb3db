package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/credstore"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/github"
	"github.com/tryreplicas/gateway/integrations/github/githubtest"
)

// seed creates an org with an admin, a member (Codertocat, linked), an org
// Claude key, App installation 1 (Codertocat's) and installation 2 (every
// repository of acme) bound to the org.
func seed(t *testing.T, g *gw, withKey bool) (orgID, memberID string) {
	t.Helper()
	ctx := context.Background()
	a := g.app
	org, admin, _, err := a.identity.Bootstrap(ctx, a.db, "acme", "admin@example.com", "Admin")
	if err != nil {
		t.Fatal(err)
	}
	ada, err := a.identity.EnsureUser(ctx, a.db, "ada@example.com", "Ada")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.identity.AddMember(ctx, a.db, org.ID, ada.ID, identity.RoleMember); err != nil {
		t.Fatal(err)
	}
	if _, err := a.identity.LinkGitHub(ctx, a.db, identity.LinkRequest{UserID: ada.ID, GitHubID: 21031067, Login: "Codertocat-old", Via: identity.LinkedViaAdmin, ActorID: admin.ID}); err != nil {
		t.Fatal(err)
	}
	if withKey {
		if _, err := a.creds.Put(ctx, a.db, credstore.Owner{Scope: "org", ID: org.ID}, "claude", "api_key", credstore.Secret{APIKey: "sk-ant-api03-e2e-key"}, credstore.Change{ActorID: admin.ID}); err != nil {
			t.Fatal(err)
		}
	}
	for _, in := range []github.Installation{
		{ID: 1, AccountLogin: "Codertocat", AccountID: 21031067, AccountType: "Organization", Status: "active"},
		{ID: 2, AccountLogin: "acme", AccountID: 9000, AccountType: "Organization", Status: "active", RepositorySelection: "all"},
	} {
		if err := a.github.Store().Upsert(ctx, a.db, in); err != nil {
			t.Fatal(err)
		}
		if err := a.github.Store().Bind(ctx, a.db, in.ID, org.ID); err != nil {
			t.Fatal(err)
		}
	}
	return org.ID, ada.ID
}

func (g *gw) mention(t *testing.T, m githubMention, secret string) (int, map[string]any) {
	t.Helper()
	body, err := m.build()
	if err != nil {
		t.Fatal(err)
	}
	return post(t, g.url+"/webhooks/github", githubHeaders(secret, "issue_comment", body), body)
}

var ada = githubMention{Login: "Codertocat", GitHubID: 21031067, Repo: "Codertocat/Hello-World", PR: 1, Body: "@tryreplicas please fix the test", CommentID: 1001, InstallationID: 1}

func calls(g *gw, kind, contains string) int {
	n := 0
	for _, c := range g.github.Calls() {
		if c.Kind == kind && strings.Contains(c.Body, contains) {
			n++
		}
	}
	return n
}

func TestGitHubMentionLaunchesOnce(t *testing.T) {
	t.Parallel()
	g := startGateway(t, pgEnv(t))
	orgID, adaID := seed(t, g, true)

	m := ada
	body, _ := m.build()
	headers := githubHeaders("gh-secret", "issue_comment", body)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ { // the same delivery, 20 times at once
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, ans := post(t, g.url+"/webhooks/github", headers, body); code != 200 {
				t.Errorf("delivery answered %d %v", code, ans)
			}
		}()
	}
	wg.Wait()
	// The same comment again under another delivery id (repository hook + App hook).
	if code, _ := post(t, g.url+"/webhooks/github", githubHeaders("gh-secret", "issue_comment", body), body); code != 200 {
		t.Fatalf("second hook answered %d", code)
	}
	g.waitFor(t, "the launch reply", func() bool { return calls(g, "comment", "Launched workspace") == 1 })
	g.idle(t)
	if n := g.count(t, `SELECT COUNT(*) FROM workspaces WHERE org_id = $1 AND user_id = $2 AND status = 'launched'`, orgID, adaID); n != 1 {
		t.Fatalf("%d launched workspaces, want 1", n)
	}
	if n := g.count(t, `SELECT COUNT(*) FROM deliveries`); n != 2 {
		t.Fatalf("%d deliveries recorded, want 2", n)
	}
	if r, c := calls(g, "reaction", "eyes"), calls(g, "comment", ""); r != 1 || c != 1 {
		t.Fatalf("%d reactions and %d comments, want 1 and 1: %+v", r, c, g.github.Calls())
	}
	var ref, login string
	if err := g.app.db.QueryRow(context.Background(), `SELECT repository FROM workspaces`).Scan(&ref); err != nil || !strings.Contains(ref, "feature-branch") {
		t.Fatalf("repository = %s, %v", ref, err)
	}
	if err := g.app.db.QueryRow(context.Background(), `SELECT login FROM github_identities WHERE github_id = 21031067`).Scan(&login); err != nil || login != "Codertocat" {
		t.Fatalf("renamed login not recorded: %q %v", login, err)
	}
}

func TestGitHubNegatives(t *testing.T) {
	t.Parallel()
	g := startGateway(t, pgEnv(t))
	orgID, _ := seed(t, g, true)
	bot := ada
	bot.CommentID, bot.Body = 2001, "@tryreplicas-bot hello"
	quoted := ada
	quoted.CommentID, quoted.Body = 2002, "> @tryreplicas said hi\n`@tryreplicas`"
	email := ada
	email.CommentID, email.Body = 2003, "write to x@tryreplicas.com"
	cases := []githubMention{bot, quoted, email}
	for _, m := range cases {
		if code, ans := g.mention(t, m, "gh-secret"); code != 200 {
			t.Fatalf("%q answered %d %v", m.Body, code, ans)
		}
	}
	// A bot's own reply and a bad signature.
	self := ada
	self.CommentID, self.Login = 2004, "tryreplicas[bot]"
	body, _ := self.build()
	body = []byte(strings.Replace(string(body), `"type":"User"`, `"type":"Bot"`, 1))
	if code, _ := post(t, g.url+"/webhooks/github", githubHeaders("gh-secret", "issue_comment", body), body); code != 200 {
		t.Fatalf("bot comment answered %d", code)
	}
	if code, ans := g.mention(t, ada, "wrong-secret"); code != 401 || ans["error"] != "bad_signature" {
		t.Fatalf("bad signature answered %d %v", code, ans)
	}
	bad := []byte(`{"action":"created",`)
	if code, _ := post(t, g.url+"/webhooks/github", githubHeaders("gh-secret", "issue_comment", bad), bad); code != 400 {
		t.Fatalf("malformed body answered %d", code)
	}
	g.idle(t)
	if n := g.count(t, `SELECT COUNT(*) FROM workspaces`); n != 0 {
		t.Fatalf("%d workspaces launched by negatives", n)
	}
	if n := len(g.github.Calls()); n != 0 {
		t.Fatalf("negatives talked to GitHub: %+v", g.github.Calls())
	}
	if n := g.count(t, `SELECT COUNT(*) FROM deliveries WHERE org_id IS NULL AND outcome LIKE 'ignored:%'`); n != 4 {
		t.Fatalf("%d ignored deliveries, want 4", n)
	}
	_ = orgID
}

func TestGitHubUnknownUserGetsOneExplanation(t *testing.T) {
	t.Parallel()
	g := startGateway(t, pgEnv(t))
	seed(t, g, true)
	stranger := ada
	stranger.GitHubID, stranger.Login = 999, "stranger"
	for i := int64(0); i < 2; i++ {
		stranger.CommentID = 3000 + i
		if code, _ := g.mention(t, stranger, "gh-secret"); code != 200 {
			t.Fatal(code)
		}
	}
	g.waitFor(t, "an explanation", func() bool { return calls(g, "comment", "couldn't match your GitHub account") >= 1 })
	g.idle(t)
	if n := calls(g, "comment", ""); n != 1 {
		t.Fatalf("%d replies, want exactly one explanation: %+v", n, g.github.Calls())
	}
	if n := calls(g, "reaction", "eyes"); n != 2 {
		t.Fatalf("%d reactions, want 2", n)
	}
	if n := g.count(t, `SELECT COUNT(*) FROM deliveries WHERE outcome = 'unknown_user'`); n != 2 {
		t.Fatalf("%d unknown_user outcomes", n)
	}
}

func TestGitHubNoCredentialsExplains(t *testing.T) {
	t.Parallel()
	g := startGateway(t, pgEnv(t))
	seed(t, g, false)
	if code, _ := g.mention(t, ada, "gh-secret"); code != 200 {
		t.Fatal(code)
	}
	g.waitFor(t, "the explanation", func() bool {
		return calls(g, "comment", "at least one coding agent must be configured") == 1
	})
	if n := g.count(t, `SELECT COUNT(*) FROM deliveries WHERE outcome = 'no_credentials'`); n != 1 {
		t.Fatalf("outcome not recorded")
	}
}

func TestGitHubWithoutSecretRefusesEverything(t *testing.T) {
	t.Parallel()
	g := startGateway(t, map[string]string{"GITHUB_WEBHOOK_SECRET": ""})
	body, _ := ada.build()
	headers := githubHeaders("", "issue_comment", body)
	if code, ans := post(t, g.url+"/webhooks/github", headers, body); code != 401 {
		t.Fatalf("unsigned delivery with no secret answered %d %v", code, ans)
	}
}

// After downtime, failed deliveries that never reached us are redelivered,
// once; those we recorded, or that succeeded on another attempt, are not.
func TestGitHubRecoversMissedDeliveries(t *testing.T) {
	t.Parallel()
	g := startGateway(t, pgEnv(t))
	seed(t, g, true)
	body, _ := ada.build()
	headers := githubHeaders("gh-secret", "issue_comment", body)
	if code, _ := post(t, g.url+"/webhooks/github", headers, body); code != 200 {
		t.Fatal(code)
	}
	now := time.Now()
	g.github.SetHookDeliveries(
		githubtest.HookDelivery{ID: 4, GUID: "g4", StatusCode: 200, DeliveredAt: now.Add(-time.Minute)},
		githubtest.HookDelivery{ID: 3, GUID: headers["X-GitHub-Delivery"], StatusCode: 502, DeliveredAt: now.Add(-2 * time.Minute)},
		githubtest.HookDelivery{ID: 2, GUID: "g4", StatusCode: 503, DeliveredAt: now.Add(-3 * time.Minute)},
		githubtest.HookDelivery{ID: 1, GUID: "missed", StatusCode: 503, DeliveredAt: now.Add(-4 * time.Minute)},
		githubtest.HookDelivery{ID: 0, GUID: "too-old", StatusCode: 503, DeliveredAt: now.Add(-48 * time.Hour)},
	)
	n, err := g.app.github.Recover(context.Background())
	if err != nil || n != 1 || fmt.Sprint(g.github.Redelivered()) != "[1]" {
		t.Fatalf("recover = %d, %v; redelivered %v", n, err, g.github.Redelivered())
	}
	if n, err := g.app.github.Recover(context.Background()); err != nil || n != 0 {
		t.Fatalf("second run = %d, %v (the cursor should skip what was seen)", n, err)
	}
}
