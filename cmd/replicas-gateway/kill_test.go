// kill -9 in the middle of a stream of deliveries, with a real process on
// PostgreSQL: every delivery that was answered 2xx is recorded and, after a
// restart, processed exactly once.
package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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

func TestKill9LosesNothingAnswered(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	schema := sqldbtest.NewSchema(t)
	dbURL := sqldbtest.URL(t)
	sep := "?"
	if strings.Contains(dbURL, "?") {
		sep = "&"
	}
	fake, err := githubtest.New(4242)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	const secret = "kill-test-secret"
	addr := freeAddr(t)
	base := "http://" + addr
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DATABASE_URL=") && !strings.HasPrefix(kv, "GITHUB_") && !strings.HasPrefix(kv, "LINEAR_") && !strings.HasPrefix(kv, "REPLICAS_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"DATABASE_URL="+dbURL+sep+"search_path="+schema,
		"REPLICAS_ENCRYPTION_KEY="+testKey,
		"REPLICAS_ADDR="+addr,
		"REPLICAS_DATA_DIR="+filepath.Join(dir, "data"),
		"REPLICAS_PUBLIC_URL="+base,
		"GITHUB_WEBHOOK_SECRET="+secret,
		"GITHUB_APP_ID=4242",
		"GITHUB_APP_PRIVATE_KEY="+string(fake.PrivateKey),
		"GITHUB_APP_SLUG=tryreplicas",
		"GITHUB_API_URL="+fake.URL+"/",
	)
	logFile, err := os.Create(filepath.Join(dir, "gateway.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()

	first := startProcess(t, bin, env, logFile, base)

	// Four senders stream signed mentions; the process is killed once 40
	// were answered, while the senders keep going.
	const senders, perSender, killAfter = 4, 60, 40
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
				m := githubMention{Login: "Codertocat", GitHubID: 21031067, Repo: "Codertocat/Hello-World", PR: 1,
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
						_ = first.cmd.Process.Signal(syscall.SIGKILL)
						close(killed)
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

	db, err := sqldb.OpenPostgres(context.Background(), dbURL, schema)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	// Jobs that were running when the process died stay "running" until
	// River's rescuer (RescueStuckJobsAfter, minutes) and its scheduler
	// (on the leader, whose lease the dead process still holds) make them
	// runnable again; do what they do now rather than wait.
	if _, err := db.Exec(ctx, `UPDATE river_job SET state = 'available', scheduled_at = $1 WHERE state = 'running'`, time.Now().UTC().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}

	var unprocessed int
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM deliveries WHERE processed_at IS NULL`).Scan(&unprocessed); err != nil {
		t.Fatal(err)
	}
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

	// Wait until every answered delivery is processed (backed-off retries
	// are made due instead of waited for).
	deadline := time.Now().Add(20 * time.Second)
	for {
		var pending int
		err := db.QueryRow(ctx, `SELECT COUNT(*) FROM deliveries WHERE processed_at IS NULL`).Scan(&pending)
		if err != nil {
			t.Fatal(err)
		}
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries still unprocessed after the restart (log: %s)", pending, logFile.Name())
		}
		if _, err := db.Exec(ctx, `UPDATE river_job SET state = 'available', scheduled_at = $1 WHERE state = 'retryable'`, time.Now().UTC().Add(-time.Second)); err != nil {
			t.Fatal(err)
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
		if rows != 1 || outcome == "" || completed != 1 {
			t.Errorf("delivery %s: %d processed rows (outcome %q), %d completed jobs; want 1, an outcome, 1", id, rows, outcome, completed)
		}
	}
	var total, jobs int
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM deliveries`).Scan(&total); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM river_job WHERE kind = 'process_delivery'`).Scan(&jobs); err != nil {
		t.Fatal(err)
	}
	if total < len(answered) || jobs != total {
		t.Errorf("%d deliveries stored for %d answered, %d process jobs; want at least as many and one job each", total, len(answered), jobs)
	}
	t.Logf("%d deliveries answered, %d stored, %d unprocessed at the kill; all processed once after the restart", len(answered), total, unprocessed)
}
