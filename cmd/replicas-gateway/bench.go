// bench: load tools for the webhook intake. `bench intake` sends signed real
// GitHub deliveries (each with its own delivery id) from concurrent senders
// to any webhook endpoint for a fixed time and prints the rate of 2xx
// answers, their latency percentiles and the errors. `bench bare` serves the
// reference point: a bare net/http handler that verifies the signature and
// parses the payload, and stores nothing. .ci/bench-intake.sh runs both
// against the gateway, Probot and pgbench.

package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	gh "github.com/google/go-github/v62/github"

	"github.com/tryreplicas/gateway/integrations/github"
)

func cmdBench(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: replicas-gateway bench intake --url URL --secret SECRET [--concurrency 32] [--duration 30s] [--payload FILE] [--json]")
		return errUsage
	}
	switch args[0] {
	case "intake":
		return benchIntake(ctx, args[1:], stdout, stderr)
	case "bare":
		return benchBare(ctx, args[1:], stderr)
	case "serve":
		return benchServe(ctx, args[1:], getenv, stderr)
	case "payload": // the body bench intake sends, for other tools (pgbench)
		body, err := benchPayload("")
		if err != nil {
			return err
		}
		_, err = stdout.Write(body)
		return err
	default:
		fmt.Fprintf(stderr, "unknown bench %q (intake)\n", args[0])
		return errUsage
	}
}

// benchPayload is the body every sender posts: the file's bytes as they
// are, or the real issue_comment of testdata (a mention on a pull request),
// compacted the way GitHub sends it.
func benchPayload(file string) ([]byte, error) {
	if file != "" {
		return os.ReadFile(file)
	}
	return githubMention{Login: "Codertocat", GitHubID: 21031067, Repo: "Codertocat/Hello-World", PR: 1,
		Body: "@tryreplicas please make the failing test pass", CommentID: 1, InstallationID: 1}.build()
}

// loadReport is what one load run measured.
type loadReport struct {
	URL          string         `json:"url"`
	Bytes        int            `json:"payload_bytes"`
	Concurrency  int            `json:"concurrency"`
	Seconds      float64        `json:"seconds"`
	OK           int            `json:"ok"`
	Errors       int            `json:"errors"`
	ErrorKinds   map[string]int `json:"error_kinds,omitempty"`
	PerSecond    float64        `json:"req_per_s"`
	P50, P99, Mx float64        // milliseconds
}

func (r loadReport) MarshalJSON() ([]byte, error) {
	type plain loadReport
	return json.Marshal(struct {
		plain
		P50 float64 `json:"p50_ms"`
		P99 float64 `json:"p99_ms"`
		Mx  float64 `json:"max_ms"`
	}{plain(r), r.P50, r.P99, r.Mx})
}

func benchIntake(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench intake", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("url", "http://localhost:8080", "the gateway's base URL, or a full webhook URL (a URL with a path is used as it is)")
	secret := fs.String("secret", "", "the webhook secret (GITHUB_WEBHOOK_SECRET)")
	concurrency := fs.Int("concurrency", 32, "senders, each with one request in flight")
	duration := fs.Duration("duration", 30*time.Second, "how long to send")
	warmup := fs.Duration("warmup", 2*time.Second, "sending before the measurement starts (not counted)")
	payload := fs.String("payload", "", "a JSON file to send (default: the real issue_comment of testdata)")
	event := fs.String("event", "issue_comment", "X-GitHub-Event")
	asJSON := fs.Bool("json", false, "print one JSON object instead of text")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *secret == "" || *concurrency < 1 || *duration <= 0 {
		fmt.Fprintln(stderr, "--secret is required; --concurrency and --duration must be positive")
		return errUsage
	}
	u, err := url.Parse(*target)
	if err != nil || u.Host == "" {
		return fmt.Errorf("--url %q is not an absolute URL", *target)
	}
	if strings.Trim(u.Path, "/") == "" {
		u.Path = "/webhooks/github"
	}
	body, err := benchPayload(*payload)
	if err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	r := runLoad(ctx, loadSpec{url: u.String(), body: body, secret: *secret, event: *event, senders: *concurrency, warmup: *warmup, duration: *duration})
	if *asJSON {
		return json.NewEncoder(stdout).Encode(r)
	}
	fmt.Fprintf(stdout, "%s: %d-byte %s, %d senders, %.1f s\n", r.URL, r.Bytes, *event, r.Concurrency, r.Seconds)
	fmt.Fprintf(stdout, "req/s %.0f  p50 %.2f ms  p99 %.2f ms  max %.2f ms  ok %d  errors %d\n", r.PerSecond, r.P50, r.P99, r.Mx, r.OK, r.Errors)
	kinds := make([]string, 0, len(r.ErrorKinds))
	for k := range r.ErrorKinds {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(stdout, "  %6d × %s\n", r.ErrorKinds[k], k)
	}
	if r.OK == 0 {
		return errors.New("no delivery was answered 2xx")
	}
	return nil
}

