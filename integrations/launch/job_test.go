package launch_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/gateway/queue"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// drain returns the statuses reported so far.
func drain(c chan launch.Status) []launch.Status {
	var out []launch.Status
	for {
		select {
		case s := <-c:
			out = append(out, s)
		default:
			return out
		}
	}
}

// A provisioner that never answers 2xx: after the last attempt the workspace
// ends failed with the reason, its source is told, and its token is gone.
func TestLaunchFailsAfterLastAttempt(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	ids := make(chan string, 20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		ids <- r.Header.Get("webhook-id")
		http.Error(w, "provisioner overloaded", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	db, s, q, h := setup(t, sqldb.SQLite, &launch.HTTPLauncher{URL: srv.URL, Secret: "raw-secret"})
	start(t, q)
	w, err := create(t, db, s, trigger(""))
	if err != nil {
		t.Fatal(err)
	}
	retryNow(t, h, w.ID, launch.StatusFailed)
	got, err := s.Store().Get(context.Background(), db, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	max := launch.LaunchArgs{}.InsertOpts().MaxAttempts
	if int(calls.Load()) != max || !strings.Contains(got.Error, "503") || !strings.Contains(got.Error, "attempts") {
		t.Fatalf("%d calls (want %d), error %q", calls.Load(), max, got.Error)
	}
	close(ids)
	first := <-ids
	for id := range ids {
		if id != first {
			t.Fatalf("webhook-id changed across retries: %q then %q", first, id)
		}
	}
	reports := drain(h.reports)
	if len(reports) == 0 || reports[len(reports)-1] != launch.StatusFailed {
		t.Fatalf("reports = %v, want failed last", reports)
	}
	var sealed []byte
	if err := db.QueryRow(context.Background(), `SELECT token_sealed FROM workspaces WHERE id = $1`, w.ID).Scan(&sealed); err != nil || sealed != nil {
		t.Fatalf("sealed token after failing = %x, %v", sealed, err)
	}
}

type staticEnv map[string]string

func (e staticEnv) Env(context.Context, string) (map[string]string, error) { return e, nil }

// The exec launcher hands the command the documented variables, the agent
// variables of the current credential and a private task file that holds the
// launch request as JSON.
func TestExecLauncherEnvironmentAndTaskFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd := `env > "$OUT/env.txt" && cp "$REPLICAS_TASK_FILE" "$OUT/task.json" && stat -c %a "$REPLICAS_TASK_FILE" > "$OUT/mode.txt"`
	l := &launch.ExecLauncher{Command: "OUT=" + dir + "; " + cmd, Env: staticEnv{"ANTHROPIC_API_KEY": "sk-ant-test-0000000000"}}
	db, s, q, h := setup(t, sqldb.SQLite, l)
	start(t, q)
	w, err := create(t, db, s, trigger(""))
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, h, w.ID, launch.StatusLaunched)
	env, err := os.ReadFile(filepath.Join(dir, "env.txt"))
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, line := range strings.Split(string(env), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			vars[k] = v
		}
	}
	want := map[string]string{
		"REPLICAS_WORKSPACE_ID": w.ID, "REPLICAS_GATEWAY_URL": "http://gateway.test", "ANTHROPIC_API_KEY": "sk-ant-test-0000000000",
	}
	for k, v := range want {
		if vars[k] != v {
			t.Errorf("%s = %q, want %q", k, vars[k], v)
		}
	}
	if !strings.HasPrefix(vars["REPLICAS_WORKSPACE_TOKEN"], "rpw_") || vars["REPLICAS_TASK_FILE"] == "" {
		t.Errorf("token or task file missing: %v", vars)
	}
	if mode, _ := os.ReadFile(filepath.Join(dir, "mode.txt")); strings.TrimSpace(string(mode)) != "600" {
		t.Errorf("task file mode = %q, want 600", mode)
	}
	body, err := os.ReadFile(filepath.Join(dir, "task.json"))
	if err != nil {
		t.Fatal(err)
	}
	var req launch.Request
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatalf("task file is not JSON: %v\n%s", err, body)
	}
	if req.WorkspaceID != w.ID || req.Task.Title != "Fix it" || req.Repository.FullName != "acme/app" || req.WorkspaceToken != vars["REPLICAS_WORKSPACE_TOKEN"] {
		t.Errorf("task file = %+v", req)
	}
	if _, err := os.Stat(vars["REPLICAS_TASK_FILE"]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("task file left behind: %v", err)
	}
}

