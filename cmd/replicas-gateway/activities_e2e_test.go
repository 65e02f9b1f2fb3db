package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/integrations/github"
	"github.com/tryreplicas/gateway/integrations/github/githubtest"
	"github.com/tryreplicas/gateway/integrations/linear"
	"github.com/tryreplicas/gateway/integrations/linear/lineartest"
)

// onEachDatabase runs fn as parallel subtests on each database.
func onEachDatabase(t *testing.T, fn func(t *testing.T, env map[string]string)) {
	t.Helper()
	for _, d := range databases {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			fn(t, d.env(t))
		})
	}
}

// linearOn is linearGatewayWith on the database env selects.
func linearOn(t *testing.T, env map[string]string) (*gw, *lineartest.Server, string) {
	t.Helper()
	fake := lineartest.New("Bearer lin_oauth_test_token", appUser, linOrg)
	t.Cleanup(fake.Close)
	env["LINEAR_WEBHOOK_SECRET"], env["LINEAR_API_URL"] = "lin-secret", fake.URL
	g := startGateway(t, env)
	orgID, _ := seed(t, g, true)
	if _, err := g.app.linear.ConnectToken(context.Background(), orgID, "", "lin_oauth_test_token", "", "system"); err != nil {
		t.Fatal(err)
	}
	return g, fake, orgID
}

