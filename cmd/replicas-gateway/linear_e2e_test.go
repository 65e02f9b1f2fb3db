package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/integrations/linear/lineartest"
)

const (
	appUser = "d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6"
	linOrg  = "87ebfd3a-bbcd-477a-9664-a9d2c849c2db"
)

// linearGateway is a gateway with a fake Linear API, an org seeded as for
// GitHub and connected to Linear with an OAuth token.
func linearGateway(t *testing.T) (*gw, *lineartest.Server, string) {
	t.Helper()
	return linearGatewayWith(t, nil)
}

// linearGatewayWith is linearGateway with more environment (e.g. a launcher).
func linearGatewayWith(t *testing.T, vars map[string]string) (*gw, *lineartest.Server, string) {
	t.Helper()
	fake := lineartest.New("Bearer lin_oauth_test_token", appUser, linOrg)
	t.Cleanup(fake.Close)
	env := pgEnv(t)
	for k, v := range vars {
		env[k] = v
	}
	env["LINEAR_WEBHOOK_SECRET"] = "lin-secret"
	env["LINEAR_API_URL"] = fake.URL
	g := startGateway(t, env)
	orgID, _ := seed(t, g, true)
	if _, err := g.app.linear.ConnectToken(context.Background(), orgID, "", "lin_oauth_test_token", "", "system"); err != nil {
		t.Fatal(err)
	}
	return g, fake, orgID
}

// mapTeam makes the sample issues' team (ENG) work in an installed
// repository: an agent session without a repository asks for one instead of
// launching.
func mapTeam(t *testing.T, g *gw, orgID string) {
	t.Helper()
	if err := g.app.linear.MapTeam(context.Background(), orgID, "ENG", "acme/shop"); err != nil {
		t.Fatal(err)
	}
}

func (g *gw) linear(t *testing.T, body []byte) int {
	t.Helper()
	code, ans := post(t, g.url+"/webhooks/linear", linearHeaders("lin-secret", body), body)
	if code != 200 && code != 401 {
		t.Logf("linear delivery answered %d %v", code, ans)
	}
	return code
}

func edit(t *testing.T, body []byte, fn func(p map[string]any)) []byte {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	fn(p)
	out, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLinearAssignmentWithoutEmailLaunchesOnce(t *testing.T) {
	t.Parallel()
	g, fake, orgID := linearGateway(t)
	fake.SetEmail("actor-ada", "Ada@Example.com")
	body, err := linearAssign{ActorID: "actor-ada", IssueID: "issue-1", Identifier: "ENG-1", AppUserID: appUser, OrganizationID: linOrg}.build(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	headers := linearHeaders("lin-secret", body)
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, _ := post(t, g.url+"/webhooks/linear", headers, body); code != 200 {
				t.Errorf("answered %d", code)
			}
		}()
	}
	wg.Wait()
	g.waitFor(t, "the launch comment", func() bool {
		for _, c := range fake.Comments() {
			if strings.Contains(c, "Replicas launched workspace") {
				return true
			}
		}
		return false
	})
	g.idle(t)
	var user string
	if err := g.app.db.QueryRow(context.Background(), `SELECT u.email FROM workspaces w JOIN users u ON u.id = w.user_id WHERE w.org_id = $1`, orgID).Scan(&user); err != nil || user != "ada@example.com" {
		t.Fatalf("workspace user = %q, %v", user, err)
	}
	if n := g.count(t, `SELECT COUNT(*) FROM workspaces`); n != 1 {
		t.Fatalf("%d workspaces, want 1", n)
	}
	if fake.Lookups() != 1 || len(fake.Comments()) != 1 {
		t.Fatalf("lookups %d, comments %v", fake.Lookups(), fake.Comments())
	}
}

