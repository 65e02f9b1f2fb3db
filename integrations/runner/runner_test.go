package runner_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/credstore/workspaceclient"
	"github.com/tryreplicas/gateway/integrations/runner"
	"github.com/tryreplicas/gateway/integrations/runner/standin"
)

var standinBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "standin-*")
	if err != nil {
		panic(err)
	}
	standinBinary = filepath.Join(dir, "standin-agent")
	if out, err := exec.Command("go", "build", "-o", standinBinary, "./standin/standin-agent").CombinedOutput(); err != nil {
		panic(fmt.Sprintf("build the stand-in agent: %v\n%s", err, out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// fakeGateway is the runtime API in memory. Rejecting credential i answers
// next(i) or the exhausted error.
type fakeGateway struct {
	mu         sync.Mutex
	chain      []runner.Credential
	current    int
	exhausted  bool
	rejections []string // "id@version"
	woke       int
	calls      []string // order of API calls
	messages   []runner.Message
	activities []runner.Activity
	events     []runner.Event
	gitToken   string
	cloneURL   string
	changed    chan struct{}
}

func newFakeGateway(chain ...runner.Credential) *fakeGateway {
	return &fakeGateway{chain: chain, changed: make(chan struct{}, 1)}
}

func (g *fakeGateway) signal() {
	select {
	case g.changed <- struct{}{}:
	default:
	}
}

func (g *fakeGateway) note(call string) {
	g.calls = append(g.calls, call)
}

func (g *fakeGateway) Credential(context.Context) (runner.Credential, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.note("credential")
	if g.exhausted || g.current >= len(g.chain) {
		return runner.Credential{}, &workspaceclient.ExhaustedError{Message: "Couldn't authenticate with Claude after multiple attempts"}
	}
	return g.chain[g.current], nil
}

func (g *fakeGateway) Rejected(_ context.Context, c runner.Credential) (runner.Credential, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.note("rejected")
	g.rejections = append(g.rejections, fmt.Sprintf("%s@%d", c.CredentialID, c.Version))
	g.current++
	if g.exhausted || g.current >= len(g.chain) {
		g.exhausted = true
		name := "Claude"
		if c.Agent == "codex" {
			name = "Codex"
		}
		return runner.Credential{}, &workspaceclient.ExhaustedError{Message: "Couldn't authenticate with " + name + " after multiple attempts"}
	}
	return g.chain[g.current], nil
}

func (g *fakeGateway) Wake(context.Context) (runner.Credential, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.note("wake")
	g.woke++
	return g.chain[g.current], nil
}

func (g *fakeGateway) GitCredential(context.Context) (runner.GitCredential, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.note("git-credential")
	return runner.GitCredential{Token: g.gitToken, CloneURL: g.cloneURL, ExpiresAt: time.Now().Add(time.Hour)}, nil
}

func (g *fakeGateway) Messages(ctx context.Context, after int64, wait time.Duration) ([]runner.Message, error) {
	deadline := time.After(wait)
	for {
		g.mu.Lock()
		var out []runner.Message
		for _, m := range g.messages {
			if m.Seq > after {
				out = append(out, m)
			}
		}
		g.mu.Unlock()
		if len(out) > 0 {
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline:
			return nil, nil
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (g *fakeGateway) send(kind, body string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.messages = append(g.messages, runner.Message{Seq: int64(len(g.messages) + 1), Kind: kind, Body: body})
}

func (g *fakeGateway) Activity(_ context.Context, a runner.Activity) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.activities = append(g.activities, a)
	g.signal()
	return nil
}

func (g *fakeGateway) Event(_ context.Context, e runner.Event) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.events = append(g.events, e)
	g.signal()
	return nil
}

func (g *fakeGateway) snapshot() ([]runner.Activity, []runner.Event) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.activities), slices.Clone(g.events)
}

// count is how many activities of type typ carry body.
func (g *fakeGateway) count(typ, body string) int {
	acts, _ := g.snapshot()
	n := 0
	for _, a := range acts {
		if a.Type == typ && strings.Contains(a.Body, body) {
			n++
		}
	}
	return n
}

func (g *fakeGateway) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for !cond() {
		select {
		case <-g.changed:
		case <-time.After(50 * time.Millisecond):
		case <-timeout:
			acts, events := g.snapshot()
			t.Fatalf("timed out waiting for %s; activities %+v, events %+v", what, acts, events)
		}
	}
}

// world is one workspace: a served bare repository, the stand-in agents on
// PATH, a task file and a work directory.
type world struct {
	gw       *fakeGateway
	agents   string // stand-in directory (control.json, calls.jsonl)
	bare     string
	cfg      runner.Config
	gitToken string
}

func newWorld(t *testing.T, agent string, chain ...runner.Credential) *world {
	t.Helper()
	root := t.TempDir()
	w := &world{gw: newFakeGateway(chain...), agents: filepath.Join(root, "bin"), bare: filepath.Join(root, "srv", "Hello-World.git"),
		gitToken: "ghs_unit_" + strings.Repeat("q", 20)}
	for _, d := range []string{w.agents, filepath.Join(root, "srv"), filepath.Join(root, "work")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := standin.Install(w.agents, standinBinary); err != nil {
		t.Fatal(err)
	}
	// A repository with a pull request branch.
	seed := filepath.Join(root, "seed")
	for _, args := range [][]string{
		{"init", "-q", "-b", "main", seed},
		{"-C", seed, "commit", "-q", "--allow-empty", "-m", "initial"},
		{"-C", seed, "checkout", "-q", "-b", "feature-branch"},
		{"-C", seed, "commit", "-q", "--allow-empty", "-m", "feature"},
		{"clone", "-q", "--bare", seed, w.bare},
	} {
		cmd := exec.Command("git", args...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	gitDir, _ := exec.Command("git", "--exec-path").Output()
	backend := &cgi.Handler{Path: filepath.Join(strings.TrimSpace(string(gitDir)), "git-http-backend"),
		Env: []string{"GIT_PROJECT_ROOT=" + filepath.Dir(w.bare), "GIT_HTTP_EXPORT_ALL=1", "REMOTE_USER=x"}}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if _, pw, _ := r.BasicAuth(); pw != w.gitToken {
			rw.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(rw, "bad token", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(rw, r)
	}))
	t.Cleanup(srv.Close)
	w.gw.gitToken, w.gw.cloneURL = w.gitToken, srv.URL+"/Hello-World.git"
	taskFile := filepath.Join(root, "task.json")
	w.writeTask(t, taskFile, agent, "launch")
	w.cfg = runner.Config{TaskFile: taskFile, Dir: filepath.Join(root, "work"), Gateway: w.gw, Path: w.agents + ":" + os.Getenv("PATH"),
		IdleHibernate: time.Minute, PollWait: 200 * time.Millisecond, StopGrace: time.Second}
	return w
}

func (w *world) writeTask(t *testing.T, path, agent, typ string) {
	t.Helper()
	task := map[string]any{"type": typ, "workspace_id": "ws_1", "agent": agent,
		"task":       map[string]any{"title": "Fix the test", "body": "please fix the test", "url": "https://github.com/Codertocat/Hello-World/pull/1"},
		"repository": map[string]any{"full_name": "Codertocat/Hello-World", "ref": "feature-branch"},
		"source":     map[string]any{"kind": "github", "url": "https://github.com/Codertocat/Hello-World/pull/1", "details": map[string]any{"pull_request": "1"}}}
	b, _ := json.Marshal(task)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (w *world) control(t *testing.T, c standin.Control) {
	t.Helper()
	if err := standin.WriteControl(w.agents, c); err != nil {
		t.Fatal(err)
	}
}

func (w *world) calls(t *testing.T) []standin.Call {
	t.Helper()
	calls, err := standin.Calls(w.agents)
	if err != nil {
		t.Fatal(err)
	}
	return calls
}

// start runs the runner until the test ends; the channel gets its result.
func (w *world) start(t *testing.T) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ended := make(chan struct{})
	go func() {
		done <- runner.Run(ctx, w.cfg)
		close(ended)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-ended:
		case <-time.After(10 * time.Second):
			t.Error("the runner did not end")
		}
	})
	return done
}

func wait(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("the runner did not end")
		return nil
	}
}

