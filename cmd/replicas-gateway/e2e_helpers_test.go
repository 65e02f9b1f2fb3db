package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/tryreplicas/gateway/gateway/queue"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/integrations/github/githubtest"
)

const testKey = "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s="

// gw is a whole gateway on a fresh PostgreSQL schema (or SQLite), with a
// fake GitHub behind GITHUB_API_URL and its job queue running.
type gw struct {
	app    *app
	url    string
	github *githubtest.Server
	events <-chan *river.Event
}

func pgEnv(t *testing.T) map[string]string {
	dsn, _ := sqldbtest.SchemaURL(t)
	return map[string]string{"DATABASE_URL": dsn, "REPLICAS_ENCRYPTION_KEY": testKey}
}

// selfURL as REPLICAS_PUBLIC_URL makes the gateway's public URL its own
// test server address (for browsers, which follow the links it hands out).
const selfURL = "self"

func startGateway(t *testing.T, vars map[string]string) *gw {
	t.Helper()
	return startGatewayLog(t, vars, sqldbtest.Logger())
}

// agentPathVar in startGateway's variables is the local launcher's agent
// directory (the stand-in agents); it is no configuration variable.
const agentPathVar = "test:agent-path"

// startGatewayLog is startGateway logging to log.
func startGatewayLog(t *testing.T, vars map[string]string, log *slog.Logger) *gw {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	fake, err := githubtest.New(4242)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	env := map[string]string{
		"REPLICAS_DATA_DIR":      t.TempDir(),
		"GITHUB_WEBHOOK_SECRET":  "gh-secret",
		"GITHUB_APP_ID":          "4242",
		"GITHUB_APP_PRIVATE_KEY": string(fake.PrivateKey),
		"GITHUB_APP_SLUG":        "tryreplicas",
		"GITHUB_API_URL":         fake.URL + "/",
		"GITHUB_WEB_URL":         fake.URL + "/",
		"REPLICAS_PUBLIC_URL":    "http://gateway.test",
	}
	for k, v := range vars {
		env[k] = v
	}
	if env["REPLICAS_PUBLIC_URL"] == selfURL {
		env["REPLICAS_PUBLIC_URL"] = "http://" + srv.Listener.Addr().String()
	}
	cfg, err := LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cfg.Launcher.agentPath = vars[agentPathVar]
	a, err := openApp(ctx, cfg, log, queue.Options{PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	events, unsubscribe := a.queue.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled)
	if err := a.queue.Start(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = a.server.Handler()
	srv.Start()
	t.Cleanup(func() {
		// Local workspace runners long-poll the server: end them first.
		if l, ok := a.launcher.(interface{ Close() }); ok {
			l.Close()
		}
		srv.Close()
		cancel()
		unsubscribe()
		stop, c := context.WithTimeout(context.Background(), 10*time.Second)
		defer c()
		_ = a.queue.Stop(stop)
		a.Close()
	})
	return &gw{app: a, url: srv.URL, github: fake, events: events}
}

// waitFor waits on job events until cond holds.
func (g *gw) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for !cond() {
		select {
		case <-g.events:
		case <-g.github.Changed():
		case <-time.After(200 * time.Millisecond): // backed-off retries: make them due
			_, _ = g.app.db.Exec(context.Background(), `UPDATE river_job SET scheduled_at = $1 WHERE state = 'retryable'`, time.Now().UTC().Add(-time.Second))
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// idle waits until no job is pending (so "nothing else happened" holds).
func (g *gw) idle(t *testing.T) {
	g.waitFor(t, "an idle queue", func() bool {
		var n int
		err := g.app.db.QueryRow(context.Background(), `SELECT COUNT(*) FROM river_job WHERE state IN ('available', 'running', 'retryable', 'scheduled')`).Scan(&n)
		return err == nil && n == 0
	})
}

func (g *gw) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := g.app.db.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func post(t *testing.T, url string, headers map[string]string, body []byte) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var _ sqldb.Querier = (*sqldb.DB)(nil)