// sessionEvent is an AgentSessionEvent (created or prompted by Ada) for an
// issue of team, with the prompt's text or the session's guidance.
func sessionEvent(t *testing.T, action, sessionID, issueID, team, prompt string, guidance ...string) []byte {
	t.Helper()
	base, err := linearAssign{Email: "ada@example.com", ActorID: "actor-ada", IssueID: issueID, Identifier: "ENG-77", AppUserID: appUser, OrganizationID: linOrg}.build(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return edit(t, base, func(p map[string]any) {
		issue := p["data"].(map[string]any)
		issue["team"] = map[string]any{"id": "team-" + team, "key": team, "name": team}
		issue["teamId"] = "team-" + team
		for _, k := range []string{"data", "updatedFrom", "actor"} {
			delete(p, k)
		}
		ada := map[string]any{"id": "actor-ada", "name": "Ada", "email": "ada@example.com"}
		p["type"], p["action"], p["appUserId"] = "AgentSessionEvent", action, appUser
		p["agentSession"] = map[string]any{"id": sessionID, "issue": issue, "creator": ada}
		switch action {
		case "created":
			p["promptContext"] = "<issue identifier=\"ENG-77\"><title>Export fails</title></issue>"
			var g []any
			for _, b := range guidance {
				g = append(g, map[string]any{"body": b, "origin": map[string]any{"type": "workspace"}})
			}
			p["guidance"] = g
		case "prompted":
			p["agentActivity"] = map[string]any{"content": map[string]any{"type": "prompt", "body": prompt}, "user": ada}
		}
	})
}

// activitiesOf are the session's activities of one type, in order.
func activitiesOf(fake *lineartest.Server, sessionID, typ string) []lineartest.Activity {
	var out []lineartest.Activity
	for _, a := range fake.ActivityLog() {
		if a.SessionID == sessionID && a.Content["type"] == typ {
			out = append(out, a)
		}
	}
	return out
}

// The Linear agent protocol end to end: the gateway's first thought within
// 10 s of the session's start; a session without a repository is asked which
// (an elicitation listing the installed repositories, as a select); an
// answer naming no installed repository is asked again, one naming an
// installed one launches there, with guidance and the prompt context in the
// task; the session links the workspace page and the issue moves to the
// team's first started state; cancelling posts a final response. An issue
// already started stays where it is.
func TestLinearAgentProtocolEndToEnd(t *testing.T) {
	t.Parallel()
	onEachDatabase(t, func(t *testing.T, env map[string]string) {
		ctx := context.Background()
		g, fake, orgID := linearOn(t, env)
		if err := g.app.github.Store().AddRepositories(ctx, g.app.db, 2, []github.Repository{{ID: 11, FullName: "acme/shop"}, {ID: 12, FullName: "acme/api"}}); err != nil {
			t.Fatal(err)
		}
		const session, issueID = "session-ask", "issue-ask"
		sent := time.Now()
		if code := g.linear(t, sessionEvent(t, "created", session, issueID, "OPS", "", "Run `make lint` before every commit.")); code != 200 {
			t.Fatal(code)
		}
		g.waitFor(t, "the elicitation", func() bool { return len(activitiesOf(fake, session, "elicitation")) == 1 })
		thoughts := activitiesOf(fake, session, "thought")
		if len(thoughts) == 0 || thoughts[0].Content["body"] != linear.FirstThought || thoughts[0].At.Sub(sent) > 10*time.Second {
			t.Fatalf("first thought %+v (sent %s)", thoughts, sent)
		}
		ask := activitiesOf(fake, session, "elicitation")[0]
		if body := fmt.Sprint(ask.Content["body"]); !strings.Contains(body, "- acme/api\n- acme/shop") || ask.Signal != "select" || !slices.Equal(ask.Options, []string{"acme/api", "acme/shop"}) {
			t.Fatalf("elicitation %+v", ask)
		}
		if n := g.count(t, `SELECT COUNT(*) FROM deliveries WHERE outcome = $1`, linear.OutcomeAskedRepository); n != 1 || g.count(t, `SELECT COUNT(*) FROM workspaces`) != 0 {
			t.Fatalf("%d deliveries asked, %d workspaces", n, g.count(t, `SELECT COUNT(*) FROM workspaces`))
		}
		// Another company's repository is not an answer.
		if code := g.linear(t, sessionEvent(t, "prompted", session, issueID, "OPS", "otherco/private")); code != 200 {
			t.Fatal(code)
		}
		g.waitFor(t, "the second question", func() bool { return len(activitiesOf(fake, session, "elicitation")) == 2 })
		if body := fmt.Sprint(activitiesOf(fake, session, "elicitation")[1].Content["body"]); !strings.Contains(body, "couldn't find") {
			t.Fatalf("second elicitation %q", body)
		}
		if code := g.linear(t, sessionEvent(t, "prompted", session, issueID, "OPS", "Use acme/shop please")); code != 200 {
			t.Fatal(code)
		}
		var wsID string
		g.waitFor(t, "the launch in the chosen repository", func() bool {
			_ = g.app.db.QueryRow(ctx, `SELECT id FROM workspaces WHERE repository LIKE '%acme/shop%' AND status = 'launched'`).Scan(&wsID)
			return wsID != "" && fake.SessionLink(session) != "" && len(fake.Moves()) == 1
		})
		page := "http://gateway.test/workspaces/" + wsID
		if link := fake.SessionLink(session); link != page {
			t.Fatalf("session link %q, want %q", link, page)
		}
		if m := fake.Moves(); m[0] != issueID+" → "+lineartest.StateInProgress {
			t.Fatalf("moves %v", m)
		}
		var task string
		if err := g.app.db.QueryRow(ctx, `SELECT task FROM workspaces WHERE id = $1`, wsID).Scan(&task); err != nil ||
			!strings.Contains(task, "Run `make lint` before every commit.") || !strings.Contains(task, "Export fails") {
			t.Fatalf("task %s, %v", task, err)
		}
		if n := g.count(t, `SELECT COUNT(*) FROM linear_elicitations`); n != 0 {
			t.Fatalf("%d elicitations still open", n)
		}
		// Stopping the workspace ends the session with a response.
		ada, err := g.app.identity.UserByEmail(ctx, g.app.db, "ada@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if code, ans := post2(t, "POST", g.url+"/api/v1/workspaces/"+wsID+"/cancel", map[string]string{"Authorization": "Bearer " + adaToken(t, g, orgID, ada.ID)}, ""); code != 200 {
			t.Fatalf("cancel = %d %v", code, ans)
		}
		g.waitFor(t, "the final response", func() bool {
			r := activitiesOf(fake, session, "response")
			return len(r) == 1 && strings.Contains(fmt.Sprint(r[0].Content["body"]), "["+wsID+"]("+page+") was cancelled.")
		})
		// A started issue stays where it is.
		fake.SetIssueState("issue-started", "started")
		fake.SetAttachments("issue-started", "https://github.com/acme/api/pull/1")
		if code := g.linear(t, sessionEvent(t, "created", "session-started", "issue-started", "OPS", "")); code != 200 {
			t.Fatal(code)
		}
		g.waitFor(t, "the second launch", func() bool { return fake.SessionLink("session-started") != "" })
		g.idle(t)
		if m := fake.Moves(); len(m) != 1 {
			t.Fatalf("moves %v", m)
		}
	})
}

// Receipt to the gateway's first thought with 50 sessions started at once
// (each also interpreted, and asked for its repository, meanwhile): every
// session hears it within 10 s; the test logs p50, p99 and the maximum
// (README: "first thought"; run without -race for the numbers). It is a
// measurement, so it runs alone: not in parallel with the package's other
// tests, one database after the other.
func TestLinearFirstThoughtLatency(t *testing.T) {
	for _, d := range databases {
		t.Run(d.name, func(t *testing.T) { measureFirstThought(t, d.env(t)) })
	}
}

func measureFirstThought(t *testing.T, env map[string]string) {
	g, fake, _ := linearOn(t, env)
	const n = 50
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = sessionEvent(t, "created", fmt.Sprintf("session-%02d", i), fmt.Sprintf("issue-%02d", i), "OPS", "")
	}
	sent, answered := make([]time.Time, n), make([]time.Duration, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			sent[i] = time.Now()
			if code, ans := post(t, g.url+"/webhooks/linear", linearHeaders("lin-secret", bodies[i]), bodies[i]); code != 200 {
				t.Errorf("session %d answered %d %v", i, code, ans)
			}
			answered[i] = time.Since(sent[i])
		}()
	}
	close(start)
	wg.Wait()
	first := map[string]time.Time{}
	g.waitFor(t, "50 first thoughts", func() bool {
		for _, a := range fake.ActivityLog() {
			if _, ok := first[a.SessionID]; !ok && a.Content["body"] == linear.FirstThought {
				first[a.SessionID] = a.At
			}
		}
		return len(first) == n
	})
	lat := make([]time.Duration, n)
	for i := range lat {
		lat[i] = first[fmt.Sprintf("session-%02d", i)].Sub(sent[i])
	}
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	p99 := lat[(len(lat)*99+99)/100-1]
	sort.Slice(answered, func(a, b int) bool { return answered[a] < answered[b] })
	t.Logf("%s: first thought after receipt, %d concurrent sessions: p50 %s, p99 %s, max %s (webhook answered: p50 %s, max %s)", t.Name(), n, lat[n/2], p99, lat[n-1], answered[n/2], answered[n-1])
	// Linear's bound is 10 s. Under the race detector the embedded SQLite
	// runs about 20 times slower (measured: p99 0.15–0.5 s without it, 4–9 s
	// with it on a loaded 2-core machine), so there it gets three times as
	// long; PostgreSQL and every normal build keep the 10 s.
	bound := 10 * time.Second
	if raceDetector && strings.HasSuffix(t.Name(), "sqlite") {
		bound = 30 * time.Second
	}
	if lat[n-1] > bound {
		t.Fatalf("a first thought took %s, more than %s", lat[n-1], bound)
	}
	g.idle(t)
}

