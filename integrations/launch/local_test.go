package launch_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/integrations/launch"
)

// typed is a launch request with its "type" (launch, wake, stop).
type typed struct {
	launch.Request
	Type string `json:"type"`
}

// localRequest gives the launcher r with type typ, whatever field the
// request carries its type in.
func localRequest(t *testing.T, r launch.Request, typ string) launch.Request {
	t.Helper()
	b, _ := json.Marshal(typed{Request: r, Type: typ})
	var out launch.Request
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The local launcher runs one runner per workspace in its own directory with
// the allowlisted environment and the task file, restarts it on wake when it
// has exited, and ends its process group on stop after the grace period.
func TestLocalLauncher(t *testing.T) {
	t.Setenv("AWS_SECRET_ACCESS_KEY", "host-secret-must-not-pass")
	t.Setenv("DATABASE_URL", "postgres://host-secret-must-not-pass")
	dir := t.TempDir()
	// The "runner" records its environment and task, starts a child in its
	// group, and runs until told to exit (a file) or killed.
	script := `env > env.txt; cp "$REPLICAS_TASK_FILE" seen-task.json; sleep 600 & echo $! > child.pid; echo $$ > runner.pid
while [ ! -f exit-now ]; do sleep 0.05; done; rm -f exit-now; kill $(cat child.pid)`
	l := &launch.LocalLauncher{Dir: dir, Command: []string{"sh", "-c", script}, Env: []string{"REPLICAS_IDLE_HIBERNATE=1m"},
		PathPrefix: "/opt/stand-in", StopGrace: 300 * time.Millisecond}
	defer l.Close()
	r := launch.Request{WorkspaceID: "ws_local1", Agent: "claude", GatewayURL: "http://gw.test", WorkspaceToken: "rpw_secret_token_123"}
	ctx := context.Background()
	if _, err := l.Launch(ctx, localRequest(t, r, "launch")); err != nil {
		t.Fatal(err)
	}
	wsDir := filepath.Join(dir, "ws_local1")
	pidOf := func(name string) int {
		b, _ := os.ReadFile(filepath.Join(wsDir, name))
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}
	waitUntil(t, "the runner", func() bool { return pidOf("runner.pid") != 0 })
	env, _ := os.ReadFile(filepath.Join(wsDir, "env.txt"))
	for _, want := range []string{"REPLICAS_WORKSPACE_ID=ws_local1", "REPLICAS_GATEWAY_URL=http://gw.test", "REPLICAS_WORKSPACE_TOKEN=rpw_secret_token_123",
		"REPLICAS_TASK_FILE=" + filepath.Join(wsDir, "task.json"), "REPLICAS_IDLE_HIBERNATE=1m", "PATH=/opt/stand-in:"} {
		if !strings.Contains(string(env), want) {
			t.Errorf("the runner's environment lacks %q", want)
		}
	}
	if strings.Contains(string(env), "host-secret-must-not-pass") {
		t.Errorf("a host secret reached the runner:\n%s", env)
	}
	if fi, err := os.Stat(filepath.Join(wsDir, "task.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("task file %v %v", fi, err)
	}
	// A second launch while it runs starts nothing new.
	first := pidOf("runner.pid")
	if _, err := l.Launch(ctx, localRequest(t, r, "wake")); err != nil || pidOf("runner.pid") != first {
		t.Fatalf("wake of a running runner: %v, pid %d → %d", err, first, pidOf("runner.pid"))
	}
	// It exits (hibernates); wake starts it again with the wake request.
	os.WriteFile(filepath.Join(wsDir, "exit-now"), nil, 0o600)
	waitUntil(t, "the runner to exit", func() bool { return !l.Running("ws_local1") })
	os.Remove(filepath.Join(wsDir, "runner.pid"))
	wake := r
	wake.WorkspaceToken = "" // a wake carries no token: the launch's is kept
	if _, err := l.Launch(ctx, localRequest(t, wake, "wake")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the restarted runner", func() bool { return pidOf("runner.pid") != 0 && pidOf("runner.pid") != first })
	task, _ := os.ReadFile(filepath.Join(wsDir, "seen-task.json"))
	if !strings.Contains(string(task), `"type":"wake"`) || !strings.Contains(string(task), "rpw_secret_token_123") {
		t.Fatalf("the restarted runner's task file: %s", task)
	}
	// stop: a runner that does not exit by itself loses its whole group.
	runner, child := pidOf("runner.pid"), pidOf("child.pid")
	start := time.Now()
	if _, err := l.Launch(ctx, localRequest(t, r, "stop")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the stopped group", func() bool { return !l.Running("ws_local1") && syscall.Kill(child, 0) != nil })
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("stop took %v", took)
	}
	_ = runner
}
