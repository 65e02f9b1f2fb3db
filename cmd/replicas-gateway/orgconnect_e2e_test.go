package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/github/githubtest"
)

type connectFixture struct {
	g        *gw
	orgID    string
	adminID  string
	token    string // the admin's API token
	users    map[string]string
	boss     githubtest.User
	orgInsts githubtest.Installation
	// browsers are signed-in browser sessions by API token (the same
	// person, in the token's org); byState is the browser that started a
	// flow, where its callback must arrive.
	browsers map[string]*webClient
	byState  map[string]*webClient
}

func newConnectFixture(t *testing.T) *connectFixture {
	t.Helper()
	env := pgEnv(t)
	env["GITHUB_CLIENT_ID"], env["GITHUB_CLIENT_SECRET"] = "Iv1.client", "client-secret"
	g := startGateway(t, env)
	ctx := context.Background()
	a := g.app
	org, admin, tok, err := a.identity.Bootstrap(ctx, a.db, "acme", "admin@example.com", "Admin")
	if err != nil {
		t.Fatal(err)
	}
	f := &connectFixture{g: g, orgID: org.ID, adminID: admin.ID, token: tok, users: map[string]string{},
		browsers: map[string]*webClient{}, byState: map[string]*webClient{}}
	for _, email := range []string{"pub@example.com", "dom@acme.dev", "ann@example.com"} {
		u, err := a.identity.EnsureUser(ctx, a.db, email, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := a.identity.AddMember(ctx, a.db, org.ID, u.ID, identity.RoleMember); err != nil {
			t.Fatal(err)
		}
		f.users[email] = u.ID
	}
	// Ann already has an admin link to another account.
	if _, err := a.identity.LinkGitHub(ctx, a.db, identity.LinkRequest{UserID: f.users["ann@example.com"], GitHubID: 900, Login: "ann-old", Via: identity.LinkedViaAdmin, ActorID: admin.ID}); err != nil {
		t.Fatal(err)
	}
	f.orgInsts = githubtest.Installation{ID: 77, AccountLogin: "acme-gh", AccountID: 7000, AccountType: "Organization"}
	f.boss = githubtest.User{ID: 500, Login: "boss"}
	g.github.AddUser(f.boss, "code-boss", f.orgInsts)
	g.github.SetMembership("boss", githubtest.Membership{OrgLogin: "acme-gh", OrgID: 7000, Role: "admin", State: "active"})
	g.github.AddUser(githubtest.User{ID: 501, Login: "pub", Email: "Pub@Example.com"}, "")
	g.github.AddUser(githubtest.User{ID: 502, Login: "dom", DomainEmails: []string{"dom@acme.dev"}}, "")
	g.github.AddUser(githubtest.User{ID: 503, Login: "ghost", Email: "ghost@users.noreply.github.com"}, "")
	g.github.AddUser(githubtest.User{ID: 901, Login: "ann", Email: "ann@example.com"}, "")
	g.github.SetOrgMembers("boss", "pub", "dom", "ghost", "ann")
	return f
}

func (f *connectFixture) api(t *testing.T, method, path, body string) (int, map[string]any) {
	t.Helper()
	return f.apiAs(t, f.token, method, path, body)
}

// apiAs calls the API with token.
func (f *connectFixture) apiAs(t *testing.T, token, method, path, body string) (int, map[string]any) {
	t.Helper()
	headers := map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json"}
	if method == http.MethodGet {
		return getJSON(t, f.g.url+path, token)
	}
	return post2(t, method, f.g.url+path, headers, body)
}

func post2(t *testing.T, method, url string, headers map[string]string, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// connectState starts a connect and returns the state from the install URL.
func (f *connectFixture) connectState(t *testing.T) string {
	t.Helper()
	return f.connectStateAs(t, f.orgID, f.token)
}

// browser is a browser session signed in as the person behind token, looking
// at the token's org.
func (f *connectFixture) browser(t *testing.T, token string) *webClient {
	t.Helper()
	if w, ok := f.browsers[token]; ok {
		return w
	}
	p, err := f.g.app.identity.Authenticate(context.Background(), f.g.app.db, token)
	if err != nil {
		t.Fatal(err)
	}
	w := newWebClient(t, f.g.url)
	w.signIn(t, f.g, p.Email)
	if code, _, body := w.post(t, "/workspaces", "/session/org", url.Values{"org": {p.OrgID}}); code != http.StatusSeeOther {
		t.Fatalf("switch org: %d %s", code, body)
	}
	f.browsers[token] = w
	return w
}

// startFlow posts a page form that starts an OAuth flow and returns the
// provider URL it leads to; the flow's state is remembered with its browser.
func (f *connectFixture) startFlow(t *testing.T, w *webClient, path string) *url.URL {
	t.Helper()
	code, loc, body := w.post(t, "/workspaces", path, nil)
	u, err := url.Parse(loc)
	if code != http.StatusSeeOther || err != nil || u.Query().Get("state") == "" {
		t.Fatalf("%s = %d %s %s", path, code, loc, body)
	}
	f.byState[u.Query().Get("state")] = w
	return u
}

// connectStateAs starts a connect of orgID by the admin holding token (in
// their browser) and returns the state from the install URL.
func (f *connectFixture) connectStateAs(t *testing.T, orgID, token string) string {
	t.Helper()
	w := f.browser(t, token)
	if code, _, body := w.post(t, "/workspaces", "/session/org", url.Values{"org": {orgID}}); code != http.StatusSeeOther {
		t.Fatalf("switch org: %d %s", code, body)
	}
	u := f.startFlow(t, w, "/settings/integrations/github/connect")
	if !strings.Contains(u.Path, "/apps/tryreplicas/installations/new") {
		t.Fatalf("connect = %s", u)
	}
	return u.Query().Get("state")
}

func (f *connectFixture) setup(t *testing.T, installation int64, state, code string) (int, map[string]any) {
	t.Helper()
	return f.setupAction(t, "install", installation, state, code)
}

var errCodeRE = regexp.MustCompile(`Error \d+ · <code>([a-z_]+)</code>`)

// pageOutcome reads what a result or error page says: "error" (the error
// code), "bound" and "pending".
func pageOutcome(body string) map[string]any {
	out := map[string]any{"bound": strings.Contains(body, "<h1>GitHub connected</h1>"), "pending": strings.Contains(body, "<h1>GitHub connection pending</h1>")}
	if m := errCodeRE.FindStringSubmatch(body); m != nil {
		out["error"] = m[1]
	}
	return out
}

// setupAction is GitHub's redirect to the setup URL with setup_action, in
// the browser that started the connect (a fresh one for a state no browser
// started).
func (f *connectFixture) setupAction(t *testing.T, action string, installation int64, state, code string) (int, map[string]any) {
	t.Helper()
	q := url.Values{"installation_id": {fmt.Sprint(installation)}, "setup_action": {action}, "state": {state}}
	if code != "" {
		q.Set("code", code)
	}
	w, ok := f.byState[state]
	if !ok {
		w = newWebClient(t, f.g.url)
	}
	status, _, body := w.get(t, "/github/setup?"+q.Encode())
	return status, pageOutcome(body)
}

// relink runs the relink flow in the browser of token: start, GitHub's
// callback with githubCode, and the confirmation. It returns the status of
// the callback page and of the confirmation post (0 when no confirmation
// was offered).
func (f *connectFixture) relink(t *testing.T, token, githubCode string) (int, int) {
	t.Helper()
	w := f.browser(t, token)
	u := f.startFlow(t, w, "/settings/user/github/relink")
	if u.Query().Get("code_challenge_method") != "S256" || u.Query().Get("code_challenge") == "" || !strings.HasSuffix(u.Path, "/login/oauth/authorize") {
		t.Fatalf("relink url = %s", u)
	}
	return f.finishRelink(t, w, u.Query().Get("state"), githubCode)
}

var confirmRE = regexp.MustCompile(`name="confirm" value="([^"]+)"`)

// finishRelink is GitHub's redirect to the callback in browser w, then the
// confirmation when the page offers one.
func (f *connectFixture) finishRelink(t *testing.T, w *webClient, state, githubCode string) (int, int) {
	t.Helper()
	status, _, body := w.get(t, "/oauth/github/callback?"+url.Values{"state": {state}, "code": {githubCode}}.Encode())
	m := confirmRE.FindStringSubmatch(body)
	if status != http.StatusOK || m == nil {
		return status, 0
	}
	if !strings.Contains(body, "Link GitHub account @") {
		t.Fatalf("confirmation page: %s", body)
	}
	code, _, _ := w.post(t, "/workspaces", "/settings/user/github/confirm", url.Values{"confirm": {m[1]}})
	return status, code
}

func (f *connectFixture) installationWebhook(t *testing.T, id int64, senderID int64, senderLogin string) {
	t.Helper()
	body := edit(t, readTestdata(t, "github/installation.created.json"), func(p map[string]any) {
		in := p["installation"].(map[string]any)
		in["id"] = id
		acc := in["account"].(map[string]any)
		acc["login"], acc["id"], acc["type"] = f.orgInsts.AccountLogin, f.orgInsts.AccountID, "Organization"
		s := p["sender"].(map[string]any)
		s["id"], s["login"] = senderID, senderLogin
	})
	if code, ans := post(t, f.g.url+"/webhooks/github", githubHeaders("gh-secret", "installation", body), body); code != 200 {
		t.Fatalf("installation webhook = %d %v", code, ans)
	}
}

func (f *connectFixture) boundOrg(t *testing.T, id int64) string {
	t.Helper()
	var org *string
	_ = f.g.app.db.QueryRow(context.Background(), `SELECT org_id FROM github_installations WHERE installation_id = $1`, id).Scan(&org)
	if org == nil {
		return ""
	}
	return *org
}

func (f *connectFixture) linkOf(t *testing.T, email string) identity.GitHubLink {
	t.Helper()
	id := f.users[email]
	if email == "admin@example.com" {
		id = f.adminID
	}
	l, _ := f.g.app.identity.GitHubLinkOf(context.Background(), f.g.app.db, id)
	return l
}

// checkAutoLink verifies the links and the report after binding.
func (f *connectFixture) checkAutoLink(t *testing.T) {
	t.Helper()
	f.g.waitFor(t, "the auto-link report", func() bool {
		return f.g.count(t, `SELECT COUNT(*) FROM github_autolink_reports WHERE org_id = $1`, f.orgID) == 1
	})
	if l := f.linkOf(t, "pub@example.com"); l.GitHubID != 501 || l.LinkedVia != "org_connect" {
		t.Errorf("public-email member link = %+v", l)
	}
	if l := f.linkOf(t, "dom@acme.dev"); l.GitHubID != 502 || l.LinkedVia != "org_connect" {
		t.Errorf("verified-domain member link = %+v", l)
	}
	if l := f.linkOf(t, "ann@example.com"); l.GitHubID != 900 || l.LinkedVia != "admin" {
		t.Errorf("admin link overwritten: %+v", l)
	}
	code, ans := f.api(t, "GET", "/api/v1/orgs/"+f.orgID+"/integrations", "")
	gh, _ := ans["github"].(map[string]any)
	report, _ := gh["last_auto_link"].(map[string]any)
	if code != 200 || report == nil {
		t.Fatalf("integrations = %d %v", code, ans)
	}
	got := func(k string) string {
		var s []string
		for _, v := range report[k].([]any) {
			s = append(s, fmt.Sprint(v))
		}
		sort.Strings(s)
		return strings.Join(s, ",")
	}
	conflicts := report["conflicts"].(map[string]any)
	if got("linked") != "dom,pub" || got("unmatched") != "boss,ghost" || len(conflicts) != 1 || conflicts["ann"] == nil {
		t.Errorf("report = %v", report)
	}
}

func TestConnectWithCodeThenWebhook(t *testing.T) {
	t.Parallel()
	f := newConnectFixture(t)
	code, ans := f.setup(t, 77, f.connectState(t), "code-boss")
	if code != 200 || ans["bound"] != true {
		t.Fatalf("setup = %d %v", code, ans)
	}
	if f.boundOrg(t, 77) != f.orgID {
		t.Fatal("installation not bound")
	}
	if l := f.linkOf(t, "admin@example.com"); l.GitHubID != 500 || l.LinkedVia != "oauth" {
		t.Fatalf("installer not linked to the admin: %+v", l)
	}
	f.installationWebhook(t, 77, 500, "boss") // arrives second
	f.checkAutoLink(t)
	if f.boundOrg(t, 77) != f.orgID {
		t.Fatal("the webhook undid the binding")
	}
}

func TestForgedSetupBindsNothing(t *testing.T) {
	t.Parallel()
	f := newConnectFixture(t)
	f.installationWebhook(t, 999, 666, "mallory") // someone else's installation exists
	f.g.idle(t)
	code, ans := f.setup(t, 999, f.connectState(t), "code-boss")
	if code != 403 || ans["error"] != "forbidden" {
		t.Fatalf("forged setup = %d %v", code, ans)
	}
	if f.boundOrg(t, 999) != "" {
		t.Fatal("forged installation was bound")
	}
	if code, _ := f.setup(t, 77, "st_forged.deadbeef", "code-boss"); code != 400 {
		t.Fatalf("forged state = %d", code)
	}
	if f.boundOrg(t, 77) != "" || f.linkOf(t, "admin@example.com").GitHubID != 0 {
		t.Fatal("a forged state changed something")
	}
}

func TestConnectWithoutCodeEitherOrder(t *testing.T) {
	t.Parallel()
	f := newConnectFixture(t)
	ctx := context.Background()
	if _, err := f.g.app.identity.LinkGitHub(ctx, f.g.app.db, identity.LinkRequest{UserID: f.adminID, GitHubID: 500, Login: "boss", Via: identity.LinkedViaOAuth, ActorID: f.adminID}); err != nil {
		t.Fatal(err)
	}
	// Webhook first, then the redirect without a code.
	f.installationWebhook(t, 77, 500, "boss")
	f.g.idle(t)
	if code, ans := f.setup(t, 77, f.connectState(t), ""); code != 200 || ans["bound"] != true {
		t.Fatalf("redirect after webhook = %d %v", code, ans)
	}
	f.checkAutoLink(t)
	// Redirect first (pending), then the webhook.
	if code, ans := f.setup(t, 78, f.connectState(t), ""); code != 200 || ans["pending"] != true {
		t.Fatalf("redirect before webhook = %d %v", code, ans)
	}
	f.installationWebhook(t, 78, 500, "boss")
	f.g.waitFor(t, "the pending binding", func() bool { return f.boundOrg(t, 78) == f.orgID })
	// A webhook from someone else never completes a pending connect.
	if code, _ := f.setup(t, 79, f.connectState(t), ""); code != 200 {
		t.Fatal(code)
	}
	f.installationWebhook(t, 79, 666, "mallory")
	f.g.idle(t)
	if f.boundOrg(t, 79) != "" {
		t.Fatal("installation by another account was bound")
	}
}

func TestRelinkAndAdminLink(t *testing.T) {
	t.Parallel()
	f := newConnectFixture(t)
	f.g.github.AddUser(githubtest.User{ID: 777, Login: "newme"}, "code-newme")
	w := f.browser(t, f.token)
	u := f.startFlow(t, w, "/settings/user/github/relink")
	if u.Query().Get("code_challenge_method") != "S256" || u.Query().Get("code_challenge") == "" || !strings.HasSuffix(u.Path, "/login/oauth/authorize") {
		t.Fatalf("link url = %s", u)
	}
	state := u.Query().Get("state")
	callback := func(state, code string) int {
		c, confirmed := f.finishRelink(t, w, state, code)
		if c == http.StatusOK && confirmed != http.StatusSeeOther {
			return confirmed
		}
		return c
	}
	if c := callback("st_x."+strings.Repeat("0", 64), "code-newme"); c != 400 {
		t.Fatalf("forged state = %d", c)
	}
	if f.linkOf(t, "admin@example.com").GitHubID != 0 {
		t.Fatal("forged state linked")
	}
	if c := callback(state, "code-newme"); c != 200 {
		t.Fatalf("callback = %d", c)
	}
	if l := f.linkOf(t, "admin@example.com"); l.GitHubID != 777 || l.LinkedVia != "oauth" {
		t.Fatalf("relinked = %+v", l)
	}
	f.g.github.AddUser(githubtest.User{ID: 778, Login: "again"}, "code-again")
	if c := callback(state, "code-again"); c != 400 {
		t.Fatalf("reused state = %d", c)
	}
	if l := f.linkOf(t, "admin@example.com"); l.GitHubID != 777 {
		t.Fatalf("reused state changed the link: %+v", l)
	}
	code, ids := f.api(t, "GET", "/api/v1/me/identities", "")
	list, _ := ids["identities"].([]any)
	if code != 200 || len(list) != 1 || list[0].(map[string]any)["linked_via"] != "oauth" || list[0].(map[string]any)["github_id"] != float64(777) {
		t.Fatalf("identities = %d %v", code, ids)
	}
	// Admin links Pub by login (resolved to the numeric id) and by id.
	code, ans := f.api(t, "PUT", "/api/v1/orgs/"+f.orgID+"/members/"+f.users["pub@example.com"]+"/identities/github", `{"login":"pub"}`)
	if code != 200 || ans["github_id"] != float64(501) || ans["linked_via"] != "admin" {
		t.Fatalf("admin link by login = %d %v", code, ans)
	}
	code, ans = f.api(t, "PUT", "/api/v1/orgs/"+f.orgID+"/members/"+f.users["dom@acme.dev"]+"/identities/github", `{"login":"dom-x","github_id":4242}`)
	if code != 200 || ans["github_id"] != float64(4242) {
		t.Fatalf("admin link with id = %d %v", code, ans)
	}
	if code, _ := f.api(t, "PUT", "/api/v1/orgs/"+f.orgID+"/members/"+f.users["dom@acme.dev"]+"/identities/github", `{"login":"no-such-user"}`); code != 404 {
		t.Fatalf("unknown login = %d", code)
	}
	if code, _ := f.api(t, "DELETE", "/api/v1/me/identities/github", ""); code != 204 {
		t.Fatalf("unlink = %d", code)
	}
	if f.linkOf(t, "admin@example.com").GitHubID != 0 {
		t.Fatal("still linked")
	}
	var n int
	_ = f.g.app.db.QueryRow(context.Background(), `SELECT COUNT(*) FROM audit_log WHERE action IN ('github.link', 'github.unlink')`).Scan(&n)
	if n < 5 {
		t.Fatalf("%d link changes audited", n)
	}
}

func TestConnectWebhookThenCode(t *testing.T) {
	t.Parallel()
	f := newConnectFixture(t)
	f.installationWebhook(t, 77, 500, "boss") // arrives first: recorded, not bound
	f.g.idle(t)
	if f.boundOrg(t, 77) != "" {
		t.Fatal("the webhook alone bound the installation")
	}
	if code, ans := f.setup(t, 77, f.connectState(t), "code-boss"); code != 200 || ans["bound"] != true {
		t.Fatalf("setup = %d %v", code, ans)
	}
	f.checkAutoLink(t)
}