// A failing command's output is kept for the operator, without the secrets
// the command was given.
func TestExecLauncherRedactsFailures(t *testing.T) {
	t.Parallel()
	l := &launch.ExecLauncher{
		Command: `echo "token=$REPLICAS_WORKSPACE_TOKEN key=$OPENAI_API_KEY db=$DATABASE_URL"; exit 3`,
		Env:     staticEnv{"OPENAI_API_KEY": "sk-proj-secret-value-123"},
	}
	_, err := l.Launch(context.Background(), launch.Request{WorkspaceID: "ws_1", WorkspaceToken: "rpw_secret-token-value"})
	if err == nil {
		t.Fatal("a failing command launched")
	}
	msg := err.Error()
	if strings.Contains(msg, "rpw_secret-token-value") || strings.Contains(msg, "sk-proj-secret-value-123") || !strings.Contains(msg, "exit status 3") {
		t.Fatalf("error = %q", msg)
	}
}

// A command that leaves the workspace running in the background launches as
// soon as the command itself exits.
func TestExecLauncherBackgroundProcess(t *testing.T) {
	t.Parallel()
	l := &launch.ExecLauncher{Command: `sleep 5 & echo started`}
	begin := time.Now()
	if _, err := l.Launch(context.Background(), launch.Request{WorkspaceID: "ws_1", WorkspaceToken: "rpw_x"}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(begin); d > 3*time.Second {
		t.Fatalf("launch waited %s for the background process", d)
	}
}

// A provisioner that echoes the request in its refusal does not leak the
// token into the workspace's error.
func TestHTTPLauncherRedactsAnswer(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnprocessableEntity)
		body := make([]byte, 400)
		n, _ := r.Body.Read(body)
		w.Write(body[:n])
	}))
	defer srv.Close()
	l := &launch.HTTPLauncher{URL: srv.URL, Secret: "s"}
	_, err := l.Launch(context.Background(), launch.Request{WorkspaceID: "ws_1", WorkspaceToken: "rpw_secret-token-value"})
	var rejected *launch.RejectedError
	if !errors.As(err, &rejected) || strings.Contains(err.Error(), "rpw_secret-token-value") || !strings.Contains(err.Error(), "422") {
		t.Fatalf("error = %v", err)
	}
}

// The workspace reports running while its launcher is still busy: it passes
// through launched, and the launch job's late success does not move it back.
func TestRunningBeforeLaunchRecorded(t *testing.T) {
	t.Parallel()
	for _, d := range []sqldb.Dialect{sqldb.Postgres, sqldb.SQLite} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			var once sync.Once
			entered, release := make(chan string), make(chan struct{})
			l := launcherFunc(func(_ context.Context, r launch.Request) (launch.Result, error) {
				once.Do(func() { entered <- r.WorkspaceID })
				<-release
				return launch.Result{}, nil
			})
			db, s, q, h := setup(t, d, l)
			start(t, q)
			w, err := create(t, db, s, trigger(""))
			if err != nil {
				t.Fatal(err)
			}
			<-entered
			if _, err := s.Update(context.Background(), w.ID, launch.Update{Status: launch.StatusRunning}); err != nil {
				t.Fatalf("running during launch: %v", err)
			}
			close(release)
			select {
			case <-h.events: // the only job: the launch
			case <-time.After(20 * time.Second):
				t.Fatal("the launch job never ended")
			}
			got, err := s.Store().Get(context.Background(), db, w.ID)
			if err != nil || got.Status != launch.StatusRunning {
				t.Fatalf("after the launch job = %+v, %v", got, err)
			}
			reports := drain(h.reports)
			want := []launch.Status{launch.StatusLaunching, launch.StatusLaunched, launch.StatusRunning}
			if len(reports) != len(want) {
				t.Fatalf("reports = %v, want %v", reports, want)
			}
			for i := range want {
				if reports[i] != want[i] {
					t.Fatalf("reports = %v, want %v", reports, want)
				}
			}
		})
	}
}

// A provisioner slower than a short job may take still launches on the first
// attempt: the launch job's timeout fits its launcher, not the queue's short
// default.
func TestSlowProvisionerLaunchesOnFirstAttempt(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		select {
		case <-time.After(queue.JobTimeout + time.Second): // the provisioner's own pace
			w.WriteHeader(http.StatusAccepted)
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	db, s, q, h := setup(t, sqldb.SQLite, &launch.HTTPLauncher{URL: srv.URL, Secret: "raw-secret"})
	start(t, q)
	w, err := create(t, db, s, trigger(""))
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, h, w.ID, launch.StatusLaunched)
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d launch requests, want 1 (the first one was not cut short)", n)
	}
}
