package main

// The page journeys in a real browser: Debian's Chromium, headless, driven
// by chromedp through gateway/web/browsertest, against the whole gateway
// and the local GitHub stand-in (its user authorization page included).
// Screenshots go to testoutput/screenshots (not committed).

import (
	"context"
	"fmt"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/tryreplicas/gateway/gateway/web/browsertest"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/github/githubtest"
)

const screenshots = "testoutput/screenshots"

func browser(t *testing.T, phone bool) *browsertest.Browser {
	t.Helper()
	return browsertest.New(t, browsertest.Options{Phone: phone, Screenshots: screenshots})
}

// browserGateway is a gateway whose public URL is its own address, with
// GitHub sign-in configured, seeded like the GitHub end-to-end tests.
func browserGateway(t *testing.T, vars map[string]string) (*gw, string) {
	t.Helper()
	env := map[string]string{"REPLICAS_PUBLIC_URL": selfURL, "GITHUB_CLIENT_ID": "Iv1.client", "GITHUB_CLIENT_SECRET": "client-secret"}
	for k, v := range vars {
		env[k] = v
	}
	g := startGateway(t, env)
	orgID, _ := seed(t, g, true)
	return g, orgID
}

// loginLink is an operator's sign-in link for email.
func loginLink(t *testing.T, g *gw, email string) string {
	t.Helper()
	token, _, err := g.app.identity.IssueLoginLink(context.Background(), g.app.db, email)
	if err != nil {
		t.Fatal(err)
	}
	return g.url + "/login/link/" + token
}

// signInWithLink signs browser b in through an operator's link.
func signInWithLink(t *testing.T, g *gw, b *browsertest.Browser, email string) {
	t.Helper()
	b.Open(loginLink(t, g, email))
	b.Submit("#use-link", "/workspaces")
	if body := b.Body(); !strings.Contains(body, "You are signed in as "+email) {
		t.Fatalf("after the login link: %s", body)
	}
}

