package main

// The GitHub link takeover and installation hijack attempts, played through
// the real router against the stand-in GitHub: each must be refused and
// leave links and bindings as they were.

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/github/githubtest"
)

// setupRedirect is the redirect_uri of the connect flow's codes.
const setupRedirect = "http://gateway.test/github/setup"

// secondOrg creates org "beta" whose admin (Mallory) is nobody in acme.
func (f *connectFixture) secondOrg(t *testing.T) (orgID, token string) {
	t.Helper()
	org, _, tok, err := f.g.app.identity.Bootstrap(context.Background(), f.g.app.db, "beta", "mallory@beta.example", "Mallory")
	if err != nil {
		t.Fatal(err)
	}
	return org.ID, tok
}

func (f *connectFixture) pendingOrgs(t *testing.T, installation int64) int {
	t.Helper()
	return f.g.count(t, `SELECT COUNT(*) FROM github_pending_connects WHERE installation_id = $1`, installation)
}

// linkAttackFixture: Pub, a user of acme who proved GitHub account 501, also
// joined beta, whose admin (token beta) is nobody in acme.
func linkAttackFixture(t *testing.T) (f *connectFixture, betaID, betaToken string) {
	t.Helper()
	f = newConnectFixture(t)
	ctx := context.Background()
	a := f.g.app
	betaID, betaToken = f.secondOrg(t)
	pub := f.users["pub@example.com"]
	if err := a.identity.AddMember(ctx, a.db, betaID, pub, identity.RoleMember); err != nil {
		t.Fatal(err)
	}
	if _, err := a.identity.LinkGitHub(ctx, a.db, identity.LinkRequest{UserID: pub, GitHubID: 501, Login: "pub", Via: identity.LinkedViaOAuth, ActorID: pub}); err != nil {
		t.Fatal(err)
	}
	return f, betaID, betaToken
}

func linkPath(org, user string) string {
	return "/api/v1/orgs/" + org + "/members/" + user + "/identities/github"
}

func TestAdminLinkAttacks(t *testing.T) {
	t.Parallel()
	attacks := []struct {
		name   string
		beta   bool // the attacker is beta's admin (else acme's)
		method string
		target func(f *connectFixture, betaID string) (org, user string)
		body   string
	}{
		{"admin of beta relinks a user of acme", true, "PUT",
			func(f *connectFixture, betaID string) (string, string) { return betaID, f.users["pub@example.com"] }, `{"login":"mallory","github_id":666}`},
		{"admin of beta relinks a user of acme by login", true, "PUT",
			func(f *connectFixture, betaID string) (string, string) { return betaID, f.users["pub@example.com"] }, `{"login":"ghost"}`},
		{"admin of beta unlinks a user of acme", true, "DELETE",
			func(f *connectFixture, betaID string) (string, string) { return betaID, f.users["pub@example.com"] }, ""},
		{"admin of acme relinks a user who is also in beta", false, "PUT",
			func(f *connectFixture, _ string) (string, string) { return f.orgID, f.users["pub@example.com"] }, `{"login":"mallory","github_id":666}`},
		{"admin of acme unlinks a user who is also in beta", false, "DELETE",
			func(f *connectFixture, _ string) (string, string) { return f.orgID, f.users["pub@example.com"] }, ""},
		{"admin moves another user's GitHub account", false, "PUT",
			func(f *connectFixture, _ string) (string, string) { return f.orgID, f.users["dom@acme.dev"] }, `{"login":"pub","github_id":501}`},
		{"admin moves another user's GitHub account by login", false, "PUT",
			func(f *connectFixture, _ string) (string, string) { return f.orgID, f.users["dom@acme.dev"] }, `{"login":"pub"}`},
		{"admin moves an admin-linked account to another user", false, "PUT",
			func(f *connectFixture, _ string) (string, string) { return f.orgID, f.users["dom@acme.dev"] }, `{"login":"ann-old","github_id":900}`},
	}
	for _, at := range attacks {
		t.Run(at.name, func(t *testing.T) {
			t.Parallel()
			f, betaID, betaToken := linkAttackFixture(t)
			token := f.token
			if at.beta {
				token = betaToken
			}
			code, ans := f.apiAs(t, token, at.method, linkPath(at.target(f, betaID)), at.body)
			if code != 409 || ans["error"] != "link_conflict" {
				t.Errorf("%d %v; want 409 link_conflict", code, ans)
			}
			if l := f.linkOf(t, "pub@example.com"); l.GitHubID != 501 || l.LinkedVia != "oauth" {
				t.Errorf("pub's link changed: %+v", l)
			}
			if l := f.linkOf(t, "dom@acme.dev"); l.GitHubID != 0 {
				t.Errorf("dom got %+v", l)
			}
			if l := f.linkOf(t, "ann@example.com"); l.GitHubID != 900 {
				t.Errorf("ann's link changed: %+v", l)
			}
		})
	}
}

