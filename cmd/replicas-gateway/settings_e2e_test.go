package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tryreplicas/gateway/credstore/oauthrefresh/strictoauth"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
)

// agentOAuthEnv points Connect Claude and Connect OpenAI at a strict OAuth
// stand-in: its authorize page, its code page (Claude) and its stand-in of
// the CLI's local listener (OpenAI).
func agentOAuthEnv(t *testing.T) (*strictoauth.Server, map[string]string) {
	oauth := strictoauth.New()
	t.Cleanup(oauth.Close)
	return oauth, map[string]string{
		"CLAUDE_OAUTH_AUTHORIZE_URL": oauth.AuthorizeURL(), "CLAUDE_OAUTH_TOKEN_URL": oauth.URL + "/v1/oauth/token",
		"CLAUDE_OAUTH_CLIENT_ID": strictoauth.ClientID, "CLAUDE_OAUTH_REDIRECT_URL": oauth.CodePageURL(),
		"CODEX_OAUTH_AUTHORIZE_URL": oauth.AuthorizeURL(), "CODEX_OAUTH_TOKEN_URL": oauth.URL + "/oauth/token",
		"CODEX_OAUTH_CLIENT_ID": strictoauth.ClientID, "CODEX_OAUTH_REDIRECT_URL": oauth.RedirectURL(),
	}
}