func addMember(t *testing.T, g *gw, orgID, email string) string {
	t.Helper()
	ctx := context.Background()
	u, err := g.app.identity.EnsureUser(ctx, g.app.db, email, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := g.app.identity.AddMember(ctx, g.app.db, orgID, u.ID, identity.RoleMember); err != nil {
		t.Fatal(err)
	}
	return u.ID
}

var workspaceLinkRE = regexp.MustCompile(`\((http://[^)]+/workspaces/ws_[0-9a-f]+)\)`)

// launchedLink waits for the "Launched workspace" reply for login on the PR
// and returns the workspace link it carries.
func launchedLink(t *testing.T, g *gw, login string) string {
	t.Helper()
	want := "for @" + login + "."
	g.waitFor(t, "the launch reply for @"+login, func() bool { return calls(g, "comment", want) >= 1 })
	for _, c := range g.github.Calls() {
		if c.Kind != "comment" || !strings.Contains(c.Body, want) {
			continue
		}
		if m := workspaceLinkRE.FindStringSubmatch(c.Body); m != nil {
			return m[1]
		}
	}
	t.Fatalf("no workspace link in the replies: %+v", g.github.Calls())
	return ""
}

// J1 (and J8 for its pages): the operator's login link signs the admin in;
// the admin invites a member; the member opens the invitation on a phone in
// a second browser and signs in with GitHub; they are a member with that
// GitHub account linked, and their @tryreplicas mention launches for them.
func TestJourneyInviteSignInWithGitHubMention(t *testing.T) {
	t.Parallel()
	g, orgID := browserGateway(t, nil)
	ctx := context.Background()
	g.github.AddUser(githubtest.User{ID: 5005, Login: "newbie"}, "")

	admin := browser(t, false)
	admin.Open(loginLink(t, g, "admin@example.com"))
	admin.Screenshot("login-link")
	admin.Submit("#use-link", "/workspaces")
	admin.Screenshot("workspaces-admin")

	adminToken, _, err := g.app.identity.IssueToken(ctx, g.app.db, orgID, adminOf(t, g, orgID), adminOf(t, g, orgID))
	if err != nil {
		t.Fatal(err)
	}
	code, inv := post2(t, "POST", g.url+"/api/v1/orgs/"+orgID+"/members", map[string]string{"Authorization": "Bearer " + adminToken, "Content-Type": "application/json"},
		`{"email":"newbie@example.com","name":"New Bie","role":"member"}`)
	invitation := fmt.Sprint(inv["url"])
	if code != 201 || !strings.HasPrefix(invitation, g.url+"/invitations/rpi_") {
		t.Fatalf("invite = %d %v", code, inv)
	}

	member := browser(t, true)
	member.Open(invitation)
	member.Fits()
	member.Screenshot("invitation-phone")
	if body := member.Body(); !strings.Contains(body, "newbie@example.com") || !strings.Contains(body, "acme") {
		t.Fatalf("invitation page: %s", body)
	}
	member.Submit("#signin-github", "/login/oauth/authorize")
	member.Submit("#authorize-newbie", "/workspaces")
	member.Fits()
	member.Screenshot("joined-phone")
	if body := member.Body(); !strings.Contains(body, "You joined the organization as member") || !strings.Contains(body, "newbie@example.com") {
		t.Fatalf("after sign-in: %s", body)
	}
	u, err := g.app.identity.UserByEmail(ctx, g.app.db, "newbie@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if m, err := g.app.identity.Member(ctx, g.app.db, orgID, u.ID); err != nil || m.Role != identity.RoleMember {
		t.Fatalf("membership = %+v, %v", m, err)
	}
	if l, err := g.app.identity.GitHubLinkOf(ctx, g.app.db, u.ID); err != nil || l.GitHubID != 5005 || l.LinkedVia != identity.LinkedViaOAuth {
		t.Fatalf("link = %+v, %v", l, err)
	}

	// Their mention launches for them; the reply's link opens their workspace.
	if code, ans := g.mention(t, githubMention{Login: "newbie", GitHubID: 5005, Repo: "Codertocat/Hello-World", PR: 1,
		Body: "@tryreplicas please add a test", CommentID: 5555, InstallationID: 1}, "gh-secret"); code != 200 {
		t.Fatalf("mention = %d %v", code, ans)
	}
	link := launchedLink(t, g, "newbie")
	if n := g.count(t, `SELECT COUNT(*) FROM workspaces WHERE user_id = $1 AND org_id = $2`, u.ID, orgID); n != 1 {
		t.Fatalf("%d workspaces for the new member", n)
	}
	member.Open(link)
	member.Fits()
	member.Screenshot("workspace-phone")
	if body := member.Body(); !strings.Contains(body, "GitHub pull request Codertocat/Hello-World#1") || !strings.Contains(body, "Claude: org API key") {
		t.Fatalf("workspace page: %s", body)
	}
}

// J6 (and J8): signed out, the workspace link from a PR reply leads through
// "Sign in with GitHub" back to the page; a member of another org, and a
// member of the same org who does not own it, get 404.
func TestJourneyWorkspaceLinkFromPR(t *testing.T) {
	t.Parallel()
	for _, phone := range []bool{false, true} {
		t.Run(fmt.Sprintf("phone=%v", phone), func(t *testing.T) {
			t.Parallel()
			vars := map[string]string{}
			if !phone {
				vars = pgEnv(t)
			}
			// An http launcher that keeps the workspace token, so the
			// workspace can report as a running one does.
			prov := &provisioner{tokens: map[string]string{}}
			provSrv := httptest.NewServer(prov)
			t.Cleanup(provSrv.Close)
			vars["REPLICAS_LAUNCHER"], vars["REPLICAS_LAUNCHER_URL"], vars["REPLICAS_LAUNCHER_SECRET"] = "http", provSrv.URL, "launch-secret"
			g, orgID := browserGateway(t, vars)
			ctx := context.Background()
			g.github.AddUser(githubtest.User{ID: 21031067, Login: "Codertocat"}, "")
			if code, _ := g.mention(t, ada, "gh-secret"); code != 200 {
				t.Fatal(code)
			}
			link := launchedLink(t, g, "Codertocat")
			id := link[strings.LastIndex(link, "/")+1:]
			g.waitFor(t, "the workspace token", func() bool { return prov.token(id) != "" })
			token := prov.token(id)
			workspacePost(t, g, token, "events", `{"status":"running"}`)
			workspacePost(t, g, token, "activities", `{"type":"thought","body":"Looking for the misspelling in README.md."}`)
			workspacePost(t, g, token, "activities", `{"type":"action","action":"Edit","parameter":"README.md","result":"\"recieve\" → \"receive\" on line 3"}`)
			workspacePost(t, g, token, "activities", `{"type":"response","body":"Fixed the spelling error in README.md and pushed it to this pull request."}`)

			owner := browser(t, phone)
			owner.Open(link)
			owner.WaitURL("/login?next=")
			if phone {
				owner.Fits()
			}
			owner.Screenshot("login")
			owner.Submit("#signin-github", "/login/oauth/authorize")
			owner.Submit("#authorize-Codertocat", "/workspaces/ws_")
			if u := owner.URL(); u != link {
				t.Fatalf("after sign-in at %s, want %s", u, link)
			}
			// The owner follows up from the page.
			typeInto(owner, "#follow-up-body", "Thanks! Please also check docs/setup.md.")
			owner.Submit("#send-follow-up", "#m2")
			if phone {
				owner.Fits()
			}
			owner.Screenshot("workspace")
			mustContain(t, "workspace page", owner.Body(), "running", "asked by @Codertocat", "ada@example.com", "Message 2 sent to the workspace.",
				"Looking for the misspelling in README.md.", "README.md", "on line 3", "Fixed the spelling error", "Message 2 · prompt", "Please also check docs/setup.md.")
			code, ans := getJSON(t, g.url+"/api/v1/workspace/messages?after=1", token)
			if list, _ := ans["messages"].([]any); code != 200 || len(list) != 1 || list[0].(map[string]any)["body"] != "Thanks! Please also check docs/setup.md." {
				t.Fatalf("the workspace's messages after 1: %d %v", code, ans)
			}
			owner.Open(g.url + "/workspaces")
			if phone {
				owner.Fits()
			}
			owner.Screenshot("workspaces")
			if phone {
				return
			}
			// Someone of another org, and a member who does not own it.
			if _, _, _, err := g.app.identity.Bootstrap(ctx, g.app.db, "beta", "eve@beta.example", "Eve"); err != nil {
				t.Fatal(err)
			}
			addMember(t, g, orgID, "bob@example.com")
			for _, email := range []string{"eve@beta.example", "bob@example.com"} {
				other := browser(t, false)
				signInWithLink(t, g, other, email)
				other.Open(link)
				if body := other.Body(); !strings.Contains(body, "Error 404") || strings.Contains(body, "Codertocat") {
					t.Fatalf("%s sees: %s", email, body)
				}
				if email == "eve@beta.example" {
					other.Screenshot("not-found")
				}
			}
		})
	}
}

// J5: a relink started in session A and completed in session B (another
// person's browser, who authorizes as their own GitHub account) moves
// nothing; completed in A, it asks for confirmation, and moves only then.
func TestJourneyRelinkBoundToSession(t *testing.T) {
	t.Parallel()
	g, orgID := browserGateway(t, pgEnv(t))
	ctx := context.Background()
	malloryID := addMember(t, g, orgID, "mallory@example.com")
	bobID := addMember(t, g, orgID, "bob@example.com")
	g.github.AddUser(githubtest.User{ID: 21031067, Login: "Codertocat"}, "")
	g.github.AddUser(githubtest.User{ID: 6006, Login: "mallory-gh"}, "")
	// mallory-gh is linked to Bob now (by an admin, say).
	if _, err := g.app.identity.LinkGitHub(ctx, g.app.db, identity.LinkRequest{UserID: bobID, GitHubID: 6006, Login: "mallory-gh", Via: identity.LinkedViaAdmin, ActorID: adminOf(t, g, orgID)}); err != nil {
		t.Fatal(err)
	}
	linkOf := func(userID string) int64 {
		l, err := g.app.identity.GitHubLinkOf(ctx, g.app.db, userID)
		if err != nil {
			return 0
		}
		return l.GitHubID
	}
	adaID, err := g.app.identity.UserByEmail(ctx, g.app.db, "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}

	a := browser(t, false)
	signInWithLink(t, g, a, "mallory@example.com")
	a.Post("/settings/user/github/relink", nil, "/login/oauth/authorize")
	authorize := a.URL()

	// Session B: Ada opens the forwarded link and authorizes as herself.
	b := browser(t, false)
	signInWithLink(t, g, b, "ada@example.com")
	b.Open(authorize)
	b.Submit("#authorize-Codertocat", "/oauth/github/callback")
	b.Screenshot("other-session")
	if body := b.Body(); !strings.Contains(body, "invalid_state") || strings.Contains(body, "Link GitHub account") {
		t.Fatalf("callback in session B: %s", body)
	}
	if linkOf(adaID.ID) != 21031067 || linkOf(malloryID) != 0 || linkOf(bobID) != 6006 {
		t.Fatalf("a callback in another session moved a link: ada %d, mallory %d, bob %d", linkOf(adaID.ID), linkOf(malloryID), linkOf(bobID))
	}

	// Session A completes its own flow: a confirmation first, then the move.
	a.Open(authorize)
	a.Submit("#authorize-mallory-gh", "/oauth/github/callback")
	a.Screenshot("confirm")
	if body := a.Body(); !strings.Contains(body, "Link GitHub account @mallory-gh to you?") || !strings.Contains(body, "linked to another Replicas user") {
		t.Fatalf("confirmation page: %s", body)
	}
	if linkOf(malloryID) != 0 || linkOf(bobID) != 6006 {
		t.Fatal("the link moved before the confirmation")
	}
	a.Submit("#confirm-link", "/settings/user")
	if linkOf(malloryID) != 6006 || linkOf(bobID) != 0 || linkOf(adaID.ID) != 21031067 {
		t.Fatalf("after confirming: mallory %d, bob %d, ada %d", linkOf(malloryID), linkOf(bobID), linkOf(adaID.ID))
	}
}
