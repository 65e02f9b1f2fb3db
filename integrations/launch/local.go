// The local launcher: one child process per workspace on this machine (the
// gateway's own `workspace run`), in a directory of its own under the data
// dir, for running the whole product on one machine.

package launch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// LocalTimeout is how long starting a local workspace may take.
const LocalTimeout = 30 * time.Second

// LocalLauncher runs Command (the gateway's own executable and `workspace
// run`) per workspace, in Dir/<workspace id>, which keeps the clone and the
// runner's state across hibernation. A launch or wake request starts the
// runner unless it is running; a stop request lets it finish on its own
// (it reads the stop message) and ends its process group after StopGrace.
//
// The child's environment is built from nothing, as the exec launcher's:
// the host's basics, PassEnv, the launch variables and Env. It carries no
// agent credential: the runner fetches its own with the workspace token.
type LocalLauncher struct {
	Dir     string
	Command []string
	// PassEnv are further variables of the gateway's environment the runner
	// gets (REPLICAS_LAUNCHER_PASS_ENV).
	PassEnv []string
	// Env are further NAME=value settings (REPLICAS_IDLE_HIBERNATE).
	Env []string
	// PathPrefix is put before the host's PATH (the demo's stand-in agents).
	PathPrefix string
	// StopGrace is how long a stopped runner has to report finished before
	// its process group is ended (default 10 s).
	StopGrace time.Duration
	Log       *slog.Logger

	mu    sync.Mutex
	procs map[string]*localProc
}

type localProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// Timeout is how long one attempt may take.
func (l *LocalLauncher) Timeout() time.Duration { return LocalTimeout }

// requestType is the request's "type" (launch, wake or stop; launch when
// absent).
func requestType(r Request) string {
	b, _ := json.Marshal(r)
	var t struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(b, &t)
	if t.Type == "" {
		return "launch"
	}
	return t.Type
}

// Launch starts, restarts or stops the workspace's runner.
func (l *LocalLauncher) Launch(_ context.Context, r Request) (Result, error) {
	if !filepath.IsLocal(r.WorkspaceID) || strings.ContainsRune(r.WorkspaceID, filepath.Separator) {
		return Result{}, &RejectedError{Reason: fmt.Sprintf("workspace id %q cannot name a directory", r.WorkspaceID)}
	}
	l.mu.Lock()
	if l.procs == nil {
		l.procs = map[string]*localProc{}
	}
	p := l.procs[r.WorkspaceID]
	running := p != nil && !closed(p.done)
	if requestType(r) == "stop" {
		l.mu.Unlock()
		// The stop is answered once the runner is gone: it reports finished
		// first (its stop message), and the gateway cancels a workspace
		// still stopping when the launcher has answered.
		if running {
			l.end(p, l.grace())
		}
		return Result{}, nil
	}
	// launch, wake: start the runner unless it runs.
	defer l.mu.Unlock()
	if running {
		return Result{}, nil
	}
	p, err := l.start(r)
	if err != nil {
		return Result{}, err
	}
	l.procs[r.WorkspaceID] = p
	return Result{}, nil
}

func (l *LocalLauncher) grace() time.Duration {
	if l.StopGrace > 0 {
		return l.StopGrace
	}
	return 10 * time.Second
}

func (l *LocalLauncher) start(r Request) (*localProc, error) {
	if len(l.Command) == 0 {
		return nil, errors.New("local launcher: no command")
	}
	dir := filepath.Join(l.Dir, r.WorkspaceID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("workspace dir: %w", err)
	}
	task := filepath.Join(dir, "task.json")
	if r.WorkspaceToken == "" {
		// A wake carries no token: the workspace keeps the one of its launch,
		// in its task file (0600, in a 0700 directory).
		var prev Request
		if b, err := os.ReadFile(task); err == nil && json.Unmarshal(b, &prev) == nil {
			r.WorkspaceToken = prev.WorkspaceToken
		}
		if r.WorkspaceToken == "" {
			return nil, &RejectedError{Reason: "a wake for a workspace this machine never launched"}
		}
	}
	body, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode launch request: %w", err)
	}
	if err := os.WriteFile(task, body, 0o600); err != nil {
		return nil, fmt.Errorf("task file: %w", err)
	}
	logFile, err := os.OpenFile(filepath.Join(dir, "runner.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("runner log: %w", err)
	}
	exe := &ExecLauncher{PassEnv: l.PassEnv}
	var env []string
	for _, kv := range exe.hostEnv() {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok && l.PathPrefix != "" {
			kv = "PATH=" + l.PathPrefix + string(filepath.ListSeparator) + v
		}
		env = append(env, kv)
	}
	env = append(append(env, l.Env...),
		"REPLICAS_WORKSPACE_ID="+r.WorkspaceID,
		"REPLICAS_GATEWAY_URL="+r.GatewayURL,
		"REPLICAS_WORKSPACE_TOKEN="+r.WorkspaceToken,
		"REPLICAS_TASK_FILE="+task,
	)
	cmd := exec.Command(l.Command[0], l.Command[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start the workspace runner: %w", err)
	}
	p := &localProc{cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		logFile.Close()
		close(p.done)
		if l.Log != nil {
			l.Log.Info("workspace runner exited", "workspace_id", r.WorkspaceID, "error", err)
		}
	}()
	if l.Log != nil {
		l.Log.Info("workspace runner started", "workspace_id", r.WorkspaceID, "pid", cmd.Process.Pid, "dir", dir)
	}
	return p, nil
}

// end waits grace for the runner to exit, then ends its process group:
// SIGTERM, and SIGKILL 5 s later.
func (l *LocalLauncher) end(p *localProc, grace time.Duration) {
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// Close ends every runner (the gateway is shutting down) and waits for them.
func (l *LocalLauncher) Close() {
	l.mu.Lock()
	procs := make([]*localProc, 0, len(l.procs))
	for _, p := range l.procs {
		procs = append(procs, p)
	}
	l.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.end(p, 0)
			<-p.done
		}()
	}
	wg.Wait()
}

// Running reports whether the workspace's runner is running.
func (l *LocalLauncher) Running(workspaceID string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.procs[workspaceID]
	return p != nil && !closed(p.done)
}

func closed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
