// End-to-end intake load: signed real GitHub payloads POSTed over loopback
// HTTP by concurrent clients until 2xx, against (1) a bare net/http handler
// that only checks the HMAC, (2) the whole gateway on SQLite and (3) on
// PostgreSQL — verification, durable record and job insert, grouped into
// shared transactions. Prints throughput and p50/p99 latency as a table:
//
//	go test -run '^$' -bench BenchmarkIntake -benchtime 3000x ./cmd/replicas-gateway
//
// The queue's workers are not started, so only the acknowledgement path is
// measured (processing is asynchronous by design). Everything runs in one
// process, which makes this the place to take CPU and allocation profiles
// (-cpuprofile, -memprofile; .ci/pprof-costs.py sums them by cost); the
// comparison with other servers is .ci/bench-intake.sh.
package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/tryreplicas/gateway/gateway/httpapi"
	"github.com/tryreplicas/gateway/gateway/queue"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/integrations/github"
)

// benchClients is how many deliveries are in flight at once.
const benchClients = 32

const benchSecret = "bench-secret"

// loadResult is one target's numbers.
type loadResult struct {
	target        string
	requests      int
	perSecond     float64
	p50, p99, max time.Duration
}

// bareVerifier answers 200 to a correctly signed body and does nothing else.
func bareVerifier() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, httpapi.WebhookBodyLimit))
		if err != nil {
			http.Error(w, "body", http.StatusRequestEntityTooLarge)
			return
		}
		if !hmac.Equal([]byte(github.Sign(benchSecret, body)), []byte(r.Header.Get(github.SignatureHeader))) {
			http.Error(w, "signature", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"accepted","delivery_id":%q}`, r.Header.Get("X-GitHub-Delivery"))
	})
}

// benchGateway serves the whole gateway (queue stopped) on vars' database.
func benchGateway(b *testing.B, vars map[string]string) http.Handler {
	b.Helper()
	env := map[string]string{
		"REPLICAS_DATA_DIR":     b.TempDir(),
		"GITHUB_WEBHOOK_SECRET": benchSecret,
		"REPLICAS_PUBLIC_URL":   "http://gateway.test",
	}
	for k, v := range vars {
		env[k] = v
	}
	cfg, err := LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	db, err := openDB(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(db.Close)
	log := sqldbtest.Logger()
	if _, err := migrate(ctx, db, log); err != nil {
		b.Fatal(err)
	}
	a, err := newApp(cfg, db, log, queue.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return a.server.Handler()
}

// drive sends b.N signed deliveries of body to url from benchClients
// clients, each with a fresh delivery id, and measures each until its 2xx.
func drive(b *testing.B, target, url string, body []byte) loadResult {
	b.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchClients}, Timeout: 30 * time.Second}
	signature := github.Sign(benchSecret, body)
	latencies := make([]time.Duration, b.N)
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for c := 0; c < benchClients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-GitHub-Event", "issue_comment")
				req.Header.Set("X-GitHub-Delivery", randomUUID())
				req.Header.Set(github.SignatureHeader, signature)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					failed.Store(err.Error())
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				latencies[i] = time.Since(t0)
				if resp.StatusCode/100 != 2 {
					failed.Store(fmt.Sprintf("status %d", resp.StatusCode))
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if msg := failed.Load(); msg != nil {
		b.Fatalf("%s: a delivery failed: %v", target, msg)
	}
	slices.Sort(latencies)
	pct := func(p float64) time.Duration { return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))] }
	r := loadResult{target: target, requests: b.N, perSecond: float64(b.N) / elapsed.Seconds(), p50: pct(0.50), p99: pct(0.99), max: latencies[len(latencies)-1]}
	b.ReportMetric(r.perSecond, "deliveries/s")
	b.ReportMetric(float64(r.p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(r.p99.Microseconds())/1000, "p99-ms")
	return r
}

func BenchmarkIntake(b *testing.B) {
	body, err := githubMention{Login: "Codertocat", GitHubID: 21031067, Repo: "Codertocat/Hello-World", PR: 1,
		Body: "@tryreplicas please make the failing test pass", CommentID: 1, InstallationID: 1}.build()
	if err != nil {
		b.Fatal(err)
	}
	targets := []struct {
		name    string
		handler func(b *testing.B) http.Handler
	}{
		{"bare-hmac", func(*testing.B) http.Handler { return bareVerifier() }},
		{"gateway-sqlite", func(b *testing.B) http.Handler { return benchGateway(b, nil) }},
		{"gateway-postgres", func(b *testing.B) http.Handler {
			dsn, _ := sqldbtest.SchemaURL(b)
			return benchGateway(b, map[string]string{"DATABASE_URL": dsn, "REPLICAS_ENCRYPTION_KEY": testKey})
		}},
	}
	var results []loadResult
	for _, tt := range targets {
		b.Run(tt.name, func(b *testing.B) {
			srv := httptest.NewServer(tt.handler(b))
			defer srv.Close()
			path := "/webhooks/github"
			r := drive(b, tt.name, srv.URL+path, body)
			if i := slices.IndexFunc(results, func(x loadResult) bool { return x.target == r.target }); i >= 0 {
				results[i] = r // keep the final (largest b.N) round
			} else {
				results = append(results, r)
			}
		})
	}
	fmt.Printf("\nintake: %d-byte signed issue_comment, %d concurrent clients, until 2xx\n", len(body), benchClients)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "target\trequests\tdeliveries/s\tp50\tp99\tmax\t")
	for _, r := range results {
		fmt.Fprintf(w, "%s\t%d\t%.0f\t%s\t%s\t%s\t\n", r.target, r.requests, r.perSecond,
			r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.max.Round(10*time.Microsecond))
	}
	w.Flush()
}