// An admin still links a user of their own org to a free account, and the
// owner's own OAuth proof moves an account from anyone.
func TestAdminLinkAndOAuthMove(t *testing.T) {
	t.Parallel()
	f, _, _ := linkAttackFixture(t)
	ctx := context.Background()
	a := f.g.app
	dom := f.users["dom@acme.dev"]
	if code, ans := f.api(t, "PUT", linkPath(f.orgID, dom), `{"login":"dom"}`); code != 200 || ans["github_id"] != float64(502) || ans["linked_via"] != "admin" {
		t.Fatalf("admin link of a free account = %d %v", code, ans)
	}
	domToken, _, err := a.identity.IssueToken(ctx, a.db, f.orgID, dom, dom)
	if err != nil {
		t.Fatal(err)
	}
	f.g.github.AddCode("code-pub-callback", "pub", "http://gateway.test/oauth/github/callback")
	if code, confirmed := f.relink(t, domToken, "code-pub-callback"); code != 200 || confirmed != http.StatusSeeOther {
		t.Fatalf("OAuth relink = %d, confirmation %d", code, confirmed)
	}
	if l := f.linkOf(t, "dom@acme.dev"); l.GitHubID != 501 || l.LinkedVia != "oauth" {
		t.Fatalf("OAuth proof did not move the account: %+v", l)
	}
	if l := f.linkOf(t, "pub@example.com"); l.GitHubID != 0 {
		t.Fatalf("pub still linked: %+v", l)
	}
}

// proofFixture adds GitHub accounts that see installations they do not
// administer: pub is a plain member of beta-gh (81) and of acme-gh (77) and
// sees ghost's personal installation (83); dom's admin membership of
// pending-gh (82) is an invitation not yet accepted; solo owns personal
// installation 84.
func proofFixture(t *testing.T) *connectFixture {
	t.Helper()
	f := newConnectFixture(t)
	gh := f.g.github
	gh.AddUser(githubtest.User{ID: 501, Login: "pub", Email: "Pub@Example.com"}, "",
		githubtest.Installation{ID: 81, AccountLogin: "beta-gh", AccountID: 8100, AccountType: "Organization"},
		githubtest.Installation{ID: 83, AccountLogin: "ghost", AccountID: 503, AccountType: "User"},
		f.orgInsts)
	gh.SetMembership("pub", githubtest.Membership{OrgLogin: "beta-gh", OrgID: 8100, Role: "member", State: "active"})
	gh.SetMembership("pub", githubtest.Membership{OrgLogin: "acme-gh", OrgID: 7000, Role: "member", State: "active"})
	gh.AddUser(githubtest.User{ID: 502, Login: "dom", DomainEmails: []string{"dom@acme.dev"}}, "",
		githubtest.Installation{ID: 82, AccountLogin: "pending-gh", AccountID: 8200, AccountType: "Organization"})
	gh.SetMembership("dom", githubtest.Membership{OrgLogin: "pending-gh", OrgID: 8200, Role: "admin", State: "pending"})
	gh.AddUser(githubtest.User{ID: 777, Login: "solo"}, "", githubtest.Installation{ID: 84, AccountLogin: "solo", AccountID: 777, AccountType: "User"})
	return f
}

