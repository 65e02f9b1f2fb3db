package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
)

// startServe runs serve on a free port until the returned stop is called.
func startServe(t *testing.T, cfg Config) (base string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, ln, sqldbtest.Logger(), true) }()
	base = "http://" + ln.Addr().String()
	waitReady(t, base)
	return base, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond) // polling a server that is starting
	}
	t.Fatalf("%s never became ready", base)
}

func bootstrap(t *testing.T, getenv func(string) string, args ...string) map[string]string {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := run(context.Background(), append([]string{"admin", "bootstrap", "--json"}, args...), getenv, &out, &errOut); err != nil {
		t.Fatalf("bootstrap: %v: %s", err, errOut.String())
	}
	var res map[string]string
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("bootstrap output %q: %v", out.String(), err)
	}
	for _, k := range []string{"org_id", "user_id", "token"} {
		if res[k] == "" {
			t.Fatalf("bootstrap output lacks %s: %v", k, res)
		}
	}
	return res
}

func getMe(t *testing.T, base, token string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/v1/me", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("GET /api/v1/me: not JSON: %v", err)
	}
	return resp.StatusCode, body
}

// With no configuration the gateway runs on the embedded SQLite file and its
// data survives a restart.
func TestServeEmbeddedSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	getenv := env(map[string]string{"REPLICAS_DATA_DIR": dir})
	boot := bootstrap(t, getenv, "--org", "acme", "--email", "ada@example.com")
	cfg := mustConfig(t, getenv)
	for round := 0; round < 2; round++ {
		base, stop := startServe(t, cfg)
		if code, me := getMe(t, base, boot["token"]); code != 200 || me["id"] != boot["user_id"] {
			t.Fatalf("round %d: me = %d %v", round, code, me)
		}
		if code, body := getMe(t, base, ""); code != 401 || body["error"] != "unauthorized" {
			t.Fatalf("round %d: no token = %d %v", round, code, body)
		}
		stop()
	}
}

// Two gateways on different ports share one PostgreSQL database.
func TestServeTwoReplicasSharePostgres(t *testing.T) {
	t.Parallel()
	dsn, _ := sqldbtest.SchemaURL(t)
	getenv := env(map[string]string{
		"DATABASE_URL":            dsn,
		"REPLICAS_ENCRYPTION_KEY": "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s=",
	})
	cfg := mustConfig(t, getenv)
	// Both start (and migrate) at once.
	type started struct {
		base string
		stop func()
	}
	ch := make(chan started, 2)
	for i := 0; i < 2; i++ {
		go func() { b, s := startServe(t, cfg); ch <- started{b, s} }()
	}
	a, b := <-ch, <-ch
	defer a.stop()
	defer b.stop()
	boot := bootstrap(t, getenv, "--org", "acme", "--email", "ada@example.com")
	for _, base := range []string{a.base, b.base} {
		if code, me := getMe(t, base, boot["token"]); code != 200 || me["id"] != boot["user_id"] {
			t.Fatalf("%s: me = %d %v", base, code, me)
		}
	}
}

// The operator's login link: printed by the command, redeemed once over HTTP
// for a token of that user, refused the second time.
func TestAdminLoginLink(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	getenv := env(map[string]string{"REPLICAS_DATA_DIR": dir})
	boot := bootstrap(t, getenv, "--org", "acme", "--email", "ada@example.com")
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"admin", "login-link", "--email", "nobody@example.com"}, getenv, &out, &errOut); err == nil {
		t.Fatalf("login link for an unknown email: %q", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"admin", "login-link", "--email", "Ada@Example.com"}, getenv, &out, &errOut); err != nil {
		t.Fatalf("login-link: %v: %s", err, errOut.String())
	}
	link := strings.TrimSpace(out.String())
	if !strings.Contains(link, "/login/link/rpk_") || strings.Contains(link, "\n") {
		t.Fatalf("login link = %q", link)
	}
	base, stop := startServe(t, mustConfig(t, getenv))
	defer stop()
	_, token, _ := strings.Cut(link, "/login/link/")
	path := "login-links/" + token + "/redeem"
	redeem := func() (int, map[string]any) {
		resp, err := http.Post(base+"/api/v1/"+path, "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	code, body := redeem()
	if code != 201 || body["user_id"] != boot["user_id"] {
		t.Fatalf("redeem = %d %v", code, body)
	}
	if code, me := getMe(t, base, body["token"].(string)); code != 200 || me["id"] != boot["user_id"] {
		t.Fatalf("token from the login link: me = %d %v", code, me)
	}
	if code, body := redeem(); code != 404 {
		t.Fatalf("second redeem = %d %v", code, body)
	}
}
