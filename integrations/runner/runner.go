package runner

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tryreplicas/gateway/credstore/workspaceclient"
)

// Defaults of Config.
const (
	DefaultIdleHibernate = 30 * time.Minute
	DefaultPollWait      = 30 * time.Second
	// StopGrace is how long the agent's process group has between SIGTERM
	// and SIGKILL: a stop ends it well within 5 s.
	DefaultStopGrace = 2 * time.Second
	// maxReplays bounds the replays of one message: an OAuth credential the
	// provider keeps refusing right after rotation would rotate forever.
	maxReplays = 6
)

// Config is everything the runner needs; FromEnv reads it from the launch
// environment.
type Config struct {
	GatewayURL string
	Token      string // the workspace token
	TaskFile   string // the launch request, JSON
	// Dir holds the clone (repo/), the agent's HOME (home/) and the
	// runner's state (state.json) across hibernation.
	Dir           string
	IdleHibernate time.Duration
	// Path is the PATH the agent and git are looked up on and run with.
	Path string
	// Gateway replaces the HTTP client (tests).
	Gateway   Gateway
	Log       *slog.Logger
	PollWait  time.Duration
	StopGrace time.Duration
}

// FromEnv reads REPLICAS_GATEWAY_URL, REPLICAS_WORKSPACE_TOKEN,
// REPLICAS_TASK_FILE and REPLICAS_IDLE_HIBERNATE; the work directory is the
// current one.
func FromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{GatewayURL: getenv("REPLICAS_GATEWAY_URL"), Token: getenv("REPLICAS_WORKSPACE_TOKEN"),
		TaskFile: getenv("REPLICAS_TASK_FILE"), Path: getenv("PATH"), IdleHibernate: DefaultIdleHibernate}
	var missing []string
	for k, v := range map[string]string{"REPLICAS_GATEWAY_URL": cfg.GatewayURL, "REPLICAS_WORKSPACE_TOKEN": cfg.Token, "REPLICAS_TASK_FILE": cfg.TaskFile} {
		if v == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return cfg, fmt.Errorf("%s must be set (the launcher sets them)", strings.Join(missing, ", "))
	}
	if v := getenv("REPLICAS_IDLE_HIBERNATE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return cfg, fmt.Errorf("REPLICAS_IDLE_HIBERNATE: %q is not a positive Go duration", v)
		}
		cfg.IdleHibernate = d
	}
	dir, err := os.Getwd()
	if err != nil {
		return cfg, err
	}
	cfg.Dir = dir
	return cfg, nil
}

// task is the part of the launch request the runner reads.
type task struct {
	Type        string `json:"type"` // launch, wake
	WorkspaceID string `json:"workspace_id"`
	Agent       string `json:"agent"`
	Task        struct {
		Title string `json:"title"`
		Body  string `json:"body"`
		URL   string `json:"url"`
	} `json:"task"`
	Repository struct {
		FullName string `json:"full_name"`
		Ref      string `json:"ref"`
	} `json:"repository"`
	Source struct {
		Kind    string `json:"kind"`
		URL     string `json:"url"`
		Details struct {
			PullRequest string `json:"pull_request"`
		} `json:"details"`
	} `json:"source"`
}

// state survives hibernation in Dir/state.json.
type state struct {
	After   int64  `json:"after"`   // last message handled
	Session string `json:"session"` // the agent's conversation to resume
	Summary string `json:"summary"` // the agent's last answer
}

// errStopped ends a run on a stop message.
var errStopped = errors.New("stopped")

type runner struct {
	cfg   Config
	gw    Gateway
	log   *slog.Logger
	task  task
	agent agent
	git   git
	st    state

	repo, home string
	stop       chan struct{}
	stopOnce   sync.Once
	prompts    chan Message
	fatal      chan error
}

