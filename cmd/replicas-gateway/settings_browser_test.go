package main

// The settings journeys in a real browser (J2, J3, J4, J7), each at desktop
// width and at 390 px (J8), against the whole gateway with the GitHub and
// strict OAuth stand-ins. Screenshots of every page go to
// testoutput/screenshots (not committed).

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tryreplicas/gateway/credstore"
	"github.com/tryreplicas/gateway/credstore/oauthrefresh/strictoauth"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/gateway/web/browsertest"
	"github.com/tryreplicas/gateway/integrations/github/githubtest"
)

// viewports runs a journey at desktop width (on PostgreSQL) and at phone
// width (on SQLite), where every page must fit without sideways scrolling.
func viewports(t *testing.T, journey func(t *testing.T, vars map[string]string, phone bool)) {
	for _, phone := range []bool{false, true} {
		t.Run(fmt.Sprintf("phone=%v", phone), func(t *testing.T) {
			t.Parallel()
			vars := map[string]string{}
			if !phone {
				vars = pgEnv(t)
			}
			journey(t, vars, phone)
		})
	}
}

// look checks the page fits a phone, saves its screenshot, and returns its
// visible text.
func look(b *browsertest.Browser, phone bool, shot string) string {
	if phone {
		b.Fits()
	}
	b.Screenshot(shot)
	return b.Body()
}

// typeInto types text into the field matching the CSS selector.
func typeInto(b *browsertest.Browser, sel, text string) {
	b.Do(chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), text))
}

func mustContain(t *testing.T, where, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Fatalf("%s lacks %q:\n%s", where, w, body)
		}
	}
}

// J2: a member sets a personal Claude API key; the page shows its hint and
// the chain (their key before the org's), and neither the page source nor
// any table holds the key in plain text.
func TestJourneyPersonalAPIKey(t *testing.T) {
	t.Parallel()
	viewports(t, func(t *testing.T, vars map[string]string, phone bool) {
		g, _ := browserGateway(t, vars)
		b := browser(t, phone)
		signInWithLink(t, g, b, "ada@example.com")
		b.Open(g.url + "/settings/user")
		body := look(b, phone, "user-settings-empty")
		mustContain(t, "user settings", body, "Claude for you: org API key", "Codex for you: not configured")

		const key = "sk-ant-api03-J2PLAINTEXTKEY-7319"
		typeInto(b, "#user-claude-key", key)
		b.Submit("#user-save-claude-api_key", "/settings/user")
		body = look(b, phone, "user-settings")
		mustContain(t, "after saving", body, "Saved the Anthropic API key ending in 7319", "Claude for you: your API key → org API key", "Your workspaces run Claude")
		if src := b.HTML(); strings.Contains(src, key) || strings.Contains(src, "J2PLAINTEXTKEY") {
			t.Fatal("the page source holds the key")
		}
		if dump := sqldbtest.Dump(t, g.app.db); strings.Contains(dump, "J2PLAINTEXTKEY") {
			t.Fatal("the database holds the key in plain text")
		}
		// The GitHub section: reconnect through GitHub (with the
		// confirmation), then unlink.
		g.github.AddUser(githubtest.User{ID: 21031067, Login: "Codertocat"}, "")
		b.Submit("#github-reconnect", "/login/oauth/authorize")
		b.Submit("#authorize-Codertocat", "/oauth/github/callback")
		look(b, phone, "relink-confirm")
		b.Submit("#confirm-link", "/settings/user")
		mustContain(t, "after reconnecting", look(b, phone, "user-settings-github"), "Linked to @Codertocat", "oauth")
		b.Submit("#github-unlink", "/settings/user")
		mustContain(t, "after unlinking", b.Body(), "No GitHub account is linked")

		// The org's page shows the member which org methods are set, no hints.
		b.Open(g.url + "/settings/agents")
		body = look(b, phone, "agents-settings-member")
		mustContain(t, "agents page", body, "Only admins change the organization's credentials", "Claude for you: your API key → org API key")
		if strings.Contains(b.HTML(), "e2e-key") || strings.Contains(body, "ending in -key") {
			t.Fatal("a member sees the org key's hint")
		}
	})
}

