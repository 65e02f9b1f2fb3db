// kill -9 in the middle of a stream of deliveries, with a real process on
// PostgreSQL: every delivery that was answered 2xx is recorded and, after a
// restart, processed exactly once and its workspace launched within a minute,
// with the queue's own rescue (nothing is made due by hand).
package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/integrations/github/githubtest"
)

// buildBinary compiles this command into dir.
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "replicas-gateway")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// childEnv is a gateway child process's environment: the test's own without
// any of the gateway's variables, plus vars.
func childEnv(vars map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DATABASE_URL=") && !strings.HasPrefix(kv, "GITHUB_") && !strings.HasPrefix(kv, "LINEAR_") && !strings.HasPrefix(kv, "REPLICAS_") {
			env = append(env, kv)
		}
	}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

// gatewayProcess is one `replicas-gateway serve` child.
type gatewayProcess struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has been waited for
}

func startProcess(t *testing.T, bin string, env []string, logFile *os.File, base string) *gatewayProcess {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &gatewayProcess{cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // killed on purpose, or by the cleanup
		close(p.exited)
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-p.exited })
	deadline := time.After(20 * time.Second)
	for {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("gateway exited while starting (log: %s)", logFile.Name())
		case <-deadline:
			t.Fatalf("gateway never became ready (log: %s)", logFile.Name())
		case <-time.After(25 * time.Millisecond): // polling a process that is starting
		}
	}
}

// recoveryBound is how soon after a restart every delivery that was answered
// before a kill -9 must have launched its workspace.
const recoveryBound = 60 * time.Second