// Run runs the workspace until it is stopped (finished, exit 0), idle
// (hibernated, exit 0) or ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if cfg.IdleHibernate <= 0 {
		cfg.IdleHibernate = DefaultIdleHibernate
	}
	if cfg.PollWait <= 0 {
		cfg.PollWait = DefaultPollWait
	}
	if cfg.StopGrace <= 0 {
		cfg.StopGrace = DefaultStopGrace
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Gateway == nil {
		cfg.Gateway = NewHTTPGateway(cfg.GatewayURL, cfg.Token)
	}
	r := &runner{cfg: cfg, gw: cfg.Gateway, log: cfg.Log, repo: filepath.Join(cfg.Dir, "repo"), home: filepath.Join(cfg.Dir, "home"),
		stop: make(chan struct{}), prompts: make(chan Message, 1024), fatal: make(chan error, 1)}
	r.git = git{home: r.home, base: []string{"PATH=" + cfg.Path}}
	for _, k := range []string{"LANG", "TZ", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR"} {
		if v, ok := os.LookupEnv(k); ok {
			r.git.base = append(r.git.base, k+"="+v)
		}
	}
	return r.run(ctx)
}

func (r *runner) run(ctx context.Context) error {
	raw, err := os.ReadFile(r.cfg.TaskFile)
	if err != nil {
		return fmt.Errorf("task file: %w", err)
	}
	if err := json.Unmarshal(raw, &r.task); err != nil {
		return fmt.Errorf("task file: %w", err)
	}
	if r.agent, err = agentFor(r.task.Agent); err != nil {
		return err
	}
	if err := os.MkdirAll(r.home, 0o700); err != nil {
		return err
	}
	r.loadState()
	r.log = r.log.With("workspace_id", r.task.WorkspaceID, "agent", r.task.Agent)
	if r.task.Type == "wake" {
		// Waking re-resolves the chain before the first message: credentials
		// added, rotated or removed while asleep all count.
		if _, err := r.gw.Wake(ctx); err != nil {
			var ex *workspaceclient.ExhaustedError
			if !errors.As(err, &ex) {
				return fmt.Errorf("wake: %w", err)
			}
		}
		r.log.Info("woke; credential chain re-resolved")
	}
	if err := r.gw.Event(ctx, Event{Status: "running", Summary: "Workspace started"}); err != nil {
		return fmt.Errorf("report running: %w", err)
	}
	if err := r.checkout(ctx); err != nil {
		r.post(ctx, Activity{Type: "error", Body: "Could not clone " + r.task.Repository.FullName + ": " + err.Error()})
		_ = r.gw.Event(context.WithoutCancel(ctx), Event{Status: "failed", Summary: "Could not clone the repository"})
		return err
	}
	pollCtx, cancelPoll := context.WithCancel(ctx)
	defer cancelPoll()
	go r.poll(pollCtx)
	idle := time.NewTimer(r.cfg.IdleHibernate)
	defer idle.Stop()
	for {
		select {
		case <-r.stop:
			return r.finish(ctx)
		default:
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.stop:
			return r.finish(ctx)
		case err := <-r.fatal:
			return err
		case <-idle.C:
			r.log.Info("idle; hibernating", "after", r.cfg.IdleHibernate.String())
			return r.gw.Event(context.WithoutCancel(ctx), Event{Status: "hibernated", Summary: r.st.Summary})
		case m := <-r.prompts:
			if m.Seq <= r.st.After {
				continue // delivered again: handled already
			}
			err := r.handle(ctx, m)
			if errors.Is(err, errStopped) {
				return r.finish(ctx)
			}
			if err != nil && ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				r.log.Warn("message failed", "seq", m.Seq, "error", err)
			}
			r.st.After = m.Seq
			r.saveState()
			if !idle.Stop() {
				select {
				case <-idle.C:
				default:
				}
			}
			idle.Reset(r.cfg.IdleHibernate)
		}
	}
}