func TestSetupProofAttacks(t *testing.T) {
	t.Parallel()
	attacks := []struct {
		name         string
		action       string
		installation int64
		login        string // whose code
		redirect     string // the code's redirect_uri
		status       int
		errCode      string
	}{
		{"a member (not admin) of the GitHub org installs", "install", 81, "pub", setupRedirect, 403, "forbidden"},
		{"a member (not admin) redirects for the org's installation", "install", 77, "pub", setupRedirect, 403, "forbidden"},
		{"an admin invitation not yet accepted", "install", 82, "dom", setupRedirect, 403, "forbidden"},
		{"someone else's personal account", "install", 83, "pub", setupRedirect, 403, "forbidden"},
		{"a code minted for another redirect is injected", "install", 77, "boss", "https://evil.example/callback", 400, "bad_code"},
		{"a code minted for the relink callback is injected", "install", 77, "boss", "http://gateway.test/oauth/github/callback", 400, "bad_code"},
		{"setup_action=update binds nothing", "update", 77, "boss", setupRedirect, 200, ""},
	}
	for _, at := range attacks {
		t.Run(at.name, func(t *testing.T) {
			t.Parallel()
			f := proofFixture(t)
			f.g.github.AddCode("code-attack", at.login, at.redirect)
			state := f.connectState(t)
			status, ans := f.setupAction(t, at.action, at.installation, state, "code-attack")
			if status != at.status || (at.errCode != "" && ans["error"] != at.errCode) || (at.errCode == "" && ans["bound"] != false) {
				t.Errorf("%d %v; want %d %s", status, ans, at.status, at.errCode)
			}
			for _, id := range []int64{77, 81, 82, 83} {
				if org := f.boundOrg(t, id); org != "" {
					t.Errorf("installation %d bound to %s", id, org)
				}
			}
			if l := f.linkOf(t, "admin@example.com"); l.GitHubID != 0 {
				t.Errorf("the admin was linked to %+v", l)
			}
			if at.action == "update" {
				// Nothing changed, not even the state: the install it belongs to still completes.
				f.g.github.AddCode("code-after-update", "boss", setupRedirect)
				if status, ans := f.setup(t, 77, state, "code-after-update"); status != 200 || ans["bound"] != true {
					t.Errorf("install after update = %d %v", status, ans)
				}
			}
		})
	}
}

// The proofs that pass: an owner of the organization, and the account
// itself for a personal installation, each with a code for this redirect.
func TestSetupProofAccepted(t *testing.T) {
	t.Parallel()
	f := proofFixture(t)
	f.g.github.AddCode("code-owner", "boss", setupRedirect)
	if status, ans := f.setup(t, 77, f.connectState(t), "code-owner"); status != 200 || ans["bound"] != true || f.boundOrg(t, 77) != f.orgID {
		t.Fatalf("owner's install = %d %v", status, ans)
	}
	if l := f.linkOf(t, "admin@example.com"); l.GitHubID != 500 || l.LinkedVia != "oauth" {
		t.Fatalf("installer not linked to the admin: %+v", l)
	}
	f.g.github.AddCode("code-solo", "solo", setupRedirect)
	if status, ans := f.setup(t, 84, f.connectState(t), "code-solo"); status != 200 || ans["bound"] != true || f.boundOrg(t, 84) != f.orgID {
		t.Fatalf("personal install = %d %v", status, ans)
	}
}

func TestInstallationNeverRebound(t *testing.T) {
	t.Parallel()
	f := newConnectFixture(t)
	f.g.github.AddCode("code-acme", "boss", setupRedirect)
	if code, ans := f.setup(t, 77, f.connectState(t), "code-acme"); code != 200 || ans["bound"] != true {
		t.Fatalf("acme's connect = %d %v", code, ans)
	}
	betaID, betaToken := f.secondOrg(t)
	// Boss also owns acme-gh's installation in beta's eyes: a valid code of
	// the installer does not move a bound installation, with or without code.
	f.g.github.AddCode("code-beta", "boss", setupRedirect)
	attempts := []struct{ name, code string }{{"with the installer's code", "code-beta"}, {"without a code", ""}}
	for _, at := range attempts {
		code, ans := f.setup(t, 77, f.connectStateAs(t, betaID, betaToken), at.code)
		if code != 409 || ans["error"] != "installation_bound" {
			t.Errorf("beta's setup %s = %d %v; want 409 installation_bound", at.name, code, ans)
		}
		if org := f.boundOrg(t, 77); org != f.orgID {
			t.Fatalf("beta's setup %s moved the installation to %q", at.name, org)
		}
		if n := f.pendingOrgs(t, 77); n != 0 {
			t.Fatalf("beta's setup %s left %d pending connects", at.name, n)
		}
	}
	// Only acme disconnects it; then beta may connect it.
	path := func(org string) string { return "/api/v1/orgs/" + org + "/integrations/github/installations/77" }
	if code, _ := f.apiAs(t, betaToken, "DELETE", path(betaID), ""); code != 404 {
		t.Fatalf("beta disconnecting acme's installation = %d", code)
	}
	if code, _ := f.apiAs(t, betaToken, "DELETE", path(f.orgID), ""); code != 403 {
		t.Fatalf("beta disconnecting through acme's path = %d", code)
	}
	if f.boundOrg(t, 77) != f.orgID {
		t.Fatal("beta unbound acme's installation")
	}
	if code, ans := f.api(t, "DELETE", path(f.orgID), ""); code != 204 {
		t.Fatalf("acme's disconnect = %d %v", code, ans)
	}
	if f.boundOrg(t, 77) != "" {
		t.Fatal("still bound after disconnect")
	}
	f.g.github.AddCode("code-beta-2", "boss", setupRedirect)
	if code, ans := f.setup(t, 77, f.connectStateAs(t, betaID, betaToken), "code-beta-2"); code != 200 || ans["bound"] != true || f.boundOrg(t, 77) != betaID {
		t.Fatalf("beta's connect after the disconnect = %d %v", code, ans)
	}
}