// GitHub progress end to end: the mention's workspace gets one tracking
// comment and a check run on the pull request's head commit (in_progress,
// linking the workspace page); its lifecycle edits the comment; a burst of
// 50 activities posted through the API edits it at most 10 times; a
// response is a comment of its own; finishing turns the check run to
// success with the summary scrubbed. A failed workspace's check run fails
// with a generic sentence; a cancelled one's is neutral.
func TestGitHubProgressEndToEnd(t *testing.T) {
	t.Parallel()
	onEachDatabase(t, func(t *testing.T, env map[string]string) {
		ctx := context.Background()
		prov := &provisioner{tokens: map[string]string{}}
		provSrv := httptest.NewServer(prov)
		t.Cleanup(provSrv.Close)
		env["REPLICAS_LAUNCHER"], env["REPLICAS_LAUNCHER_URL"], env["REPLICAS_LAUNCHER_SECRET"] = "http", provSrv.URL, "launch-secret"
		g := startGateway(t, env)
		orgID, adaID := seed(t, g, true)
		launchOn := func(pr int) (id, token string) {
			t.Helper()
			m := ada
			m.PR, m.CommentID = pr, int64(5000+pr)
			if code, ans := g.mention(t, m, "gh-secret"); code != 200 {
				t.Fatalf("mention answered %d %v", code, ans)
			}
			g.waitFor(t, fmt.Sprintf("the launch on PR %d", pr), func() bool {
				_ = g.app.db.QueryRow(ctx, `SELECT id FROM workspaces WHERE source LIKE $1 AND status = 'launched'`, fmt.Sprintf(`%%"pull_request":"%d"%%`, pr)).Scan(&id)
				return id != "" && prov.token(id) != ""
			})
			return id, prov.token(id)
		}
		onPR := func(kind string, pr int) []githubtest.Call {
			var out []githubtest.Call
			for _, c := range g.github.Calls() {
				if c.Kind == kind && (strings.Contains(c.Path, fmt.Sprintf("/issues/%d/", pr)) || !strings.Contains(c.Path, "/issues/")) {
					out = append(out, c)
				}
			}
			return out
		}
		workspaceCall := func(token, path, body string) {
			t.Helper()
			if code, ans := post(t, g.url+"/api/v1/workspace/"+path, map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json"}, []byte(body)); code/100 != 2 {
				t.Fatalf("%s %s = %d %v", path, body, code, ans)
			}
		}
		lastEdit := func() string {
			edits := kinds(g.github.Calls(), "comment_edit")
			if len(edits) == 0 {
				return ""
			}
			return edits[len(edits)-1].Body
		}

		id, token := launchOn(1)
		page := "http://gateway.test/workspaces/" + id
		g.waitFor(t, "the tracking comment and the check run", func() bool { return len(kinds(g.github.Calls(), "check_run")) == 1 })
		if c := onPR("comment", 1); len(c) != 1 || !strings.Contains(c[0].Body, "Launched workspace ["+id+"]("+page+")") {
			t.Fatalf("tracking comment %+v", c)
		}
		if c := kinds(g.github.Calls(), "check_run"); c[0].Body != "in_progress  "+page+" "+githubtest.DefaultHeadSHA {
			t.Fatalf("check run %+v", c)
		}
		workspaceCall(token, "events", `{"status":"running"}`)
		g.waitFor(t, "the running edit", func() bool { return strings.Contains(lastEdit(), "is running") })

		before := len(g.github.Calls())
		for i := 1; i <= 50; i++ {
			workspaceCall(token, "activities", fmt.Sprintf(`{"type":"action","action":"Edit","parameter":"file%d.go","result":"step %d"}`, i, i))
		}
		g.waitFor(t, "the burst in the tracking comment", func() bool { return strings.Contains(lastEdit(), "step 50") })
		g.idle(t)
		burst := g.github.Calls()[before:]
		writes := len(kinds(burst, "comment_edit")) + len(kinds(burst, "comment"))
		t.Logf("50 activities: %d tracking comment writes", writes)
		if writes > 10 || len(kinds(burst, "comment")) != 0 {
			t.Fatalf("50 activities made %d comment writes (%d new comments), want at most 10 edits", writes, len(kinds(burst, "comment")))
		}
		workspaceCall(token, "activities", `{"type":"response","body":"All tests pass now."}`)
		g.waitFor(t, "the response comment", func() bool { return calls(g, "comment", "All tests pass now.") == 1 })
		workspaceCall(token, "events", `{"status":"finished","summary":"Fixed it. Token ghp_16C7e42F292c6912E7710c838347Ae178B4a","url":"https://github.com/Codertocat/Hello-World/pull/2"}`)
		g.waitFor(t, "success", func() bool { return len(kinds(g.github.Calls(), "check_run_update")) == 1 })
		if u := kinds(g.github.Calls(), "check_run_update")[0]; u.Body != "completed success "+page+" " {
			t.Fatalf("check run update %+v", u)
		}
		g.waitFor(t, "the finished edit", func() bool { return strings.Contains(lastEdit(), "finished.") })
		if final := lastEdit(); !strings.Contains(final, "Result: https://github.com/Codertocat/Hello-World/pull/2") || strings.Contains(final, "16C7e42F") {
			t.Fatalf("finished tracking comment:\n%s", final)
		}

		// A failure: the check run fails and the comment says so generically.
		id2, token2 := launchOn(2)
		workspaceCall(token2, "events", `{"status":"failed","summary":"git push: remote rejected, key AKIAIOSFODNN7EXAMPLE"}`)
		// (The check run may be created already completed when the job
		// first runs after the change.)
		g.waitFor(t, "failure", func() bool {
			return calls(g, "check_run_update", "completed failure http://gateway.test/workspaces/"+id2)+calls(g, "check_run", "completed failure http://gateway.test/workspaces/"+id2) == 1
		})
		g.waitFor(t, "the failed edit", func() bool {
			failed := "Workspace [" + id2 + "](http://gateway.test/workspaces/" + id2 + ") failed."
			return calls(g, "comment_edit", failed)+calls(g, "comment", failed) >= 1
		})
		// Cancelled: neutral.
		id3, _ := launchOn(3)
		if code, ans := post2(t, "POST", g.url+"/api/v1/workspaces/"+id3+"/cancel", map[string]string{"Authorization": "Bearer " + adaToken(t, g, orgID, adaID)}, ""); code != 200 {
			t.Fatalf("cancel = %d %v", code, ans)
		}
		g.waitFor(t, "neutral", func() bool {
			return calls(g, "check_run_update", "completed neutral http://gateway.test/workspaces/"+id3)+calls(g, "check_run", "completed neutral http://gateway.test/workspaces/"+id3) == 1
		})
		g.idle(t)
		for _, c := range g.github.Calls() {
			if strings.Contains(c.Body, "AKIAIOSFODNN7EXAMPLE") || strings.Contains(c.Body, "remote rejected") || strings.Contains(c.Body, "16C7e42F") {
				t.Errorf("posted a secret or a failure's details: %+v", c)
			}
		}
		if n := len(kinds(g.github.Calls(), "check_run")); n != 3 {
			t.Errorf("%d check runs, want 3", n)
		}
	})
}

func kinds(calls []githubtest.Call, kind string) []githubtest.Call {
	var out []githubtest.Call
	for _, c := range calls {
		if c.Kind == kind {
			out = append(out, c)
		}
	}
	return out
}
