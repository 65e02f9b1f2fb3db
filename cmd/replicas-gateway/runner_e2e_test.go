package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/credstore"
	"github.com/tryreplicas/gateway/credstore/oauthrefresh"
	"github.com/tryreplicas/gateway/credstore/oauthrefresh/strictoauth"
	"github.com/tryreplicas/gateway/integrations/launch"
	"github.com/tryreplicas/gateway/integrations/runner/standin"
)

// localWorld is a gateway with the local launcher, whose runners run the
// stand-in agent (this test binary as `workspace stand-in`), a strict OAuth
// provider for Claude, and Codertocat/Hello-World served over git.
type localWorld struct {
	*gw
	agents string
	oauth  *strictoauth.Server
	login  strictoauth.Tokens
	orgID  string
	adaID  string
	bare   string
	logs   *syncBuffer
	// leaks collects process arguments that held a git token.
	mu     sync.Mutex
	leaks  []string
	stopFn func()
}

func startLocalWorld(t *testing.T, dbEnv map[string]string, idle string, withOAuth bool) *localWorld {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	w := &localWorld{agents: t.TempDir(), oauth: strictoauth.New(), logs: &syncBuffer{}}
	t.Cleanup(w.oauth.Close)
	if err := standin.Install(w.agents, exe, "workspace", "stand-in"); err != nil {
		t.Fatal(err)
	}
	env := dbEnv
	env["REPLICAS_LAUNCHER"], env["REPLICAS_IDLE_HIBERNATE"] = "local", idle
	env["CLAUDE_OAUTH_TOKEN_URL"], env["CLAUDE_OAUTH_CLIENT_ID"] = w.oauth.URL, strictoauth.ClientID
	env[agentPathVar], env["REPLICAS_PUBLIC_URL"] = w.agents, selfURL
	w.gw = startGatewayLog(t, env, slog.New(slog.NewJSONHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		logs, _ := filepath.Glob(filepath.Join(w.app.cfg.Database.DataDir, "workspaces", "*", "runner.log"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			t.Logf("%s:\n%s", l, b)
		}
		calls, _ := standin.Calls(w.agents)
		t.Logf("agent calls: %+v", calls)
		t.Logf("github calls: %+v", w.github.Calls())
	})
	w.orgID, w.adaID = seed(t, w.gw, true)
	if withOAuth {
		ctx := context.Background()
		if w.login, err = w.oauth.Login(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := w.app.creds.Put(ctx, w.app.db, credstore.Owner{Scope: "user", ID: w.adaID}, "claude", "oauth",
			credstore.Secret{AccessToken: w.login.AccessToken, RefreshToken: w.login.RefreshToken, ExpiresAt: time.Now().Add(time.Hour)}, credstore.Change{ActorID: w.adaID}); err != nil {
			t.Fatal(err)
		}
	}
	w.bare = bareRepo(t, t.TempDir(), "Hello-World")
	w.github.ServeGit("Codertocat/Hello-World", w.bare)
	// Every process's arguments are read while the workspaces run.
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			for _, tok := range w.github.TokenRequests() {
				if found := cmdlinesContaining(tok.Token); len(found) > 0 {
					w.mu.Lock()
					w.leaks = append(w.leaks, found...)
					w.mu.Unlock()
				}
			}
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	w.stopFn = func() { close(done); wg.Wait() }
	return w
}

func cmdlinesContaining(s string) []string {
	var out []string
	paths, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(s)) {
			out = append(out, p)
		}
	}
	return out
}

func (w *localWorld) control(t *testing.T, c standin.Control) {
	t.Helper()
	if err := standin.WriteControl(w.agents, c); err != nil {
		t.Fatal(err)
	}
}

func (w *localWorld) calls(t *testing.T) []standin.Call {
	t.Helper()
	calls, err := standin.Calls(w.agents)
	if err != nil {
		t.Fatal(err)
	}
	return calls
}

// comment sends a mention comment by Ada on the PR.
func (w *localWorld) comment(t *testing.T, id int64, body string) {
	t.Helper()
	m := ada
	m.CommentID, m.Body = id, body
	if code, out := w.mention(t, m, "gh-secret"); code != 200 {
		t.Fatalf("mention %q: %d %v", body, code, out)
	}
}

func (w *localWorld) said(contains string) bool {
	for _, c := range w.github.Calls() {
		if (c.Kind == "comment" || c.Kind == "comment_edit") && strings.Contains(c.Body, contains) {
			return true
		}
	}
	return false
}