func TestPendingNeedsOAuthLink(t *testing.T) {
	t.Parallel()
	f := newConnectFixture(t)
	// The admin asserts, as an admin, that boss is their GitHub account.
	if code, ans := f.api(t, "PUT", "/api/v1/orgs/"+f.orgID+"/members/"+f.adminID+"/identities/github", `{"login":"boss","github_id":500}`); code != 200 || ans["linked_via"] != "admin" {
		t.Fatalf("admin self-link = %d %v", code, ans)
	}
	if code, ans := f.setup(t, 77, f.connectState(t), ""); code != 200 || ans["pending"] != true {
		t.Fatalf("redirect without code = %d %v", code, ans)
	}
	f.installationWebhook(t, 77, 500, "boss")
	f.g.idle(t)
	if org := f.boundOrg(t, 77); org != "" {
		t.Fatalf("an admin-asserted link bound the installation to %s", org)
	}
	if code, ans := f.setup(t, 77, f.connectState(t), ""); code != 200 || ans["pending"] != true {
		t.Fatalf("second redirect without code = %d %v", code, ans)
	}
	// The admin proves the account by OAuth: the pending connect completes.
	f.g.github.AddCode("code-boss-relink", "boss", "http://gateway.test/oauth/github/callback")
	if code, confirmed := f.relink(t, f.token, "code-boss-relink"); code != 200 || confirmed != http.StatusSeeOther {
		t.Fatalf("OAuth relink = %d, confirmation %d", code, confirmed)
	}
	if l := f.linkOf(t, "admin@example.com"); l.LinkedVia != "oauth" || l.GitHubID != 500 {
		t.Fatalf("OAuth relink = %+v", l)
	}
	if code, ans := f.setup(t, 77, f.connectState(t), ""); code != 200 || ans["bound"] != true || f.boundOrg(t, 77) != f.orgID {
		t.Fatalf("redirect after OAuth proof = %d %v", code, ans)
	}
}

// A pending (no-code) connect of one org never completes once another org
// has bound the installation: the installation webhook drops it and is
// processed (not retried).
func TestPendingConnectNeverRebinds(t *testing.T) {
	t.Parallel()
	f := newConnectFixture(t)
	ctx := context.Background()
	a := f.g.app
	// The acme admin also administers beta.
	betaID, _ := f.secondOrg(t)
	if err := a.identity.AddMember(ctx, a.db, betaID, f.adminID, identity.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	betaToken, _, err := a.identity.IssueToken(ctx, a.db, betaID, f.adminID, f.adminID)
	if err != nil {
		t.Fatal(err)
	}
	f.g.github.AddCode("code-acme", "boss", setupRedirect)
	if code, ans := f.setup(t, 77, f.connectState(t), "code-acme"); code != 200 || ans["bound"] != true {
		t.Fatalf("acme's connect = %d %v", code, ans)
	}
	// Beta's redirect without a code is refused now that acme holds it...
	if code, ans := f.setup(t, 77, f.connectStateAs(t, betaID, betaToken), ""); code != 409 || ans["error"] != "installation_bound" {
		t.Fatalf("beta's redirect without code = %d %v", code, ans)
	}
	// ...but one that raced acme's bind left its pending connect behind.
	if _, err := a.db.Exec(ctx, `INSERT INTO github_pending_connects (installation_id, org_id, admin_id, created_at) VALUES ($1, $2, $3, $4)`,
		77, betaID, f.adminID, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	f.installationWebhook(t, 77, 500, "boss")
	f.g.idle(t)
	if org := f.boundOrg(t, 77); org != f.orgID {
		t.Fatalf("the webhook moved the installation to %q", org)
	}
	if n := f.pendingOrgs(t, 77); n != 0 {
		t.Fatalf("%d pending connects left", n)
	}
	if n := f.g.count(t, `SELECT COUNT(*) FROM deliveries WHERE event = 'installation.created' AND processed_at IS NOT NULL AND error = ''`); n != 1 {
		t.Fatalf("%d installation deliveries processed cleanly", n)
	}
}