func TestLinearTriggersAndNegatives(t *testing.T) {
	t.Parallel()
	g, fake, orgID := linearGateway(t)
	mapTeam(t, g, orgID)
	base, err := linearAssign{Email: "ada@example.com", ActorID: "actor-ada", IssueID: "issue-x", Identifier: "ENG-9", AppUserID: appUser, OrganizationID: linOrg}.build(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		change func(p map[string]any)
		launch bool
	}{
		{"assignment", func(p map[string]any) {}, true},
		{"delegation", func(p map[string]any) {
			d := p["data"].(map[string]any)
			d["id"], d["assigneeId"], d["delegateId"] = "issue-d", nil, appUser
			p["updatedFrom"] = map[string]any{"delegateId": nil}
		}, true},
		{"created already assigned", func(p map[string]any) {
			p["action"] = "create"
			p["data"].(map[string]any)["id"] = "issue-c"
			delete(p, "updatedFrom")
		}, true},
		{"agent session", func(p map[string]any) {
			issue := p["data"].(map[string]any)
			issue["id"] = "issue-s"
			for _, k := range []string{"data", "updatedFrom", "actor"} {
				delete(p, k)
			}
			p["type"], p["action"], p["appUserId"] = "AgentSessionEvent", "created", appUser
			p["agentSession"] = map[string]any{"id": "session-1", "issue": issue, "creator": map[string]any{"id": "actor-ada", "name": "Ada", "email": "ada@example.com"}}
		}, true},
		{"edit of an already assigned issue", func(p map[string]any) {
			p["data"].(map[string]any)["id"] = "issue-e"
			p["updatedFrom"] = map[string]any{"title": "old title"}
		}, false},
		{"assignment to someone else", func(p map[string]any) {
			p["data"].(map[string]any)["id"] = "issue-o"
			p["data"].(map[string]any)["assigneeId"] = "someone-else"
		}, false},
		{"app actor", func(p map[string]any) {
			p["data"].(map[string]any)["id"] = "issue-a"
			p["actor"] = map[string]any{"id": "app", "type": "user", "email": "86bdc758@oauthapp.linear.app", "name": "Bot"}
		}, false},
		{"integration actor", func(p map[string]any) {
			p["data"].(map[string]any)["id"] = "issue-i"
			p["actor"] = map[string]any{"id": "int", "type": "integration", "name": "Zapier"}
		}, false},
		{"session without creator", func(p map[string]any) {
			issue := p["data"].(map[string]any)
			issue["id"] = "issue-n"
			delete(p, "data")
			p["type"], p["action"] = "AgentSessionEvent", "created"
			p["agentSession"] = map[string]any{"id": "session-2", "issue": issue}
		}, false},
		{"unconnected organization", func(p map[string]any) {
			p["data"].(map[string]any)["id"] = "issue-u"
			p["organizationId"] = "another-org"
		}, false},
	}
	for _, tc := range cases {
		if code := g.linear(t, edit(t, base, tc.change)); code != 200 {
			t.Fatalf("%s: answered %d", tc.name, code)
		}
	}
	stale := edit(t, base, func(p map[string]any) { p["webhookTimestamp"] = time.Now().Add(-2 * time.Minute).UnixMilli() })
	if code := g.linear(t, stale); code != 401 {
		t.Fatalf("stale delivery answered %d", code)
	}
	forged := linearHeaders("wrong", base)
	if code, _ := post(t, g.url+"/webhooks/linear", forged, base); code != 401 {
		t.Fatalf("bad signature answered %d", code)
	}
	g.waitFor(t, "the session thought", func() bool { return len(fake.Activities()) >= 2 })
	g.idle(t)
	launched := 0
	for _, tc := range cases {
		if tc.launch {
			launched++
		}
	}
	if n := g.count(t, `SELECT COUNT(*) FROM workspaces`); n != launched {
		t.Fatalf("%d workspaces, want %d", n, launched)
	}
	acts := strings.Join(fake.Activities(), "\n")
	if !strings.Contains(acts, "thought: Launching") || !strings.Contains(acts, "thought: Replicas launched workspace") {
		t.Fatalf("session activities = %s", acts)
	}
}

func TestLinearUnknownEmailExplainsOnce(t *testing.T) {
	t.Parallel()
	g, fake, _ := linearGateway(t)
	for i := 0; i < 2; i++ {
		body, _ := linearAssign{Email: "nobody@example.com", ActorID: "actor-x", IssueID: "issue-z", Identifier: "ENG-5", AppUserID: appUser, OrganizationID: linOrg}.build(time.Now().Add(time.Duration(i) * time.Second))
		if code := g.linear(t, body); code != 200 {
			t.Fatal(code)
		}
	}
	g.waitFor(t, "the explanation", func() bool { return len(fake.Comments()) >= 1 })
	g.idle(t)
	if c := fake.Comments(); len(c) != 1 || !strings.Contains(c[0], "nobody@example.com") {
		t.Fatalf("comments = %v", c)
	}
}

