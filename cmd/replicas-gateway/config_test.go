package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/gateway/secret"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/integrations/launch"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestConfigDefaultsAreValid(t *testing.T) {
	t.Parallel()
	cfg, err := LoadConfig(env(nil))
	if err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	if cfg.HTTP.Addr != ":8080" || cfg.Database.DataDir != "./data" || cfg.GitHub.BotLogin != "tryreplicas" {
		t.Errorf("defaults = %+v", cfg)
	}
	if n := cfg.Limits.WebhookMaxInflight; n != 64 {
		t.Errorf("default webhook in-flight cap = %d, want 64", n)
	}
	if d := cfg.Limits.DeliveryRetention; d != 30*24*time.Hour {
		t.Errorf("default delivery retention = %s, want 720h", d)
	}
	if cfg, err := LoadConfig(env(map[string]string{"REPLICAS_DELIVERY_RETENTION": "48h"})); err != nil || cfg.Limits.DeliveryRetention != 48*time.Hour {
		t.Errorf("REPLICAS_DELIVERY_RETENTION=48h: %s, %v", cfg.Limits.DeliveryRetention, err)
	}
}

func TestConfigNamesTheVariable(t *testing.T) {
	t.Parallel()
	key := "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s=" // 32 bytes
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"REPLICAS_ADDR": "nope"}, "REPLICAS_ADDR"},
		{map[string]string{"DATABASE_URL": "mysql://x"}, "DATABASE_URL"},
		{map[string]string{"DATABASE_URL": "postgres://u:hunter2@db/x"}, "REPLICAS_ENCRYPTION_KEY: is required"},
		{map[string]string{"REPLICAS_ENCRYPTION_KEY": "short"}, "REPLICAS_ENCRYPTION_KEY: must be base64"},
		{map[string]string{"REPLICAS_ENCRYPTION_KEY": key, "REPLICAS_PREVIOUS_ENCRYPTION_KEYS": key + ",bad"}, "REPLICAS_PREVIOUS_ENCRYPTION_KEYS"},
		{map[string]string{"REPLICAS_PUBLIC_URL": "ftp://x"}, "REPLICAS_PUBLIC_URL"},
		{map[string]string{"GITHUB_APP_ID": "1"}, "GITHUB_APP_PRIVATE_KEY"},
		{map[string]string{"GITHUB_APP_PRIVATE_KEY": "/does/not/exist"}, "GITHUB_APP_PRIVATE_KEY"},
		{map[string]string{"GITHUB_API_URL": "not a url"}, "GITHUB_API_URL"},
		{map[string]string{"GITHUB_BOT_LOGIN": "@tryreplicas"}, "GITHUB_BOT_LOGIN"},
		{map[string]string{"LINEAR_API_URL": "x"}, "LINEAR_API_URL"},
		{map[string]string{"CLAUDE_OAUTH_TOKEN_URL": "x"}, "CLAUDE_OAUTH_TOKEN_URL"},
		{map[string]string{"REPLICAS_LAUNCHER": "k8s"}, "REPLICAS_LAUNCHER"},
		{map[string]string{"REPLICAS_LAUNCHER": "http"}, "REPLICAS_LAUNCHER_URL"},
		{map[string]string{"REPLICAS_LAUNCHER": "http", "REPLICAS_LAUNCHER_URL": "http://p"}, "REPLICAS_LAUNCHER_SECRET"},
		{map[string]string{"REPLICAS_LAUNCHER": "exec"}, "REPLICAS_LAUNCHER_COMMAND"},
		{map[string]string{"REPLICAS_WEBHOOK_MAX_INFLIGHT": "0"}, "REPLICAS_WEBHOOK_MAX_INFLIGHT"},
		{map[string]string{"REPLICAS_WEBHOOK_MAX_INFLIGHT": "many"}, "REPLICAS_WEBHOOK_MAX_INFLIGHT"},
		{map[string]string{"REPLICAS_DELIVERY_RETENTION": "2h"}, "REPLICAS_DELIVERY_RETENTION: must be a duration of at least a day"},
		{map[string]string{"REPLICAS_DELIVERY_RETENTION": "thirty days"}, "REPLICAS_DELIVERY_RETENTION"},
		{map[string]string{"REPLICAS_LAUNCHER_PASS_ENV": "CORP_PROXY,DATABASE_URL"}, "REPLICAS_LAUNCHER_PASS_ENV: DATABASE_URL"},
		{map[string]string{"REPLICAS_LAUNCHER_PASS_ENV": "AWS_SECRET_ACCESS_KEY"}, "REPLICAS_LAUNCHER_PASS_ENV: AWS_SECRET_ACCESS_KEY"},
		{map[string]string{"REPLICAS_LAUNCHER_PASS_ENV": "NO-DASHES"}, "REPLICAS_LAUNCHER_PASS_ENV"},
		{map[string]string{"REPLICAS_WORKSPACE_TOKEN_TTL": "forever"}, "REPLICAS_WORKSPACE_TOKEN_TTL"},
		{map[string]string{"REPLICAS_WORKSPACE_TOKEN_TTL": "0d"}, "REPLICAS_WORKSPACE_TOKEN_TTL"},
		{map[string]string{"REPLICAS_WORKSPACE_TOKEN_TTL": "1m"}, "REPLICAS_WORKSPACE_TOKEN_TTL: must be at least"},
	}
	for _, tc := range cases {
		_, err := LoadConfig(env(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want it to name %q", tc.env, err, tc.want)
			continue
		}
		line := oneLine(err)
		if strings.Contains(line, "\n") || strings.Contains(line, "hunter2") {
			t.Errorf("%v: line %q must be one line without secrets", tc.env, line)
		}
	}
}

func TestConfigReportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := LoadConfig(env(map[string]string{"REPLICAS_ADDR": "x", "REPLICAS_LAUNCHER": "exec", "LINEAR_API_URL": "y"}))
	for _, v := range []string{"REPLICAS_ADDR", "REPLICAS_LAUNCHER_COMMAND", "LINEAR_API_URL"} {
		if err == nil || !strings.Contains(err.Error(), v) {
			t.Errorf("err = %v, want it to name %s", err, v)
		}
	}
}

// mustConfig parses the environment of a test.
func mustConfig(t testing.TB, getenv func(string) string) Config {
	t.Helper()
	cfg, err := LoadConfig(getenv)
	if err != nil {
		t.Fatal(oneLine(err))
	}
	return cfg
}

// Every secret variable set, and every struct that carries one printed,
// logged and encoded: no secret value appears, whole or as bytes.
func TestSecretsNeverPrint(t *testing.T) {
	t.Parallel()
	key := []byte(strings.Repeat("s3cret!!", 4))
	prevKey := []byte(strings.Repeat("s3cr3t??", 4))
	pem := "-----BEGIN RSA PRIVATE KEY-----\ns3cret-pem-body\n-----END RSA PRIVATE KEY-----\n"
	keyFile := filepath.Join(t.TempDir(), "app.pem")
	if err := os.WriteFile(keyFile, []byte(pem), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"DATABASE_URL":                      "postgres://u:pw-s3cret@h/db",
		"REPLICAS_ENCRYPTION_KEY":           base64.StdEncoding.EncodeToString(key),
		"REPLICAS_PREVIOUS_ENCRYPTION_KEYS": base64.StdEncoding.EncodeToString(prevKey),
		"GITHUB_APP_ID":                     "42", "GITHUB_APP_PRIVATE_KEY": pem,
		"GITHUB_WEBHOOK_SECRET": "gh-s3cret-value", "GITHUB_CLIENT_SECRET": "gh-client-s3cret",
		"LINEAR_WEBHOOK_SECRET": "lin-s3cret-value", "LINEAR_CLIENT_SECRET": "lin-client-s3cret",
		"REPLICAS_LAUNCHER": "http", "REPLICAS_LAUNCHER_URL": "https://p.example", "REPLICAS_LAUNCHER_SECRET": "whsec_s3cret",
	}
	fromFile := map[string]string{"GITHUB_APP_PRIVATE_KEY": keyFile}
	for k, v := range vars {
		if _, ok := fromFile[k]; !ok {
			fromFile[k] = v
		}
	}
	var leaks []string
	for k, v := range vars {
		if k != "GITHUB_APP_ID" && !strings.HasPrefix(k, "REPLICAS_LAUNCHER") || k == "REPLICAS_LAUNCHER_SECRET" {
			leaks = append(leaks, v)
		}
	}
	leaks = append(leaks, "s3cret", "s3cr3t", string(key), fmt.Sprint(key)[1:30], fmt.Sprintf("%x", key)[:16])
	for _, vars := range []map[string]string{vars, fromFile} {
		cfg := mustConfig(t, env(vars))
		if strings.TrimSpace(cfg.GitHub.PrivateKey.Reveal()) != strings.TrimSpace(pem) || cfg.Encryption.Key.Reveal() != string(key) || cfg.Launcher.Secret == "" {
			t.Fatalf("the secrets were not read: %q", cfg.GitHub.PrivateKey.Reveal())
		}
		keys, err := loadKeyring(cfg, sqldbtest.Logger())
		if err != nil {
			t.Fatal(err)
		}
		gh, lin := cfg.GitHub, cfg.Linear
		gh.StateKey, lin.StateKey = secret.Secret(keys.DeriveKey("github-oauth-state")), secret.Secret(keys.DeriveKey("linear-oauth-state"))
		leaks = append(leaks, gh.StateKey.Reveal(), lin.StateKey.Reveal())
		structs := []any{cfg, &cfg, cfg.Database, cfg.Encryption, gh, &gh, lin, &lin, cfg.Launcher,
			launch.HTTPLauncher{URL: cfg.Launcher.URL, Secret: cfg.Launcher.Secret}, keys}
		var outs []string
		for _, v := range structs {
			j, err := json.Marshal(v)
			if _, isLauncher := v.(launch.HTTPLauncher); err != nil && !isLauncher { // a launcher holds a func: not JSON
				t.Fatalf("json %T: %v", v, err)
			}
			var logged bytes.Buffer
			slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "value", v)
			slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "value", v)
			outs = append(outs, fmt.Sprintf("%v", v), fmt.Sprintf("%+v", v), fmt.Sprintf("%#v", v), fmt.Sprintf("%s", v),
				fmt.Sprintf("%x", v), string(j), logged.String())
		}
		for _, out := range outs {
			for _, leak := range leaks {
				if strings.Contains(out, leak) {
					t.Errorf("secret %q printed: %s", leak, out)
				}
			}
		}
	}
}