// J3: Connect Claude by PKCE with the pasted code#state, then Connect OpenAI
// with the pasted address; each OAuth credential is active and first in its
// chain, and the Codex one carries the account from the id token.
func TestJourneyConnectAgents(t *testing.T) {
	t.Parallel()
	viewports(t, func(t *testing.T, vars map[string]string, phone bool) {
		oauth, oauthVars := agentOAuthEnv(t)
		for k, v := range oauthVars {
			vars[k] = v
		}
		g, orgID := browserGateway(t, vars)
		b := browser(t, phone)
		signInWithLink(t, g, b, "ada@example.com")
		b.Open(g.url + "/settings/user")

		// Claude: the button leads to the provider, which shows code#state.
		b.Submit("#user-connect-claude", strictoauth.CodePagePath)
		if u, _ := url.Parse(b.URL()); u.Query().Get("code") == "" {
			t.Fatalf("the provider's page: %s", b.URL())
		}
		pasted := b.Text("#code")
		if !strings.Contains(pasted, "#") {
			t.Fatalf("code page shows %q", pasted)
		}
		look(b, phone, "claude-code-page")
		b.Open(g.url + "/settings/user")
		typeInto(b, "#user-claude-paste", pasted)
		b.Submit("#user-finish-claude", "/settings/user")
		body := look(b, phone, "user-settings-claude-connected")
		mustContain(t, "after Connect Claude", body, "Connect Claude: the Claude OAuth credential ending in", "is active", "Claude for you: your OAuth → org API key")

		// OpenAI: the browser ends at the CLI's address, which the person copies.
		b.Submit("#user-connect-codex", strictoauth.RedirectPagePath)
		address := b.URL()
		if u, _ := url.Parse(address); u.Query().Get("code") == "" || u.Query().Get("state") == "" {
			t.Fatalf("redirected to %s", address)
		}
		b.Open(g.url + "/settings/user")
		typeInto(b, "#user-codex-paste", address)
		b.Submit("#user-finish-codex", "/settings/user")
		body = look(b, phone, "user-settings-connected")
		mustContain(t, "after Connect OpenAI", body, "Connect OpenAI: the OpenAI OAuth credential ending in", "Codex for you: your OAuth")
		if oauth.Codes() != 2 {
			t.Fatalf("%d code exchanges, want 2", oauth.Codes())
		}
		ada, err := g.app.identity.UserByEmail(context.Background(), g.app.db, "ada@example.com")
		if err != nil {
			t.Fatal(err)
		}
		for _, agent := range []credstore.Agent{"claude", "codex"} {
			c, err := g.app.creds.Find(context.Background(), g.app.db, credstore.Owner{Scope: "user", ID: ada.ID}, agent, "oauth")
			if err != nil || c.Status != credstore.StatusActive {
				t.Fatalf("%s oauth: %+v %v", agent, c, err)
			}
			_, sec, err := g.app.creds.Open(context.Background(), g.app.db, c.ID)
			if err != nil || (agent == "codex" && sec.AccountID != strictoauth.AccountID) {
				t.Fatalf("%s secret: account %q, %v", agent, sec.AccountID, err)
			}
		}
		if src := b.HTML(); strings.Contains(src, "code_verifier") {
			t.Fatal("the page shows a verifier")
		}

		// An admin connects Claude for the whole org from the agents page.
		admin := browser(t, phone)
		signInWithLink(t, g, admin, "admin@example.com")
		admin.Open(g.url + "/settings/agents")
		admin.Submit("#org-connect-claude", strictoauth.CodePagePath)
		pasted = admin.Text("#code")
		admin.Open(g.url + "/settings/agents")
		typeInto(admin, "#org-claude-paste", pasted)
		admin.Submit("#org-finish-claude", "/settings/agents")
		body = look(admin, phone, "agents-settings")
		mustContain(t, "agents page after the org's Connect Claude", body, "Connect Claude: the Claude OAuth credential ending in", "Claude for you: org OAuth → org API key")
		if c, err := g.app.creds.Find(context.Background(), g.app.db, credstore.Owner{Scope: "org", ID: orgID}, "claude", "oauth"); err != nil || c.Status != credstore.StatusActive {
			t.Fatalf("org oauth: %+v %v", c, err)
		}
	})
}