func claudeOAuth(id, token string, version int64) runner.Credential {
	return runner.Credential{CredentialID: id, Version: version, Agent: "claude", Method: "oauth", Env: map[string]string{"CLAUDE_CODE_OAUTH_TOKEN": token}}
}

func claudeKey(id, key string) runner.Credential {
	return runner.Credential{CredentialID: id, Version: 1, Agent: "claude", Method: "api_key", Env: map[string]string{"ANTHROPIC_API_KEY": key}}
}

func codexOAuth(id, access string, version int64) runner.Credential {
	auth, _ := json.Marshal(map[string]any{"auth_mode": "chatgpt", "OPENAI_API_KEY": nil,
		"tokens": map[string]any{"id_token": "id." + access, "access_token": access, "refresh_token": "rt_secret_" + access, "account_id": "acct"}, "last_refresh": time.Now()})
	return runner.Credential{CredentialID: id, Version: version, Agent: "codex", Method: "oauth", Env: map[string]string{}, Files: map[string]string{".codex/auth.json": string(auth)}}
}

// cmdlinesContaining lists processes whose arguments contain s.
func cmdlinesContaining(s string) []string {
	var out []string
	paths, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(b), s) {
			out = append(out, p+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}

// A task and a follow-up: clone at the PR head with a helper-only token,
// the agent with exactly its credential's environment, activities, --resume,
// a push to the PR branch, and finished with the PR's URL on stop.
func TestConversationClaude(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "claude", claudeOAuth("cred_oauth", "sk-ant-oat01-first", 1))
	w.control(t, standin.Control{Edit: true, Sleep: "300ms"})
	// Watch every process's arguments while the workspace runs.
	stopWatch := make(chan struct{})
	var leaks []string
	var watch sync.WaitGroup
	watch.Add(1)
	go func() {
		defer watch.Done()
		for {
			leaks = append(leaks, cmdlinesContaining(w.gitToken)...)
			select {
			case <-stopWatch:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	w.gw.send("prompt", "please fix the test")
	done := w.start(t)
	w.gw.waitFor(t, "the first answer", func() bool { return w.gw.count("response", "Done: please fix the test") == 1 })
	w.gw.send("prompt", "also update the docs")
	w.gw.waitFor(t, "the follow-up's answer", func() bool { return w.gw.count("response", "Follow-up done: also update the docs") == 1 })
	w.gw.send("stop", "")
	if err := wait(t, done); err != nil {
		t.Fatal(err)
	}
	close(stopWatch)
	watch.Wait()
	if len(leaks) > 0 {
		t.Fatalf("the git token is in process arguments: %q", leaks)
	}
	calls := w.calls(t)
	if len(calls) != 2 {
		t.Fatalf("%d agent calls, want 2", len(calls))
	}
	first, second := calls[0], calls[1]
	if !slices.Equal(first.Args[:5], []string{"-p", "--output-format", "stream-json", "--verbose", "--permission-mode"}) || first.Resume != "" {
		t.Fatalf("first call args %q", first.Args)
	}
	if !strings.Contains(first.Prompt, "Fix the test") || second.Resume == "" || second.Prompt != "also update the docs" {
		t.Fatalf("prompts %q / %q, resume %q", first.Prompt, second.Prompt, second.Resume)
	}
	if first.Credential != "sk-ant-oat01-first" || first.Home != filepath.Join(w.cfg.Dir, "home") || first.Dir != filepath.Join(w.cfg.Dir, "repo") {
		t.Fatalf("first call %+v", first)
	}
	for _, name := range first.EnvNames {
		if strings.HasPrefix(name, "REPLICAS_") || strings.HasPrefix(name, "GIT_") || name == "ANTHROPIC_API_KEY" {
			t.Fatalf("the agent got %s: %q", name, first.EnvNames)
		}
	}
	acts, events := w.gw.snapshot()
	var types []string
	for _, a := range acts {
		types = append(types, a.Type)
	}
	if !slices.Contains(types, "thought") || !slices.Contains(types, "action") {
		t.Fatalf("activities %q", types)
	}
	last := events[len(events)-1]
	if events[0].Status != "running" || last.Status != "finished" || last.URL != strings.TrimSuffix(w.gw.cloneURL, ".git")+"/pull/1" ||
		!strings.Contains(last.Summary, "Follow-up done") {
		t.Fatalf("events %+v", events)
	}
	// Pushed to the PR's branch; no token anywhere in the clone's config.
	out, err := exec.Command("git", "--git-dir", w.bare, "show", "feature-branch:STANDIN.md").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "also update the docs") {
		t.Fatalf("pushed STANDIN.md: %s %v", out, err)
	}
	cfg, err := os.ReadFile(filepath.Join(w.cfg.Dir, "repo", ".git", "config"))
	if err != nil || strings.Contains(string(cfg), w.gitToken) || strings.Contains(string(cfg), "helper") {
		t.Fatalf("clone config holds credentials: %s %v", cfg, err)
	}
	if n := countFilesContaining(t, w.cfg.Dir, w.gitToken); n != 0 {
		t.Fatalf("%d files of the work directory hold the git token", n)
	}
}

func countFilesContaining(t *testing.T, dir, s string) int {
	n := 0
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), s) {
				t.Logf("%s holds it", p)
				n++
			}
		}
		return nil
	})
	return n
}