// LoadConfig gives typed values: the App id, the private key read from its
// file, the decoded keys, durations, the public URL and Linear's OAuth pages.
func TestConfigParsesTypedValues(t *testing.T) {
	t.Parallel()
	key := []byte(strings.Repeat("k", 32))
	keyFile := filepath.Join(t.TempDir(), "app.pem")
	if err := os.WriteFile(keyFile, []byte("-----BEGIN RSA PRIVATE KEY-----\nfrom-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := mustConfig(t, env(map[string]string{
		"REPLICAS_ADDR": "0.0.0.0:9090", "GITHUB_APP_ID": "123456789012", "GITHUB_APP_PRIVATE_KEY": keyFile,
		"REPLICAS_ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(key), "REPLICAS_OAUTH_FORM_ENCODED": "true",
		"REPLICAS_WEBHOOK_MAX_INFLIGHT": "8", "REPLICAS_WORKSPACE_TOKEN_TTL": "36h", "REPLICAS_DELIVERY_RETENTION": "2d",
	}))
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	got := map[string]any{
		"public URL": cfg.HTTP.PublicURL, "github public URL": cfg.GitHub.PublicURL, "linear public URL": cfg.Linear.PublicURL,
		"app id": cfg.GitHub.AppID, "private key": cfg.GitHub.PrivateKey.Reveal(), "encryption key": cfg.Encryption.Key.Reveal(),
		"form": cfg.Agents.FormEncoded, "inflight": cfg.Limits.WebhookMaxInflight, "ttl": cfg.Workspaces.TokenTTL,
		"retention": cfg.Limits.DeliveryRetention, "linear authorize": cfg.Linear.AuthorizeURL, "linear token": cfg.Linear.TokenURL,
		"api": cfg.GitHub.APIURL, "web": cfg.GitHub.WebURL, "bot": cfg.GitHub.BotLogin, "linear api": cfg.Linear.APIURL,
	}
	want := map[string]any{
		"public URL": "http://localhost:9090", "github public URL": "http://localhost:9090", "linear public URL": "http://localhost:9090",
		"app id": int64(123456789012), "private key": "-----BEGIN RSA PRIVATE KEY-----\nfrom-file\n", "encryption key": string(key),
		"form": true, "inflight": 8, "ttl": 36 * time.Hour, "retention": 48 * time.Hour,
		"linear authorize": "https://linear.app/oauth/authorize", "linear token": "https://api.linear.app/oauth/token",
		"api": "https://api.github.com/", "web": "https://github.com/", "bot": "tryreplicas", "linear api": "https://api.linear.app/graphql",
	}
	for k := range want {
		if got[k] != want[k] {
			t.Errorf("%s = %#v, want %#v", k, got[k], want[k])
		}
	}

	cases := []struct {
		env                            map[string]string
		public, linAuthorize, linToken string
	}{
		{map[string]string{"REPLICAS_PUBLIC_URL": "https://gw.example/"}, "https://gw.example", "https://linear.app/oauth/authorize", "https://api.linear.app/oauth/token"},
		{map[string]string{"REPLICAS_ADDR": "127.0.0.1:7000", "LINEAR_API_URL": "http://linear.test:8/graphql"}, "http://127.0.0.1:7000",
			"http://linear.test:8/oauth/authorize", "http://linear.test:8/oauth/token"},
		{map[string]string{"REPLICAS_ADDR": ":8081"}, "http://localhost:8081", "https://linear.app/oauth/authorize", "https://api.linear.app/oauth/token"},
	}
	for _, tc := range cases {
		cfg := mustConfig(t, env(tc.env))
		if cfg.HTTP.PublicURL != tc.public || cfg.Linear.AuthorizeURL != tc.linAuthorize || cfg.Linear.TokenURL != tc.linToken {
			t.Errorf("%v: public %q, linear %q %q", tc.env, cfg.HTTP.PublicURL, cfg.Linear.AuthorizeURL, cfg.Linear.TokenURL)
		}
	}
	if _, err := LoadConfig(env(map[string]string{"GITHUB_APP_ID": "99999999999999999999", "GITHUB_APP_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----"})); err == nil ||
		!strings.Contains(err.Error(), "GITHUB_APP_ID") {
		t.Errorf("an App id beyond int64: %v", err)
	}
}