// J4: an admin connects GitHub through the install flow (the setup redirect
// carries a code); the installation and the auto-link report appear on the
// integrations page.
func TestJourneyConnectGitHub(t *testing.T) {
	t.Parallel()
	viewports(t, func(t *testing.T, vars map[string]string, phone bool) {
		g, orgID := browserGateway(t, vars)
		ctx := context.Background()
		pubID := addMember(t, g, orgID, "pub@example.com")
		inst := githubtest.Installation{ID: 77, AccountLogin: "acme-gh", AccountID: 7000, AccountType: "Organization"}
		g.github.AddUser(githubtest.User{ID: 500, Login: "boss"}, "code-boss", inst)
		g.github.SetMembership("boss", githubtest.Membership{OrgLogin: "acme-gh", OrgID: 7000, Role: "admin", State: "active"})
		g.github.AddUser(githubtest.User{ID: 501, Login: "pub", Email: "pub@example.com"}, "")
		g.github.AddUser(githubtest.User{ID: 503, Login: "ghost", Email: "ghost@users.noreply.github.com"}, "")
		g.github.SetOrgMembers("boss", "pub", "ghost")

		b := browser(t, phone)
		signInWithLink(t, g, b, "admin@example.com")
		b.Open(g.url + "/settings/integrations")
		look(b, phone, "integrations-before")
		b.Submit("#connect-github", "/installations/new")
		state := func() string { u, _ := url.Parse(b.URL()); return u.Query().Get("state") }()
		if state == "" {
			t.Fatalf("install page without a state: %s", b.URL())
		}
		// GitHub sends the browser back to the setup URL with a code.
		b.Open(g.url + "/github/setup?" + url.Values{"installation_id": {"77"}, "setup_action": {"install"}, "state": {state}, "code": {"code-boss"}}.Encode())
		mustContain(t, "setup page", look(b, phone, "github-setup"), "GitHub connected")
		body := edit(t, readTestdata(t, "github/installation.created.json"), func(p map[string]any) {
			in := p["installation"].(map[string]any)
			in["id"] = 77
			acc := in["account"].(map[string]any)
			acc["login"], acc["id"], acc["type"] = "acme-gh", 7000, "Organization"
			s := p["sender"].(map[string]any)
			s["id"], s["login"] = 500, "boss"
		})
		if code, ans := post(t, g.url+"/webhooks/github", githubHeaders("gh-secret", "installation", body), body); code != 200 {
			t.Fatalf("installation webhook = %d %v", code, ans)
		}
		g.waitFor(t, "the auto-link report", func() bool {
			return g.count(t, `SELECT COUNT(*) FROM github_autolink_reports WHERE org_id = $1`, orgID) == 1
		})
		if l, err := g.app.identity.GitHubLinkOf(ctx, g.app.db, pubID); err != nil || l.GitHubID != 501 {
			t.Fatalf("pub's link: %+v %v", l, err)
		}
		b.Open(g.url + "/settings/integrations")
		body2 := look(b, phone, "integrations")
		mustContain(t, "integrations page", body2, "acme-gh (Organization)", "Auto-link report", "Linked: @pub", "@ghost")
	})
}

// J7: a mention arrives while no agent is configured (outcome
// no_credentials); the admin adds the org's key, replays the delivery from
// the deliveries page, and its page shows the new outcome.
func TestJourneyReplayDelivery(t *testing.T) {
	t.Parallel()
	viewports(t, func(t *testing.T, vars map[string]string, phone bool) {
		env := map[string]string{"REPLICAS_PUBLIC_URL": selfURL, "GITHUB_CLIENT_ID": "Iv1.client", "GITHUB_CLIENT_SECRET": "client-secret"}
		for k, v := range vars {
			env[k] = v
		}
		g := startGateway(t, env)
		orgID, _ := seed(t, g, false)
		if code, _ := g.mention(t, ada, "gh-secret"); code != 200 {
			t.Fatal(code)
		}
		g.waitFor(t, "the no_credentials outcome", func() bool {
			return g.count(t, `SELECT COUNT(*) FROM deliveries WHERE org_id = $1 AND outcome LIKE '%no_credentials%'`, orgID) == 1
		})
		b := browser(t, phone)
		signInWithLink(t, g, b, "admin@example.com")
		b.Open(g.url + "/settings/agents")
		typeInto(b, "#org-claude-key", "sk-ant-api03-J7ORGKEY-5555")
		b.Submit("#org-save-claude-api_key", "/settings/agents")
		b.Open(g.url + "/deliveries")
		mustContain(t, "deliveries", look(b, phone, "deliveries"), "no_credentials", "github · issue_comment")
		b.Submit("form[action$='/replay'] button", "/deliveries/")
		deadline := time.Now().Add(30 * time.Second)
		for {
			body := b.Body()
			if strings.Contains(body, "launched") && strings.Contains(body, "processed") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the replayed delivery's page never showed the outcome:\n%s", body)
			}
			select {
			case <-g.events:
			case <-time.After(100 * time.Millisecond):
			}
			b.Open(b.URL())
		}
		body := look(b, phone, "delivery-replayed")
		mustContain(t, "delivery page", body, "Workspace")
		if n := g.count(t, `SELECT COUNT(*) FROM workspaces WHERE org_id = $1`, orgID); n != 1 {
			t.Fatalf("%d workspaces after the replay", n)
		}
		b.Open(g.url + "/audit")
		mustContain(t, "audit", look(b, phone, "audit"), "credential")
		b.Open(g.url + "/settings/members")
		look(b, phone, "members")
	})
}