type loadSpec struct {
	url, secret, event string
	body               []byte
	senders            int
	warmup, duration   time.Duration
}

// runLoad sends from spec.senders goroutines, each waiting for its answer
// before sending the next, and measures the requests that start after the
// warm-up and end before the deadline.
func runLoad(ctx context.Context, spec loadSpec) loadReport {
	transport := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        spec.senders,
		MaxIdleConnsPerHost: spec.senders,
		DisableCompression:  true,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	signature := github.Sign(spec.secret, spec.body)
	begin := time.Now().Add(spec.warmup)
	end := begin.Add(spec.duration)
	type senderResult struct {
		latencies []time.Duration
		errs      map[string]int
	}
	results := make([]senderResult, spec.senders)
	var wg sync.WaitGroup
	for s := range spec.senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := senderResult{errs: map[string]int{}}
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, spec.url, bytes.NewReader(spec.body))
				req.Header = http.Header{
					"Content-Type":        {"application/json"},
					"User-Agent":          {"GitHub-Hookshot/replicas-bench"},
					"X-Github-Event":      {spec.event},
					"X-Github-Delivery":   {randomUUID()},
					"X-Github-Hook-Id":    {"1"},
					"X-Hub-Signature-256": {signature},
				}
				t0 := time.Now()
				if !t0.Before(end) {
					break
				}
				resp, err := client.Do(req)
				var kind string
				if err != nil {
					kind = "transport: " + shortErr(err)
				} else {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode/100 != 2 {
						kind = fmt.Sprintf("status %d", resp.StatusCode)
					}
				}
				t1 := time.Now()
				if t0.Before(begin) || t1.After(end) {
					continue // warm-up, or past the deadline
				}
				if kind != "" {
					res.errs[kind]++
					continue
				}
				res.latencies = append(res.latencies, t1.Sub(t0))
			}
			results[s] = res
		}()
	}
	wg.Wait()
	r := loadReport{URL: spec.url, Bytes: len(spec.body), Concurrency: spec.senders, Seconds: spec.duration.Seconds(), ErrorKinds: map[string]int{}}
	var all []time.Duration
	for _, res := range results {
		all = append(all, res.latencies...)
		for k, n := range res.errs {
			r.ErrorKinds[k] += n
			r.Errors += n
		}
	}
	r.OK = len(all)
	r.PerSecond = float64(r.OK) / spec.duration.Seconds()
	if len(all) > 0 {
		slices.Sort(all)
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		pct := func(p float64) time.Duration { return all[min(len(all)-1, int(p*float64(len(all))))] }
		r.P50, r.P99, r.Mx = ms(pct(0.50)), ms(pct(0.99)), ms(all[len(all)-1])
	}
	return r
}

// shortErr keeps the last part of a transport error (the cause), so the
// same failure on different connections counts as one kind.
func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

// benchServe is serve without the job workers: deliveries are verified,
// recorded with their process jobs and answered exactly as by serve, and the
// jobs wait. It measures the acknowledgement path alone, apart from the
// processing that follows it.
func benchServe(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, err := loadConfig(fs, args, getenv)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTP.Addr, err)
	}
	return serve(ctx, cfg, ln, newLogger(stderr), false)
}

// benchBare serves the reference handler until ctx ends: read the body,
// check X-Hub-Signature-256 in constant time, parse the payload into
// go-github's event type, answer 200. Nothing is stored or logged.
func benchBare(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench bare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8090", "listen address")
	secret := fs.String("secret", "", "the webhook secret")
	if err := fs.Parse(args); err != nil || *secret == "" {
		fmt.Fprintln(stderr, "usage: replicas-gateway bench bare --addr ADDR --secret SECRET")
		return errUsage
	}
	srv := &http.Server{Addr: *addr, Handler: bareHandler(*secret), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func bareHandler(secret string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 25<<20))
		if err != nil {
			http.Error(w, "body", http.StatusRequestEntityTooLarge)
			return
		}
		if !hmac.Equal([]byte(github.Sign(secret, body)), []byte(r.Header.Get(github.SignatureHeader))) {
			http.Error(w, "signature", http.StatusUnauthorized)
			return
		}
		if _, err := gh.ParseWebHook(r.Header.Get("X-GitHub-Event"), body); err != nil {
			http.Error(w, "payload", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"accepted","delivery_id":%q}`, r.Header.Get("X-GitHub-Delivery"))
	})
}