func (w *localWorld) status(t *testing.T, id string) launch.Status {
	t.Helper()
	ws, err := w.app.launch.Store().Get(context.Background(), w.app.db, id)
	if err != nil {
		t.Fatal(err)
	}
	return ws.Status
}

func (w *localWorld) workspaceIDs(t *testing.T) []string {
	t.Helper()
	list, err := w.app.launch.Store().List(context.Background(), w.app.db, w.orgID, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, ws := range list {
		ids = append(ids, ws.ID)
	}
	return ids
}

func (w *localWorld) running(id string) bool {
	return w.app.launcher.(*launch.LocalLauncher).Running(id)
}

// checkNoGitToken: no git token in any process's arguments during the run,
// in the gateway's log, in the runners' logs, or in the clones' config.
func (w *localWorld) checkNoGitToken(t *testing.T) {
	t.Helper()
	w.stopFn()
	tokens := w.github.TokenRequests()
	if len(tokens) == 0 {
		t.Fatal("no git credential was minted")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.leaks) > 0 {
		t.Fatalf("git tokens in process arguments: %q", w.leaks)
	}
	var files []string
	_ = filepath.Walk(w.app.cfg.Database.DataDir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && (fi.Name() == "runner.log" || fi.Name() == "config" && strings.HasSuffix(filepath.Dir(p), ".git")) {
			files = append(files, p)
		}
		return nil
	})
	if len(files) == 0 {
		t.Fatal("no runner logs or clones found")
	}
	for _, tok := range tokens {
		if bytes.Contains(w.logs.Bytes(), []byte(tok.Token)) {
			t.Fatal("a git token is in the gateway's log")
		}
		for _, f := range files {
			if b, _ := os.ReadFile(f); bytes.Contains(b, []byte(tok.Token)) {
				t.Fatalf("a git token is in %s", f)
			}
		}
	}
}

// A mention runs the agent in a local workspace: clone, re-authentication
// with one refresh, follow-up with --resume, fallback when the rotation is
// refused, stop within 5 s and finished; then every credential refused ends
// with the exact message and the runner keeps running.
func TestLocalWorkspaceEndToEnd(t *testing.T) {
	for _, db := range databases {
		t.Run(db.name, func(t *testing.T) {
			w := startLocalWorld(t, db.env(t), "30m", true)
			// The provider refuses Ada's first access token: one refresh, replay.
			w.control(t, standin.Control{Reject: []string{w.login.AccessToken}, Edit: true})
			w.comment(t, 1001, "@tryreplicas please fix the test")
			w.waitFor(t, "the replayed answer", func() bool { return len(w.calls(t)) == 2 && w.said("Done:") })
			calls := w.calls(t)
			if !calls[0].Refused || calls[1].Refused || calls[0].Prompt != calls[1].Prompt || calls[1].Credential == w.login.AccessToken ||
				!strings.HasPrefix(calls[1].Dir, w.app.cfg.Database.DataDir) {
				t.Fatalf("calls %+v", calls)
			}
			if n := w.oauth.Refreshes(); n != 1 {
				t.Fatalf("%d refreshes, want 1", n)
			}
			ids := w.workspaceIDs(t)
			if len(ids) != 1 {
				t.Fatalf("workspaces %v", ids)
			}
			wsID := ids[0]
			w.waitFor(t, "the re-authentication on the tracking comment", func() bool {
				return w.said("Re-authenticating Claude") || activityRecorded(t, w.gw, wsID, "Re-authenticating Claude")
			})

			// A follow-up from Ada on the same PR resumes the conversation.
			w.comment(t, 1002, "@tryreplicas also update the docs")
			w.waitFor(t, "the follow-up", func() bool { return len(w.calls(t)) == 3 && w.said("Follow-up done") })
			calls = w.calls(t)
			if calls[2].Resume == "" || !strings.Contains(calls[2].Prompt, "also update the docs") || calls[2].Credential != calls[1].Credential {
				t.Fatalf("follow-up call %+v", calls[2])
			}

			// The grant dies upstream: the next rejection's refresh is refused,
			// the OAuth credential becomes unusable, the org key serves.
			ep := oauthrefresh.Endpoint{URL: w.oauth.URL, ClientID: strictoauth.ClientID}
			if _, err := ep.Refresh(context.Background(), w.login.RefreshToken); !oauthrefresh.IsRejected(err) {
				t.Fatalf("reuse of a rotated refresh token was accepted: %v", err)
			}
			w.control(t, standin.Control{Reject: []string{calls[2].Credential}})
			w.comment(t, 1003, "@tryreplicas and the changelog")
			w.waitFor(t, "the fallback", func() bool { return len(w.calls(t)) == 5 })
			calls = w.calls(t)
			if !calls[3].Refused || calls[4].Credential != "sk-ant-api03-e2e-key" || calls[4].Refused || calls[4].Prompt != calls[3].Prompt {
				t.Fatalf("fallback calls %+v", calls[3:])
			}

			// stop ends the agent's process group within 5 s; finished.
			w.control(t, standin.Control{Sleep: "10m"})
			w.comment(t, 1004, "@tryreplicas run the whole suite")
			w.waitFor(t, "the long run", func() bool { c := w.calls(t); return len(c) == 6 && c[5].ChildPID != 0 })
			long := w.calls(t)[5]
			comment := time.Now()
			w.comment(t, 1005, "@tryreplicas stop")
			// The clock starts when the stop message is recorded (the
			// workspace is stopping): from there the group has 5 s.
			var start time.Time
			w.waitFor(t, "the stop message", func() bool {
				if s := w.status(t, wsID); s == launch.StatusStopping || s == launch.StatusFinished {
					start = time.Now()
					return true
				}
				return false
			})
			w.waitFor(t, "the agent's group to end", func() bool { return gone(long.PID) && gone(long.ChildPID) })
			if took := time.Since(start); took > 5*time.Second {
				t.Fatalf("stop took %v", took)
			}
			t.Logf("agent group ended %v after the stop message was recorded (%v after the comment)", time.Since(start), time.Since(comment))
			w.waitFor(t, "finished", func() bool { return w.status(t, wsID) == launch.StatusFinished })
			ws, _ := w.app.launch.Store().Get(context.Background(), w.app.db, wsID)
			if ws.ResultURL != w.github.URL+"/Codertocat/Hello-World/pull/1" {
				t.Fatalf("result URL %q", ws.ResultURL)
			}

			// A new workspace where every credential is refused: the exact
			// message, and the runner waits for the next message.
			w.control(t, standin.Control{RejectAll: true})
			w.comment(t, 1006, "@tryreplicas try once more")
			const exhausted = "Couldn't authenticate with Claude after multiple attempts"
			var second string
			w.waitFor(t, "the exhausted message", func() bool {
				for _, id := range w.workspaceIDs(t) {
					if id != wsID {
						second = id
					}
				}
				return second != "" && (w.said(exhausted) || activityRecorded(t, w.gw, second, exhausted))
			})
			if !w.running(second) {
				t.Fatal("the runner ended after the exhausted message")
			}
			w.checkNoGitToken(t)
		})
	}
}