// An authentication error ends the agent at once, reports the credential
// at its version, shows "Re-authenticating …", writes the next credential
// and replays the same message.
func TestReauthenticateAndReplay(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		agent   string
		chain   []runner.Credential
		refused string
		label   string
	}{
		{"claude", []runner.Credential{claudeOAuth("c1", "sk-ant-oat01-old", 3), claudeOAuth("c1", "sk-ant-oat01-new", 4)}, "sk-ant-oat01-old", "Re-authenticating Claude"},
		{"claude", []runner.Credential{claudeOAuth("c1", "sk-ant-oat01-old", 3), claudeKey("c2", "sk-ant-api03-key")}, "sk-ant-oat01-old", "Re-authenticating Claude"},
		{"codex", []runner.Credential{codexOAuth("x1", "at-old", 1), codexOAuth("x1", "at-new", 2)}, "at-old", "Re-authenticating Codex"},
	} {
		t.Run(tc.agent+"/"+tc.chain[1].Method, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, tc.agent, tc.chain...)
			w.control(t, standin.Control{Reject: []string{tc.refused}})
			w.gw.send("prompt", "please fix the test")
			start := time.Now()
			w.start(t)
			w.gw.waitFor(t, "the replayed answer", func() bool { return w.gw.count("response", "Done: please fix the test") == 1 })
			if took := time.Since(start); took > 10*time.Second {
				t.Fatalf("replay took %v: the runner waited for the CLI's own retries", took)
			}
			if w.gw.count("thought", tc.label) != 1 {
				t.Fatalf("no %q activity", tc.label)
			}
			w.gw.mu.Lock()
			rejections := slices.Clone(w.gw.rejections)
			w.gw.mu.Unlock()
			if want := fmt.Sprintf("%s@%d", tc.chain[0].CredentialID, tc.chain[0].Version); !slices.Equal(rejections, []string{want}) {
				t.Fatalf("rejections %q, want [%s]", rejections, want)
			}
			calls := w.calls(t)
			if len(calls) != 2 || calls[0].Prompt != calls[1].Prompt || calls[1].Refused || calls[0].Credential == calls[1].Credential {
				t.Fatalf("calls %+v", calls)
			}
			for _, c := range calls {
				if c.RefreshTokenInAuthJSON {
					t.Fatal("auth.json carried the refresh token")
				}
			}
		})
	}
}