// OAuth install as an app actor, then a token near expiry is refreshed once
// (rotating refresh tokens) before the GraphQL call that needs it.
func TestLinearOAuthConnectAndRefresh(t *testing.T) {
	t.Parallel()
	fake := lineartest.New("never-used", appUser, linOrg)
	t.Cleanup(fake.Close)
	env := pgEnv(t)
	env["LINEAR_WEBHOOK_SECRET"], env["LINEAR_API_URL"] = "lin-secret", fake.URL
	env["LINEAR_CLIENT_ID"], env["LINEAR_CLIENT_SECRET"] = "lin-client", "lin-client-secret"
	g := startGateway(t, env)
	seed(t, g, true)
	// The admin connects from their browser session.
	w := newWebClient(t, g.url)
	w.signIn(t, g, "admin@example.com")
	code, link, body := w.post(t, "/workspaces", "/settings/integrations/linear/connect", nil)
	if code != http.StatusSeeOther || !strings.Contains(link, "actor=app") || !strings.Contains(link, "app:assignable") || !strings.HasPrefix(link, fake.URL+"/oauth/authorize") {
		t.Fatalf("connect = %d %s %s", code, link, body)
	}
	u, _ := url.Parse(link)
	fake.AddCode("lin-code")
	callback := func(w *webClient, state string) (int, string) {
		code, _, body := w.get(t, "/oauth/linear/callback?"+url.Values{"state": {state}, "code": {"lin-code"}}.Encode())
		return code, body
	}
	// Opened in another browser session, the callback changes nothing.
	if code, body := callback(newWebClient(t, g.url), u.Query().Get("state")); code != 400 || !strings.Contains(body, "invalid_state") {
		t.Fatalf("callback in another session = %d %s", code, body)
	}
	if code, body := callback(w, u.Query().Get("state")); code != 200 || !strings.Contains(body, "Linear organization "+linOrg+" is connected") {
		t.Fatalf("callback = %d %s", code, body)
	}
	conn, err := g.app.linear.Store().ByOrg(context.Background(), g.app.db, orgIDOf(t, g, "acme"))
	if err != nil || conn.AppUserID != appUser || conn.OrganizationID != linOrg || conn.TokenKind != "oauth" {
		t.Fatalf("connection = %+v, %v", conn, err)
	}
	if code, _ := callback(w, u.Query().Get("state")); code != 400 {
		t.Fatalf("reused state = %d", code)
	}
	// The access token is about to expire.
	if _, err := g.app.db.Exec(context.Background(), `UPDATE linear_connections SET expires_at = $1`, time.Now().UTC().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	fake.SetEmail("actor-ada", "ada@example.com")
	for i := 0; i < 3; i++ {
		body, _ := linearAssign{ActorID: "actor-ada", IssueID: fmt.Sprint("issue-r", i), Identifier: "ENG-7", AppUserID: appUser, OrganizationID: linOrg}.build(time.Now())
		if code := g.linear(t, body); code != 200 {
			t.Fatal(code)
		}
	}
	g.waitFor(t, "three launches", func() bool { return g.count(t, `SELECT COUNT(*) FROM workspaces WHERE status = 'launched'`) == 3 })
	g.idle(t)
	if fake.Refreshes() != 1 || fake.Lookups() != 3 {
		t.Fatalf("%d refreshes, %d lookups; want 1 and 3", fake.Refreshes(), fake.Lookups())
	}
	dump := g.count(t, `SELECT COUNT(*) FROM linear_connections WHERE token_sealed IS NOT NULL AND refresh_sealed IS NOT NULL AND expires_at > $1`, time.Now().UTC().Add(time.Hour))
	if dump != 1 {
		t.Fatal("refreshed tokens not stored")
	}
}

// orgIDOf is the id of the org with slug.
func orgIDOf(t *testing.T, g *gw, slug string) string {
	t.Helper()
	o, err := g.app.identity.OrgBySlug(context.Background(), g.app.db, slug)
	if err != nil {
		t.Fatal(err)
	}
	return o.ID
}

func adminOf(t *testing.T, g *gw, orgID string) string {
	t.Helper()
	var id string
	if err := g.app.db.QueryRow(context.Background(), `SELECT user_id FROM memberships WHERE org_id = $1 AND role = 'admin'`, orgID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// Connecting with a personal API key (sent bare; the app user and Linear
// organization read from viewer), mapping a team, listing and disconnecting;
// members may not, and no answer shows the token.
func TestLinearConnectionAPI(t *testing.T) {
	t.Parallel()
	fake := lineartest.New("lin_api_e2e_key", appUser, linOrg)
	t.Cleanup(fake.Close)
	env := pgEnv(t)
	env["LINEAR_WEBHOOK_SECRET"], env["LINEAR_API_URL"] = "lin-secret", fake.URL
	g := startGateway(t, env)
	orgID, adaID := seed(t, g, true)
	admin := map[string]string{"Authorization": "Bearer " + adaToken(t, g, orgID, adminOf(t, g, orgID)), "Content-Type": "application/json"}
	member := map[string]string{"Authorization": "Bearer " + adaToken(t, g, orgID, adaID), "Content-Type": "application/json"}
	base := g.url + "/api/v1/orgs/" + orgID + "/integrations/linear"
	if code, _ := post2(t, "PUT", base, member, `{"access_token":"lin_api_e2e_key"}`); code != 403 {
		t.Fatalf("member connect = %d", code)
	}
	if code, ans := post2(t, "PUT", base, admin, `{"access_token":"lin_api_wrong"}`); code != 400 {
		t.Fatalf("connect with a token Linear refuses = %d %v", code, ans)
	}
	code, ans := post2(t, "PUT", base, admin, `{"access_token":"lin_api_e2e_key"}`)
	if code != 200 || ans["app_user_id"] != appUser || ans["organization_id"] != linOrg || ans["token_kind"] != "api_key" {
		t.Fatalf("connect = %d %v", code, ans)
	}
	for _, tc := range []struct {
		body string
		want int
	}{{`{"repository":"acme/shop"}`, 200}, {`{"repository":"acme"}`, 400}, {`{"repository":"acme/shop/x"}`, 400}, {`{}`, 400}} {
		if code, ans := post2(t, "PUT", base+"/teams/ENG", admin, tc.body); code != tc.want {
			t.Errorf("map team %s = %d %v", tc.body, code, ans)
		}
	}
	code, list := getJSON(t, g.url+"/api/v1/orgs/"+orgID+"/integrations", strings.TrimPrefix(admin["Authorization"], "Bearer "))
	raw, _ := json.Marshal(list)
	if code != 200 || !strings.Contains(string(raw), linOrg) || strings.Contains(string(raw), "lin_api_e2e_key") {
		t.Fatalf("integrations = %d %s", code, raw)
	}
	// The mapped repository reaches the workspace.
	body, _ := linearAssign{Email: "ada@example.com", ActorID: "actor-ada", IssueID: "issue-m", Identifier: "ENG-3", AppUserID: appUser, OrganizationID: linOrg}.build(time.Now())
	if code := g.linear(t, body); code != 200 {
		t.Fatal(code)
	}
	g.waitFor(t, "the launch", func() bool { return g.count(t, `SELECT COUNT(*) FROM workspaces`) == 1 })
	var repo string
	if err := g.app.db.QueryRow(context.Background(), `SELECT repository FROM workspaces`).Scan(&repo); err != nil || !strings.Contains(repo, "acme/shop") {
		t.Fatalf("workspace repository %q, %v", repo, err)
	}
	if code, _ := post2(t, "DELETE", base, admin, ""); code != 204 {
		t.Fatalf("disconnect = %d", code)
	}
	if code, _ := post2(t, "DELETE", base, admin, ""); code != 404 {
		t.Fatalf("second disconnect = %d", code)
	}
	g.idle(t)
}

// A prompt in a session that has a workspace is a follow-up (acknowledged,
// nothing launched); a prompt in a session without one launches.
func TestLinearSessionPromptIsAFollowUp(t *testing.T) {
	t.Parallel()
	g, fake, orgID := linearGateway(t)
	mapTeam(t, g, orgID)
	session := func(id, action string) []byte {
		base, err := linearAssign{Email: "ada@example.com", ActorID: "actor-ada", IssueID: "issue-p", Identifier: "ENG-4", AppUserID: appUser, OrganizationID: linOrg}.build(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return edit(t, base, func(p map[string]any) {
			issue := p["data"].(map[string]any)
			for _, k := range []string{"data", "updatedFrom", "actor"} {
				delete(p, k)
			}
			p["type"], p["action"], p["appUserId"] = "AgentSessionEvent", action, appUser
			p["agentSession"] = map[string]any{"id": id, "issue": issue, "creator": map[string]any{"id": "actor-ada", "name": "Ada", "email": "ada@example.com"}}
			if action == "prompted" {
				p["agentActivity"] = map[string]any{"content": map[string]any{"type": "prompt", "body": "also update the docs"},
					"user": map[string]any{"id": "actor-ada", "name": "Ada", "email": "ada@example.com"}}
			}
		})
	}
	if code := g.linear(t, session("session-f", "created")); code != 200 {
		t.Fatal(code)
	}
	g.waitFor(t, "the first launch", func() bool { return g.count(t, `SELECT COUNT(*) FROM workspaces`) == 1 })
	if code := g.linear(t, session("session-f", "prompted")); code != 200 {
		t.Fatal(code)
	}
	g.waitFor(t, "the follow-up note", func() bool { return strings.Contains(strings.Join(fake.Activities(), "\n"), "thought: Got it") })
	if code := g.linear(t, session("session-g", "prompted")); code != 200 {
		t.Fatal(code)
	}
	g.waitFor(t, "the second launch", func() bool { return g.count(t, `SELECT COUNT(*) FROM workspaces`) == 2 })
	g.idle(t)
	if n := g.count(t, `SELECT COUNT(*) FROM workspaces WHERE task LIKE '%also update the docs%'`); n != 1 {
		t.Fatalf("%d workspaces carry the prompt, want 1", n)
	}
}
