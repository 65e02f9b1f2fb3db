package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// databases are the two configurations the conversation tests run on.
var databases = []struct {
	name string
	env  func(t *testing.T) map[string]string
}{
	{"postgres", pgEnv},
	{"sqlite", func(*testing.T) map[string]string { return map[string]string{"DATABASE_URL": ""} }},
}

// launcherFile reads the dry-run launcher's file for a request, waiting for
// it to be written.
func (g *gw) launcherFile(t *testing.T, name string) map[string]any {
	t.Helper()
	path := filepath.Join(g.app.cfg.Database.DataDir, "launches", name+".json")
	var out map[string]any
	g.waitFor(t, "launcher request "+name, func() bool {
		raw, err := os.ReadFile(path)
		return err == nil && json.Unmarshal(raw, &out) == nil
	})
	return out
}

// conversation is a workspace's messages as "kind:body" lines, numbered in order.
func (g *gw) conversation(t *testing.T, id string) []string {
	t.Helper()
	list, err := g.app.launch.Messages(context.Background(), id, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i, m := range list {
		if m.Seq != int64(i+1) {
			t.Fatalf("message %d has seq %d", i+1, m.Seq)
		}
		out = append(out, string(m.Kind)+":"+m.Body)
	}
	return out
}

func (g *gw) workspaceIDs(t *testing.T, userID string) []string {
	t.Helper()
	rows, err := g.app.db.Query(context.Background(), `SELECT id FROM workspaces WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// addBob makes a second linked member, GitHub account "bob".
func addBob(t *testing.T, g *gw, orgID string) string {
	t.Helper()
	ctx, a := context.Background(), g.app
	bob, err := a.identity.EnsureUser(ctx, a.db, "bob@example.com", "Bob")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.identity.AddMember(ctx, a.db, orgID, bob.ID, identity.RoleMember); err != nil {
		t.Fatal(err)
	}
	if _, err := a.identity.LinkGitHub(ctx, a.db, identity.LinkRequest{UserID: bob.ID, GitHubID: 5150, Login: "bob", Via: identity.LinkedViaOAuth}); err != nil {
		t.Fatal(err)
	}
	return bob.ID
}

// TestGitHubConversation: on one pull request, Ada's second mention is a
// message to her workspace (👀, no new workspace), Bob gets his own, a
// message wakes her hibernated workspace, "@tryreplicas stop" stops it, and
// her next mention starts a workspace that links the stopped one.
func TestGitHubConversation(t *testing.T) {
	t.Parallel()
	for _, db := range databases {
		t.Run(db.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			g := startGateway(t, db.env(t))
			orgID, adaID := seed(t, g, true)
			bobID := addBob(t, g, orgID)
			say := func(commentID int64, login string, body string) {
				t.Helper()
				m := ada
				m.CommentID, m.Body = commentID, body
				if login == "bob" {
					m.Login, m.GitHubID = "bob", 5150
				}
				if code, ans := g.mention(t, m, "gh-secret"); code != 200 {
					t.Fatalf("mention answered %d %v", code, ans)
				}
			}

			say(1, "ada", "@tryreplicas please fix the test")
			g.waitFor(t, "the launch", func() bool { return calls(g, "comment", "Launched workspace") == 1 })
			say(2, "ada", "@tryreplicas also fix the lint")
			g.waitFor(t, "the second 👀", func() bool { return calls(g, "reaction", "eyes") == 2 })
			g.idle(t)
			ids := g.workspaceIDs(t, adaID)
			if len(ids) != 1 {
				t.Fatalf("Ada has %d workspaces, want 1", len(ids))
			}
			first := ids[0]
			if got := strings.Join(g.conversation(t, first), "\n"); got != "prompt:@tryreplicas please fix the test\nprompt:@tryreplicas also fix the lint" {
				t.Fatalf("conversation:\n%s", got)
			}
			if launch := g.launcherFile(t, first); launch["type"] != "launch" {
				t.Fatalf("launch request = %v", launch)
			}

			say(3, "bob", "@tryreplicas I want mine")
			g.waitFor(t, "Bob's workspace", func() bool { return len(g.workspaceIDs(t, bobID)) == 1 })

			if _, err := g.app.launch.Update(ctx, first, launch.Update{Status: launch.StatusHibernated}); err != nil {
				t.Fatal(err)
			}
			say(4, "ada", "@tryreplicas and the docs")
			if wake := g.launcherFile(t, first+".wake-3"); wake["type"] != "wake" || wake["seq"] != float64(3) || wake["workspace_token"] != nil {
				t.Fatalf("wake request = %v", wake)
			}

			say(5, "ada", "@tryreplicas stop")
			if stop := g.launcherFile(t, first+".stop-4"); stop["type"] != "stop" || stop["workspace_id"] != first {
				t.Fatalf("stop request = %v", stop)
			}
			g.waitFor(t, "the cancellation in the tracking comment", func() bool {
				return calls(g, "comment_edit", "was cancelled")+calls(g, "comment", "was cancelled") >= 1
			})
			if got := g.conversation(t, first); len(got) != 4 || got[3] != "stop:@tryreplicas stop" {
				t.Fatalf("conversation after stop: %q", got)
			}

			say(6, "ada", "@tryreplicas start over")
			g.waitFor(t, "the next workspace", func() bool { return len(g.workspaceIDs(t, adaID)) == 2 })
			next := g.workspaceIDs(t, adaID)[1]
			msgs := g.conversation(t, next)
			if len(msgs) != 1 || !strings.Contains(msgs[0], "http://gateway.test/workspaces/"+first) {
				t.Fatalf("first message of the next workspace: %q", msgs)
			}
			w, err := g.app.launch.Store().Get(ctx, g.app.db, next)
			if err != nil || w.PreviousWorkspaceID != first || w.Thread != "github:186853002#1" {
				t.Fatalf("next workspace = %+v, %v", w, err)
			}
			g.idle(t)
			if n := calls(g, "reaction", "eyes"); n != 6 {
				t.Fatalf("%d 👀, want one per mention", n)
			}
		})
	}
}

// TestConcurrentMentionsOneThread: two mentions of one person on one pull
// request at once → one workspace, two messages.
func TestConcurrentMentionsOneThread(t *testing.T) {
	t.Parallel()
	for _, db := range databases {
		t.Run(db.name, func(t *testing.T) {
			t.Parallel()
			g := startGateway(t, db.env(t))
			_, adaID := seed(t, g, true)
			var wg sync.WaitGroup
			for i := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					m := ada
					m.PR, m.CommentID, m.Body = 9, int64(900+i), fmt.Sprintf("@tryreplicas part %d", i)
					if code, ans := g.mention(t, m, "gh-secret"); code != 200 {
						t.Errorf("mention answered %d %v", code, ans)
					}
				}()
			}
			wg.Wait()
			g.waitFor(t, "both processed", func() bool {
				return g.count(t, `SELECT COUNT(*) FROM deliveries WHERE processed_at IS NOT NULL`) == 2
			})
			ids := g.workspaceIDs(t, adaID)
			if len(ids) != 1 {
				t.Fatalf("%d workspaces, want 1", len(ids))
			}
			if got := g.conversation(t, ids[0]); len(got) != 2 {
				t.Fatalf("conversation = %q", got)
			}
		})
	}
}

// TestLinearConversation: a prompt in the session is a message to its
// workspace (and the session hears so); the stop signal stops it, and the
// session gets the final response.
func TestLinearConversation(t *testing.T) {
	t.Parallel()
	for _, db := range databases {
		t.Run(db.name, func(t *testing.T) {
			t.Parallel()
			vars := map[string]string{}
			if db.name == "sqlite" {
				vars["DATABASE_URL"] = ""
			}
			g, fake, orgID := linearGatewayWith(t, vars)
			mapTeam(t, g, orgID) // a session without a repository would be asked for one
			event := func(action, activityID, body, signal string) []byte {
				base, err := linearAssign{Email: "ada@example.com", ActorID: "actor-ada", IssueID: "issue-c", Identifier: "ENG-7", AppUserID: appUser, OrganizationID: linOrg}.build(time.Now())
				if err != nil {
					t.Fatal(err)
				}
				return edit(t, base, func(p map[string]any) {
					issue := p["data"].(map[string]any)
					for _, k := range []string{"data", "updatedFrom", "actor"} {
						delete(p, k)
					}
					ada := map[string]any{"id": "actor-ada", "name": "Ada", "email": "ada@example.com"}
					p["type"], p["action"], p["appUserId"] = "AgentSessionEvent", action, appUser
					p["agentSession"] = map[string]any{"id": "session-c", "issue": issue, "creator": ada}
					if action == "prompted" {
						act := map[string]any{"id": activityID, "content": map[string]any{"type": "prompt", "body": body}, "user": ada}
						if signal != "" {
							act["signal"] = signal
						}
						p["agentActivity"] = act
					}
				})
			}
			if code := g.linear(t, event("created", "", "", "")); code != 200 {
				t.Fatal(code)
			}
			g.waitFor(t, "the launch", func() bool { return g.count(t, `SELECT COUNT(*) FROM workspaces WHERE status = 'launched'`) == 1 })
			var id string
			if err := g.app.db.QueryRow(context.Background(), `SELECT id FROM workspaces`).Scan(&id); err != nil {
				t.Fatal(err)
			}
			if code := g.linear(t, event("prompted", "act-1", "also update the docs", "")); code != 200 {
				t.Fatal(code)
			}
			g.waitFor(t, "the note in the session", func() bool {
				return strings.Contains(strings.Join(fake.Activities(), "\n"), "passed on to the session's Replicas workspace")
			})
			if got := g.conversation(t, id); len(got) != 2 || got[1] != "prompt:also update the docs" {
				t.Fatalf("conversation = %q", got)
			}
			if code := g.linear(t, event("prompted", "act-2", "Stop", "stop")); code != 200 {
				t.Fatal(code)
			}
			if stop := g.launcherFile(t, id+".stop-3"); stop["type"] != "stop" {
				t.Fatalf("stop request = %v", stop)
			}
			g.waitFor(t, "the final response", func() bool {
				return strings.Contains(strings.Join(fake.Activities(), "\n"), "response: Workspace ["+id)
			})
			g.idle(t)
			if n := g.count(t, `SELECT COUNT(*) FROM workspaces`); n != 1 {
				t.Fatalf("%d workspaces, want 1", n)
			}
			if got := g.conversation(t, id); len(got) != 3 || got[2] != "stop:Stop" {
				t.Fatalf("conversation = %q", got)
			}
		})
	}
}