// Idle → hibernated; a credential added while asleep; a follow-up wakes the
// workspace, which re-resolves its chain and uses it.
func TestLocalWorkspaceHibernateWake(t *testing.T) {
	for _, db := range databases {
		t.Run(db.name, func(t *testing.T) {
			w := startLocalWorld(t, db.env(t), "2s", false)
			w.control(t, standin.Control{})
			w.comment(t, 1001, "@tryreplicas please fix the test")
			var wsID string
			w.waitFor(t, "hibernation", func() bool {
				if ids := w.workspaceIDs(t); len(ids) == 1 {
					wsID = ids[0]
				}
				return wsID != "" && w.status(t, wsID) == launch.StatusHibernated && !w.running(wsID)
			})
			if calls := w.calls(t); len(calls) != 1 || calls[0].Credential != "sk-ant-api03-e2e-key" {
				t.Fatalf("calls %+v", calls)
			}
			ctx := context.Background()
			if _, err := w.app.creds.Put(ctx, w.app.db, credstore.Owner{Scope: "user", ID: w.adaID}, "claude", "api_key",
				credstore.Secret{APIKey: "sk-ant-api03-added-while-asleep"}, credstore.Change{ActorID: w.adaID}); err != nil {
				t.Fatal(err)
			}
			w.comment(t, 1002, "@tryreplicas also update the docs")
			w.waitFor(t, "the answer after waking", func() bool { return len(w.calls(t)) == 2 })
			after := w.calls(t)[1]
			if after.Credential != "sk-ant-api03-added-while-asleep" || after.Resume == "" {
				t.Fatalf("after waking: %+v", after)
			}
			w.checkNoGitToken(t)
		})
	}
}

// gone says the process has exited (or is a zombie nobody waited for yet).
func gone(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return true
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return strings.HasPrefix(rest, "Z")
}

// activityRecorded says an activity of the workspace carries text.
func activityRecorded(t *testing.T, g *gw, wsID, text string) bool {
	t.Helper()
	list, err := g.app.activity.Store().Latest(context.Background(), g.app.db, wsID, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range list {
		if strings.Contains(a.Body, text) {
			return true
		}
	}
	return false
}