// poll long-polls the messages: stop messages stop at once (even during a
// run), prompts queue up in order.
func (r *runner) poll(ctx context.Context) {
	after := r.st.After
	for ctx.Err() == nil {
		msgs, err := r.gw.Messages(ctx, after, r.cfg.PollWait)
		if err != nil {
			var api *APIError
			if errors.As(err, &api) && (api.Status == 401 || api.Status == 403 || api.Status == 404) {
				select {
				case r.fatal <- fmt.Errorf("messages: %w", err):
				default:
				}
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		for _, m := range msgs {
			after = max(after, m.Seq)
			if m.Kind == "stop" {
				r.stopOnce.Do(func() { close(r.stop) })
				continue
			}
			select {
			case r.prompts <- m:
			case <-ctx.Done():
				return
			}
		}
	}
}

// checkout clones the repository once; a woken workspace keeps its clone.
func (r *runner) checkout(ctx context.Context) error {
	if r.task.Repository.FullName == "" || exists(filepath.Join(r.repo, ".git")) {
		return os.MkdirAll(r.repo, 0o700)
	}
	cred, err := r.gw.GitCredential(ctx)
	if err != nil {
		return err
	}
	_ = os.RemoveAll(r.repo)
	return r.git.clone(ctx, r.cfg.Dir, r.repo, cred.CloneURL, r.task.Repository.Ref, cred.Token)
}

// prompt is what the agent is asked for message m: the first message of a
// conversation carries the task's title and link.
func (r *runner) prompt(m Message) string {
	if r.st.Session != "" || r.task.Task.Title == "" {
		return m.Body
	}
	head := r.task.Task.Title
	if r.task.Task.URL != "" {
		head += "\n" + r.task.Task.URL
	}
	return head + "\n\n" + m.Body
}

// handle runs the agent on one message, re-authenticating and replaying
// the same message on an authentication error.
func (r *runner) handle(ctx context.Context, m Message) error {
	label := "Re-authenticating " + r.agent.Display()
	exhausted := fmt.Sprintf("Couldn't authenticate with %s after multiple attempts", r.agent.Display())
	cred, err := r.gw.Credential(ctx)
	var ex *workspaceclient.ExhaustedError
	if errors.As(err, &ex) {
		return r.post(ctx, Activity{Type: "error", Body: ex.Message})
	}
	if err != nil {
		r.post(ctx, Activity{Type: "error", Body: "Could not get a credential from the gateway; send the message again."})
		return err
	}
	prompt := r.prompt(m)
	for attempt := 1; ; attempt++ {
		t, err := r.runAgent(ctx, prompt, cred)
		if err != nil {
			return err
		}
		if t.AuthFail {
			r.log.Info("the provider refused the credential", "credential_id", cred.CredentialID, "version", cred.Version, "attempt", attempt)
			r.post(ctx, Activity{Type: "thought", Body: label})
			if attempt >= maxReplays {
				return r.post(ctx, Activity{Type: "error", Body: exhausted})
			}
			next, err := r.gw.Rejected(ctx, cred)
			if errors.As(err, &ex) {
				return r.post(ctx, Activity{Type: "error", Body: ex.Message})
			}
			if err != nil {
				r.post(ctx, Activity{Type: "error", Body: "Could not refresh the credential; send the message again."})
				return err
			}
			cred = next
			continue
		}
		if t.Failed {
			body := t.ErrText
			if body == "" {
				body = r.agent.Display() + " stopped with an error."
			}
			return r.post(ctx, Activity{Type: "error", Body: redact(body, cred)})
		}
		if t.Session != "" {
			r.st.Session = t.Session
		}
		r.st.Summary = t.Final
		r.saveState()
		if t.Final != "" {
			r.post(ctx, Activity{Type: "response", Body: t.Final})
		}
		if err := r.publish(ctx, t.Final); err != nil {
			r.log.Warn("push failed", "error", err)
			r.post(ctx, Activity{Type: "error", Body: "Could not push the changes: " + err.Error()})
		}
		return nil
	}
}

// agentEnv is exactly the agent's environment: the basics, a HOME inside
// the work directory, and the one credential's variables.
func (r *runner) agentEnv(cred Credential) ([]string, error) {
	env := []string{"PATH=" + r.cfg.Path, "HOME=" + r.home, "DISABLE_TELEMETRY=1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
		"DISABLE_AUTOUPDATER=1", "CODEX_HOME=" + filepath.Join(r.home, ".codex")}
	for _, k := range []string{"LANG", "TZ", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	for k, v := range cred.Env {
		env = append(env, k+"="+v)
	}
	if err := os.MkdirAll(filepath.Join(r.home, ".codex"), 0o700); err != nil {
		return nil, err
	}
	// The previous credential's file goes: a Claude credential writes none.
	_ = os.Remove(filepath.Join(r.home, ".codex", "auth.json"))
	for rel, content := range cred.Files {
		if !filepath.IsLocal(rel) {
			return nil, fmt.Errorf("credential file %q is outside HOME", rel)
		}
		if filepath.Base(rel) == "auth.json" {
			content = withoutRefreshToken(content)
		}
		path := filepath.Join(r.home, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			return nil, err
		}
	}
	return env, nil
}

// withoutRefreshToken drops the refresh token from Codex's auth.json: the
// gateway refreshes, and a CLI that refreshed by itself would spend the
// single-use token the gateway holds.
func withoutRefreshToken(content string) string {
	var m map[string]any
	if json.Unmarshal([]byte(content), &m) != nil {
		return content
	}
	if tokens, ok := m["tokens"].(map[string]any); ok {
		delete(tokens, "refresh_token")
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return content
	}
	return string(b)
}

// runAgent runs the agent once on prompt in its own process group. It ends
// the group at the first authentication error, or on a stop.
func (r *runner) runAgent(ctx context.Context, prompt string, cred Credential) (turn, error) {
	var t turn
	env, err := r.agentEnv(cred)
	if err != nil {
		return t, err
	}
	path, err := lookPath(r.agent.Binary(), r.cfg.Path)
	if err != nil {
		r.post(ctx, Activity{Type: "error", Body: r.agent.Binary() + " is not installed in this workspace."})
		return t, err
	}
	cmd := exec.Command(path, r.agent.Args(r.st.Session)...)
	cmd.Dir = r.repo
	cmd.Env = env
	cmd.Stdin = strings.NewReader(prompt)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr bytes.Buffer
	cmd.Stderr = &limitedWriter{w: &stderr, n: 16 << 10}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return t, err
	}
	cmd.WaitDelay = r.cfg.StopGrace + time.Second
	if err := cmd.Start(); err != nil {
		return t, err
	}
	r.log.Info("agent started", "pid", cmd.Process.Pid, "resume", r.st.Session != "")
	var (
		endOnce sync.Once
		stopped bool
		mu      sync.Mutex
	)
	end := func() {
		endOnce.Do(func() {
			go killGroup(cmd.Process.Pid, r.cfg.StopGrace)
		})
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-r.stop:
			mu.Lock()
			stopped = true
			mu.Unlock()
			end()
		case <-ctx.Done():
			end()
		case <-done:
		}
	}()
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	for sc.Scan() {
		if t.AuthFail {
			continue // drain until the group is gone
		}
		for _, a := range r.agent.Parse(sc.Bytes(), &t) {
			a.Body, a.Result = redact(a.Body, cred), redact(a.Result, cred)
			r.post(ctx, a)
		}
		if t.AuthFail {
			end()
		}
	}
	werr := cmd.Wait()
	// The group may hold children after the leader exits.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	mu.Lock()
	defer mu.Unlock()
	if stopped {
		return t, errStopped
	}
	if ctx.Err() != nil {
		return t, ctx.Err()
	}
	if werr != nil && !t.AuthFail && !t.Failed {
		t.Failed = true
		t.ErrText = fmt.Sprintf("%s exited: %v %s", r.agent.Display(), werr, clip(strings.TrimSpace(stderr.String()), 500))
	}
	return t, nil
}

// killGroup ends a process group: SIGTERM, then SIGKILL after grace.
func killGroup(pgid int, grace time.Duration) {
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if syscall.Kill(-pgid, 0) != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// publish commits what the agent left and pushes to the workspace's branch.
func (r *runner) publish(ctx context.Context, summary string) error {
	if r.task.Repository.FullName == "" {
		return nil
	}
	msg := firstLine(summary)
	if msg == "" {
		msg = "Replicas: " + firstLine(r.task.Task.Title)
	}
	if _, err := r.git.commitAll(ctx, r.repo, msg); err != nil {
		return err
	}
	head, err := r.git.head(ctx, r.repo)
	if err != nil {
		return nil // an empty repository: nothing to push
	}
	marker := filepath.Join(r.cfg.Dir, "pushed")
	if last, _ := os.ReadFile(marker); string(last) == head {
		return nil
	}
	if _, err := r.git.run(ctx, r.repo, "", "merge-base", "--is-ancestor", head, "origin/"+r.branch()); err == nil {
		return os.WriteFile(marker, []byte(head), 0o600) // nothing new on the remote branch
	}
	cred, err := r.gw.GitCredential(ctx)
	if err != nil {
		return err
	}
	if err := r.git.push(ctx, r.repo, r.branch(), cred.Token); err != nil {
		return err
	}
	r.post(ctx, Activity{Type: "action", Action: "Pushed", Parameter: r.branch()})
	return os.WriteFile(marker, []byte(head), 0o600)
}

// branch is where the work goes: a pull request's head branch, otherwise a
// branch of the workspace's own.
func (r *runner) branch() string {
	if r.isPR() && r.task.Repository.Ref != "" {
		return r.task.Repository.Ref
	}
	return "replicas/" + r.task.WorkspaceID
}

func (r *runner) isPR() bool {
	n, _ := strconv.Atoi(r.task.Source.Details.PullRequest)
	return r.task.Source.Kind == "github" && n > 0
}

// resultURL is the pull request, or the pushed branch.
func (r *runner) resultURL(ctx context.Context) string {
	if r.task.Repository.FullName == "" {
		return ""
	}
	web := "https://github.com/" + r.task.Repository.FullName
	if out, err := r.git.run(ctx, r.repo, "", "remote", "get-url", "origin"); err == nil {
		web = strings.TrimSuffix(out, ".git")
	}
	if r.isPR() {
		return web + "/pull/" + r.task.Source.Details.PullRequest
	}
	return web + "/tree/" + r.branch()
}

// finish pushes what is left and reports finished with the last answer.
func (r *runner) finish(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx)
	if err := r.publish(ctx, r.st.Summary); err != nil {
		r.log.Warn("push at finish failed", "error", err)
	}
	summary := r.st.Summary
	if summary == "" {
		summary = "Stopped before the agent answered."
	}
	r.log.Info("stopped; finished")
	return r.gw.Event(ctx, Event{Status: "finished", Summary: clip(summary, 2000), URL: r.resultURL(ctx)})
}

func (r *runner) loadState() {
	if b, err := os.ReadFile(filepath.Join(r.cfg.Dir, "state.json")); err == nil {
		_ = json.Unmarshal(b, &r.st)
	}
}

func (r *runner) saveState() {
	b, _ := json.Marshal(r.st)
	_ = os.WriteFile(filepath.Join(r.cfg.Dir, "state.json"), b, 0o600)
}

// redact hides the credential's values in text shown to users.
func redact(s string, cred Credential) string {
	for _, v := range cred.Env {
		if len(v) >= 8 {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	return s
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return clip(s, 72)
}

// lookPath finds name on path (not the runner's own PATH).
func lookPath(name, path string) (string, error) {
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found on PATH", name)
}

type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	n := len(p)
	if l.n > 0 {
		q := p
		if len(q) > l.n {
			q = q[:l.n]
		}
		l.n -= len(q)
		_, _ = l.w.Write(q)
	}
	return n, nil
}

// post sends one activity, its fields cut to what the gateway takes (16000
// characters of body and result, 2000 of action and parameter). A refused
// activity is logged, never fatal: the work goes on.
func (r *runner) post(ctx context.Context, a Activity) error {
	a.Body, a.Result = clip(a.Body, 16000), clip(a.Result, 16000)
	a.Action, a.Parameter = clip(a.Action, 2000), clip(a.Parameter, 2000)
	if err := r.gw.Activity(ctx, a); err != nil {
		r.log.Warn("activity not posted", "type", a.Type, "error", err)
	}
	return nil
}