// Every credential refused: the exact message as an error activity, and the
// runner keeps waiting for the next message.
func TestExhaustedKeepsRunning(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "claude", claudeOAuth("c1", "sk-ant-oat01-a", 1), claudeKey("c2", "sk-ant-api03-b"))
	w.control(t, standin.Control{RejectAll: true})
	w.gw.send("prompt", "please fix the test")
	done := w.start(t)
	const exhausted = "Couldn't authenticate with Claude after multiple attempts"
	w.gw.waitFor(t, "the exhausted message", func() bool { return w.gw.count("error", exhausted) == 1 })
	w.gw.send("prompt", "try again")
	w.gw.waitFor(t, "the second exhausted message", func() bool { return w.gw.count("error", exhausted) == 2 })
	select {
	case err := <-done:
		t.Fatalf("the runner ended: %v", err)
	default:
	}
	if n := len(w.calls(t)); n != 2 {
		t.Fatalf("%d agent calls, want 2 (the second message finds nothing to run with)", n)
	}
}

// stop ends the agent's whole process group within 5 s.
func TestStopEndsProcessGroup(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "claude", claudeKey("c2", "sk-ant-api03-b"))
	w.control(t, standin.Control{Sleep: "10m"})
	w.gw.send("prompt", "run for a long time")
	done := w.start(t)
	var call standin.Call
	w.gw.waitFor(t, "the long run", func() bool {
		calls := w.calls(t)
		if len(calls) == 1 && calls[0].ChildPID != 0 {
			call = calls[0]
			return true
		}
		return false
	})
	start := time.Now()
	w.gw.send("stop", "")
	if err := wait(t, done); err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{call.PID, call.ChildPID} {
		for syscall.Kill(pid, 0) == nil && !zombie(pid) {
			if time.Since(start) > 5*time.Second {
				t.Fatalf("process %d still runs 5 s after stop", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Logf("agent group ended %v after stop", time.Since(start))
	_, events := w.gw.snapshot()
	if events[len(events)-1].Status != "finished" {
		t.Fatalf("events %+v", events)
	}
}

func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return strings.HasPrefix(rest, "Z")
}

// Idle → hibernated and exit; woken, the runner calls wake before anything
// else, keeps its clone and resumes the conversation with the credential the
// re-resolved chain names.
func TestHibernateAndWake(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "claude", claudeOAuth("c1", "sk-ant-oat01-a", 1))
	w.cfg.IdleHibernate = 500 * time.Millisecond
	w.control(t, standin.Control{})
	w.gw.send("prompt", "please fix the test")
	if err := wait(t, w.start(t)); err != nil {
		t.Fatal(err)
	}
	_, events := w.gw.snapshot()
	if events[len(events)-1].Status != "hibernated" || w.gw.count("response", "Done") != 1 {
		t.Fatalf("events %+v", events)
	}
	// Asleep: a new credential heads the chain; a message wakes the workspace.
	w.gw.mu.Lock()
	w.gw.chain = []runner.Credential{claudeKey("c9", "sk-ant-api03-added-while-asleep")}
	w.gw.calls = nil
	w.gw.mu.Unlock()
	w.writeTask(t, w.cfg.TaskFile, "claude", "wake")
	w.gw.send("prompt", "and the docs")
	w.start(t)
	w.gw.waitFor(t, "the answer after waking", func() bool { return w.gw.count("response", "Follow-up done: and the docs") == 1 })
	w.gw.mu.Lock()
	calls := slices.Clone(w.gw.calls)
	w.gw.mu.Unlock()
	if len(calls) == 0 || calls[0] != "wake" || slices.Contains(calls, "git-credential") && slices.Index(calls, "git-credential") < 1 {
		t.Fatalf("API calls after waking %q", calls)
	}
	agentCalls := w.calls(t)
	if last := agentCalls[len(agentCalls)-1]; last.Credential != "sk-ant-api03-added-while-asleep" || last.Resume == "" {
		t.Fatalf("after waking: %+v", last)
	}
}

// An authentication error in the middle of a conversation (the stand-in
// fails its second call) is replayed with the next credential and still
// resumes the conversation.
func TestAuthErrorMidConversation(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "claude", claudeOAuth("c1", "sk-ant-oat01-a", 1), claudeKey("c2", "sk-ant-api03-b"))
	w.control(t, standin.Control{FailCalls: []int{2}})
	w.gw.send("prompt", "please fix the test")
	w.start(t)
	w.gw.waitFor(t, "the first answer", func() bool { return w.gw.count("response", "Done: please fix the test") == 1 })
	w.gw.send("prompt", "and the docs")
	w.gw.waitFor(t, "the replayed follow-up", func() bool { return w.gw.count("response", "Follow-up done: and the docs") == 1 })
	calls := w.calls(t)
	if len(calls) != 3 || !calls[1].Refused || calls[2].Credential != "sk-ant-api03-b" || calls[2].Resume == "" || calls[2].Resume != calls[1].Resume ||
		calls[2].Prompt != "and the docs" {
		t.Fatalf("calls %+v", calls)
	}
	if w.gw.count("thought", "Re-authenticating Claude") != 1 {
		t.Fatal("no re-authentication shown")
	}
}