func TestKill9LosesNothingAnswered(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	dsn, schema := sqldbtest.SchemaURL(t)
	fake, err := githubtest.New(4242)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	const secret = "kill-test-secret"
	addr := freeAddr(t)
	base := "http://" + addr
	vars := map[string]string{
		"DATABASE_URL":            dsn,
		"REPLICAS_ENCRYPTION_KEY": testKey,
		"REPLICAS_ADDR":           addr,
		"REPLICAS_DATA_DIR":       filepath.Join(dir, "data"),
		"REPLICAS_PUBLIC_URL":     base,
		"GITHUB_WEBHOOK_SECRET":   secret,
		"GITHUB_APP_ID":           "4242",
		"GITHUB_APP_PRIVATE_KEY":  string(fake.PrivateKey),
		"GITHUB_APP_SLUG":         "tryreplicas",
		"GITHUB_API_URL":          fake.URL + "/",
		// Group commit on, with a wait long enough that concurrent
		// deliveries surely share transactions.
		"REPLICAS_INTAKE_BATCH_WAIT": "20ms",
		"REPLICAS_INTAKE_BATCH_SIZE": "16",
	}
	env := childEnv(vars)

	// Every mention launches: Codertocat is a linked member with an org key,
	// and installation 1 is bound to the org (seeded the way admin commands
	// open the gateway).
	seeder, err := openApp(ctx, mustConfig(t, func(k string) string { return vars[k] }), sqldbtest.Logger(), queueInsertOnly)
	if err != nil {
		t.Fatal(err)
	}
	seed(t, &gw{app: seeder}, true)
	seeder.Close()

	logFile, err := os.Create(filepath.Join(dir, "gateway.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()

	first := startProcess(t, bin, env, logFile, base)

	// Sixteen senders stream 320 signed mentions at once, so deliveries
	// are recorded in shared transactions; the process is killed once half
	// of them were answered, while the senders keep going.
	const senders, perSender, killAfter = 16, 20, 160
	var batchesBeforeKill float64
	var mu sync.Mutex
	var answered []string // delivery ids answered 2xx
	var bodies = map[string][]byte{}
	var headers = map[string]map[string]string{}
	killed := make(chan struct{})
	var killOnce sync.Once
	client := &http.Client{Timeout: 5 * time.Second}
	var wg sync.WaitGroup
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perSender; i++ {
				// One pull request per mention: each starts its own conversation.
				m := githubMention{Login: "Codertocat", GitHubID: 21031067, Repo: "Codertocat/Hello-World", PR: 1000*s + i + 1,
					Body: "@tryreplicas fix the build", CommentID: int64(1000*s + i + 1), InstallationID: 1}
				body, err := m.build()
				if err != nil {
					t.Error(err)
					return
				}
				h := githubHeaders(secret, "issue_comment", body)
				req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/github", bytes.NewReader(body))
				for k, v := range h {
					req.Header.Set(k, v)
				}
				resp, err := client.Do(req)
				if err != nil {
					select {
					case <-killed:
						return // the gateway is gone
					default:
						t.Errorf("send before the kill: %v", err)
						return
					}
				}
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					continue // not acknowledged: the sender would retry
				}
				mu.Lock()
				id := h["X-GitHub-Delivery"]
				answered = append(answered, id)
				bodies[id], headers[id] = body, h
				n := len(answered)
				mu.Unlock()
				if n == killAfter {
					killOnce.Do(func() {
						batchesBeforeKill = scrapeCounter(t, base, "replicas_intake_batches_total")
						close(killed) // first: a sender whose request dies with the process must know why
						_ = first.cmd.Process.Signal(syscall.SIGKILL)
					})
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-killed:
	default:
		t.Fatal("the stream ended before the kill")
	}
	<-first.exited
	if len(answered) < killAfter {
		t.Fatalf("only %d deliveries answered", len(answered))
	}
	if batchesBeforeKill < 1 {
		t.Fatalf("no delivery shared a transaction before the kill (replicas_intake_batches_total %v)", batchesBeforeKill)
	}

	db, err := sqldb.OpenPostgres(ctx, sqldbtest.URL(t), schema)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var unlaunched, running int
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM deliveries WHERE outcome <> 'launched'`).Scan(&unlaunched); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM river_job WHERE state = 'running'`).Scan(&running); err != nil {
		t.Fatal(err)
	}

	// Restart. Nothing is made due by hand: the jobs the dead process held
	// ("running") come back through River's rescuer, on its own schedule.
	restarted := time.Now()
	startProcess(t, bin, env, logFile, base)

	// A few answered deliveries arrive again (a sender's retry): duplicates.
	for _, id := range answered[:3] {
		req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/github", bytes.NewReader(bodies[id]))
		for k, v := range headers[id] {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("resent delivery %s: %d", id, resp.StatusCode)
		}
	}

	// Every stored delivery (each answered one among them) has its workspace
	// launched, within recoveryBound of the restart.
	var recovery time.Duration
	for {
		var pending int
		err := db.QueryRow(ctx, `SELECT COUNT(*) FROM deliveries d WHERE NOT EXISTS
			(SELECT 1 FROM workspaces w WHERE w.id = d.workspace_id AND w.status = 'launched')`).Scan(&pending)
		if err != nil {
			t.Fatal(err)
		}
		if pending == 0 {
			recovery = time.Since(restarted)
			break
		}
		if time.Since(restarted) > recoveryBound {
			t.Fatalf("%d deliveries without a launched workspace %s after the restart (log: %s)", pending, recoveryBound, logFile.Name())
		}
		time.Sleep(100 * time.Millisecond) // polling another process's progress
	}

	for _, id := range answered {
		var rows, completed int
		var outcome string
		err := db.QueryRow(ctx, `SELECT COUNT(*), MAX(outcome) FROM deliveries WHERE source = 'github' AND delivery_id = $1 AND processed_at IS NOT NULL`, id).Scan(&rows, &outcome)
		if err != nil {
			t.Fatal(err)
		}
		err = db.QueryRow(ctx, `SELECT COUNT(*) FROM river_job j JOIN deliveries d ON j.args->>'delivery_id' = d.id
			WHERE d.delivery_id = $1 AND j.kind = 'process_delivery' AND j.state = 'completed'`, id).Scan(&completed)
		if err != nil {
			t.Fatal(err)
		}
		if rows != 1 || outcome != "launched" || completed != 1 {
			t.Errorf("delivery %s: %d processed rows (outcome %q), %d completed jobs; want 1, launched, 1", id, rows, outcome, completed)
		}
	}
	var total, jobs, workspaces, launches int
	for q, n := range map[string]*int{
		`SELECT COUNT(*) FROM deliveries`:                                                        &total,
		`SELECT COUNT(*) FROM river_job WHERE kind = 'process_delivery'`:                         &jobs,
		`SELECT COUNT(*) FROM workspaces`:                                                        &workspaces,
		`SELECT COUNT(*) FROM river_job WHERE kind = 'launch_workspace' AND state = 'completed'`: &launches,
	} {
		if err := db.QueryRow(ctx, q).Scan(n); err != nil {
			t.Fatal(err)
		}
	}
	if total < len(answered) || jobs != total || workspaces != total || launches != total {
		t.Errorf("%d deliveries stored for %d answered, %d process jobs, %d workspaces, %d completed launches; want at least as many and one of each per delivery",
			total, len(answered), jobs, workspaces, launches)
	}
	t.Logf("%d deliveries answered, %d stored (%v shared transactions before the kill); at the kill %d not yet launched and %d jobs running; all launched once %.1f s after the restart",
		len(answered), total, batchesBeforeKill, unlaunched, running, recovery.Seconds())
}

// scrapeCounter reads one unlabelled counter from the gateway's /metrics.
func scrapeCounter(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Errorf("scrape metrics: %v", err)
		return 0
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Errorf("scrape metrics: %v", err)
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Errorf("metric %s: %v", line, err)
			}
			return f
		}
	}
	t.Errorf("metric %s not exported", name)
	return 0
}