// providerPaste follows the provider's authorization (authURL, where the
// Connect button sent the browser) and returns what the person pastes:
// Claude's code#state, OpenAI's address.
func providerPaste(t *testing.T, authURL string, claude bool) string {
	t.Helper()
	if !strings.Contains(authURL, "code_challenge_method=S256") {
		t.Fatalf("not a PKCE S256 authorization: %q", authURL)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if !claude {
		return loc
	}
	resp, err = http.Get(loc)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	code := regexp.MustCompile(`<code id=code>([^<]*)</code>`).FindSubmatch(page)
	if code == nil {
		t.Fatalf("code page: %s", page)
	}
	return string(code[1])
}

// TestSettingsPagesWithoutJavaScript walks every settings page as a browser
// without JavaScript: a member saves a personal API key (only its hint
// shows), connects Claude and OpenAI by pasting, and the chain puts the
// OAuth credential first; members see the org's methods but not their
// hints; admin pages refuse members.
func TestSettingsPagesWithoutJavaScript(t *testing.T) {
	oauth, vars := agentOAuthEnv(t)
	for k, v := range pgEnv(t) {
		vars[k] = v
	}
	g := startGateway(t, vars)
	ctx := context.Background()
	org, _, _, err := g.app.identity.Bootstrap(ctx, g.app.db, "acme", "ada@example.com", "Ada")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := g.app.identity.EnsureUser(ctx, g.app.db, "bob@example.com", "Bob")
	if err != nil {
		t.Fatal(err)
	}
	if err := g.app.identity.AddMember(ctx, g.app.db, org.ID, bob.ID, "member"); err != nil {
		t.Fatal(err)
	}
	admin := newWebClient(t, g.url)
	admin.signIn(t, g, "ada@example.com")
	const orgKey = "sk-ant-api03-ORGKEYSECRETVALUE-9876"
	if code, loc, body := admin.post(t, "/settings/agents", "/settings/agents/claude/api_key", url.Values{"api_key": {orgKey}}); code != http.StatusSeeOther || loc != "/settings/agents" {
		t.Fatalf("org key: %d %s %s", code, loc, body)
	}
	for _, page := range []string{"/settings/agents", "/settings/user", "/settings/members", "/settings/integrations", "/deliveries", "/audit", "/workspaces"} {
		code, _, body := admin.get(t, page)
		if code != http.StatusOK || !strings.Contains(body, "Claude for you: org API key") {
			t.Fatalf("%s: %d %s", page, code, body)
		}
		if strings.Contains(body, orgKey) {
			t.Fatalf("%s shows the key", page)
		}
	}

	member := newWebClient(t, g.url)
	member.signIn(t, g, "bob@example.com")
	code, _, body := member.get(t, "/settings/agents")
	if code != 200 || !strings.Contains(body, "Anthropic API key") || strings.Contains(body, "9876") || strings.Contains(body, `action="/settings/agents/claude/api_key"`) {
		t.Fatalf("member's agents page: %d %s", code, body)
	}
	for _, page := range []string{"/settings/members", "/settings/integrations", "/deliveries", "/audit"} {
		if code, _, _ := member.get(t, page); code != http.StatusForbidden {
			t.Fatalf("member on %s: %d", page, code)
		}
	}
	if code, _, _ := member.post(t, "/settings/user", "/settings/agents/claude/api_key", url.Values{"api_key": {"sk-ant-api03-MEMBERTRIES-0000"}}); code != http.StatusForbidden {
		t.Fatalf("member sets an org key: %d", code)
	}

	const myKey = "sk-ant-api03-PERSONALSECRET-4321"
	if code, loc, _ := member.post(t, "/settings/user", "/settings/user/credentials/claude/api_key", url.Values{"api_key": {myKey}}); code != http.StatusSeeOther || loc != "/settings/user" {
		t.Fatalf("personal key: %d %s", code, loc)
	}
	_, _, body = member.get(t, "/settings/user")
	if !strings.Contains(body, "Claude for you: your API key → org API key") || !strings.Contains(body, "<code>4321</code>") || strings.Contains(body, myKey) {
		t.Fatalf("user page after the key: %s", body)
	}

	// Connect Claude: the page links to the provider, the person pastes code#state.
	_, authURL, _ := member.post(t, "/settings/user", "/settings/user/credentials/claude/connect", nil)
	pasted := providerPaste(t, authURL, true)
	if code, loc, body := member.post(t, "/settings/user", "/settings/user/credentials/claude/connect/finish", url.Values{"pasted": {pasted}}); code != http.StatusSeeOther || loc != "/settings/user" {
		t.Fatalf("finish claude: %d %s %s", code, loc, body)
	}
	_, _, body = member.get(t, "/settings/user")
	if !strings.Contains(body, "Claude for you: your OAuth → your API key → org API key") || !strings.Contains(body, "is active") {
		t.Fatalf("after Connect Claude: %s", body)
	}
	// The same paste in another browser session of the same user changes nothing.
	other := newWebClient(t, g.url)
	other.signIn(t, g, "bob@example.com")
	_, authURL, _ = member.post(t, "/settings/user", "/settings/user/credentials/codex/connect", nil)
	pasted = providerPaste(t, authURL, false)
	if code, _, _ := other.post(t, "/settings/user", "/settings/user/credentials/codex/connect/finish", url.Values{"pasted": {pasted}}); code != http.StatusBadRequest {
		t.Fatalf("paste in another session: %d", code)
	}
	if code, loc, body := member.post(t, "/settings/user", "/settings/user/credentials/codex/connect/finish", url.Values{"pasted": {pasted}}); code != http.StatusSeeOther || loc != "/settings/user" {
		t.Fatalf("finish codex: %d %s %s", code, loc, body)
	}
	_, _, body = member.get(t, "/settings/user")
	if !strings.Contains(body, "Codex for you: your OAuth") {
		t.Fatalf("after Connect OpenAI: %s", body)
	}
	if oauth.Codes() != 2 {
		t.Fatalf("code exchanges: %d", oauth.Codes())
	}
	// The admin sees Bob's chain by method only: no hint of his credentials.
	_, _, body = admin.get(t, "/settings/members")
	if !strings.Contains(body, "Claude for them: their OAuth → their API key → org API key") || strings.Contains(body, "4321") {
		t.Fatalf("members page: %s", body)
	}
	dump := sqldbtest.Dump(t, g.app.db)
	for _, secret := range []string{myKey, orgKey, strictoauth.AccountID} {
		if strings.Contains(dump, secret) {
			t.Fatalf("the database holds %q in plain text", secret)
		}
	}
}

var (
	invitationURLRE = regexp.MustCompile(`id="invitation-url">([^<]+)<`)
	newTokenRE      = regexp.MustCompile(`id="token">(rpl_[^<]+)<`)
)

// TestAdminPagesWithoutJavaScript: invite (the link shows, the invitation
// is pending, withdrawing it ends it), change a role, remove a member, map
// a Linear team, create an API token (shown once, it works, revoking it
// ends it) and leave an org.
func TestAdminPagesWithoutJavaScript(t *testing.T) {
	env := pgEnv(t)
	env["REPLICAS_PUBLIC_URL"] = selfURL
	g := startGateway(t, env)
	orgID, adaID := seed(t, g, true)
	admin := newWebClient(t, g.url)
	admin.signIn(t, g, "admin@example.com")

	code, _, body := admin.post(t, "/settings/members", "/settings/members/invite", url.Values{"email": {"new@example.com"}, "role": {"member"}})
	m := invitationURLRE.FindStringSubmatch(body)
	if code != 200 || m == nil || !strings.HasPrefix(m[1], g.url+"/invitations/rpi_") {
		t.Fatalf("invite: %d %s", code, body)
	}
	if _, _, body = admin.get(t, "/settings/members"); !strings.Contains(body, "new@example.com") || strings.Contains(body, "rpi_") {
		t.Fatalf("members page: %s", body)
	}
	var invID string
	if err := g.app.db.QueryRow(context.Background(), `SELECT id FROM invitations WHERE org_id = $1`, orgID).Scan(&invID); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := admin.post(t, "/settings/members", "/settings/members/invitations/"+invID+"/revoke", nil); code != http.StatusSeeOther {
		t.Fatalf("withdraw: %d", code)
	}
	if code, _, _ := admin.get(t, strings.TrimPrefix(m[1], g.url)); code == http.StatusOK {
		t.Fatal("a withdrawn invitation still opens")
	}
	if code, _, body := admin.post(t, "/settings/members", "/settings/members/"+adaID+"/role", url.Values{"role": {"admin"}}); code != http.StatusSeeOther {
		t.Fatalf("role: %d %s", code, body)
	}
	if m, _ := g.app.identity.Member(context.Background(), g.app.db, orgID, adaID); m.Role != "admin" {
		t.Fatalf("role is %s", m.Role)
	}
	bobID := addMember(t, g, orgID, "bob@example.com")
	if code, _, _ := admin.post(t, "/settings/members", "/settings/members/"+bobID+"/remove", nil); code != http.StatusSeeOther {
		t.Fatalf("remove: %d", code)
	}
	if n := g.count(t, `SELECT COUNT(*) FROM memberships WHERE user_id = $1`, bobID); n != 0 {
		t.Fatalf("bob still a member (%d)", n)
	}

	if code, _, body := admin.post(t, "/settings/integrations", "/settings/integrations/linear/teams", url.Values{"team": {"ENG"}, "repository": {"acme/api"}}); code != http.StatusSeeOther {
		t.Fatalf("map team: %d %s", code, body)
	}
	if _, _, body = admin.get(t, "/settings/integrations"); !strings.Contains(body, "<td>ENG</td><td>acme/api</td>") {
		t.Fatalf("integrations page: %s", body)
	}
	if code, _, _ := admin.post(t, "/settings/integrations", "/settings/integrations/linear/teams", url.Values{"team": {"OPS"}, "repository": {"elsewhere/repo"}}); code != http.StatusUnprocessableEntity {
		t.Fatalf("map to a repository no installation holds: %d", code)
	}

	code, _, body = admin.post(t, "/settings/user", "/settings/user/tokens", nil)
	tok := newTokenRE.FindStringSubmatch(body)
	if code != 200 || tok == nil {
		t.Fatalf("new token: %d %s", code, body)
	}
	if code, _ := post2(t, "GET", g.url+"/api/v1/me", map[string]string{"Authorization": "Bearer " + tok[1]}, ""); code != 200 {
		t.Fatalf("the new token: %d", code)
	}
	if _, _, body = admin.get(t, "/settings/user"); strings.Contains(body, tok[1]) {
		t.Fatal("the token shows again")
	}
	var tokID string
	if err := g.app.db.QueryRow(context.Background(), `SELECT id FROM api_tokens WHERE revoked_at IS NULL ORDER BY created_at DESC LIMIT 1`).Scan(&tokID); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := admin.post(t, "/settings/user", "/settings/user/tokens/"+tokID+"/revoke", nil); code != http.StatusSeeOther {
		t.Fatalf("revoke: %d", code)
	}
	if code, _ := post2(t, "GET", g.url+"/api/v1/me", map[string]string{"Authorization": "Bearer " + tok[1]}, ""); code != 401 {
		t.Fatalf("the revoked token: %d", code)
	}

	// Ada (now an admin too) leaves; the last admin cannot.
	ada := newWebClient(t, g.url)
	ada.signIn(t, g, "ada@example.com")
	if code, _, body := ada.post(t, "/settings/user", "/settings/user/orgs/"+orgID+"/leave", nil); code != http.StatusSeeOther {
		t.Fatalf("leave: %d %s", code, body)
	}
	if _, err := g.app.identity.Member(context.Background(), g.app.db, orgID, adaID); err == nil {
		t.Fatal("ada is still a member")
	}
	if code, _, _ := admin.post(t, "/settings/user", "/settings/user/orgs/"+orgID+"/leave", nil); code != http.StatusConflict {
		t.Fatalf("the last admin leaves: %d", code)
	}
}