// The README's configuration table names every variable the code reads and
// states its default as the code does: a backticked value is the default,
// "empty" (with an explanation) means the variable has none.
func TestConfigDefaultsMatchReadme(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(readme), "\n## Configuration\n")
	if !ok {
		t.Fatal("README has no Configuration section")
	}
	table, _, _ = strings.Cut(table, "\n## ")
	backticked := regexp.MustCompile("`([^`]*)`")
	documented := map[string]string{}
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) != 5 || !strings.Contains(cells[1], "`") {
			continue
		}
		var names, defaults []string
		for _, m := range backticked.FindAllStringSubmatch(cells[1], -1) {
			names = append(names, m[1])
		}
		if def := strings.TrimSpace(cells[2]); !strings.HasPrefix(def, "empty") {
			for _, m := range backticked.FindAllStringSubmatch(def, -1) {
				defaults = append(defaults, m[1])
			}
			if len(defaults) != len(names) {
				t.Errorf("README row %q: %d defaults for %d variables", line, len(defaults), len(names))
				continue
			}
		}
		for i, name := range names {
			if _, dup := documented[name]; dup {
				t.Errorf("README lists %s twice", name)
			}
			documented[name] = ""
			if defaults != nil {
				documented[name] = defaults[i]
			}
		}
	}
	for _, v := range variables {
		def, ok := documented[v.name]
		switch {
		case !ok:
			t.Errorf("README does not list %s", v.name)
		case def != v.def:
			t.Errorf("README says %s defaults to %q, the code to %q", v.name, def, v.def)
		}
		delete(documented, v.name)
	}
	for name := range documented {
		t.Errorf("README lists %s, which the code does not read", name)
	}
}

func TestWorkspaceTokenTTLAndPassEnv(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	cases := []struct {
		ttl  string
		want time.Duration
	}{
		{"", 7 * day}, // the default
		{"7d", 7 * day},
		{"30d", 30 * day},
		{"36h", 36 * time.Hour},
		{"90m", 90 * time.Minute},
	}
	for _, tc := range cases {
		cfg, err := LoadConfig(env(map[string]string{"REPLICAS_WORKSPACE_TOKEN_TTL": tc.ttl}))
		if got := cfg.Workspaces.TokenTTL; err != nil || got != tc.want {
			t.Errorf("REPLICAS_WORKSPACE_TOKEN_TTL=%q: %s, %v, want %s", tc.ttl, cfg.Workspaces.TokenTTL, err, tc.want)
		}
	}
	cfg, err := LoadConfig(env(map[string]string{"REPLICAS_LAUNCHER_PASS_ENV": " CORP_PROXY, NO_PROXY ,,"}))
	if fmt.Sprint(cfg.Launcher.PassEnv) != "[CORP_PROXY NO_PROXY]" || err != nil {
		t.Errorf("pass list = %q (%v)", cfg.Launcher.PassEnv, err)
	}
}
