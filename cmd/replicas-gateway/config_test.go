package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestConfigDefaultsAreValid(t *testing.T) {
	t.Parallel()
	cfg := LoadConfig(env(nil))
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	if cfg.HTTP.Addr != ":8080" || cfg.Database.DataDir != "./data" || cfg.GitHub.BotLogin != "tryreplicas" {
		t.Errorf("defaults = %+v", cfg)
	}
	if n, _ := cfg.Limits.MaxInflight(); n != 64 {
		t.Errorf("default webhook in-flight cap = %d, want 64", n)
	}
	if d, _ := cfg.Limits.Retention(); d != 30*24*time.Hour {
		t.Errorf("default delivery retention = %s, want 720h", d)
	}
	if d, err := LoadConfig(env(map[string]string{"REPLICAS_DELIVERY_RETENTION": "48h"})).Limits.Retention(); err != nil || d != 48*time.Hour {
		t.Errorf("REPLICAS_DELIVERY_RETENTION=48h: %s, %v", d, err)
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
		err := LoadConfig(env(tc.env)).Validate()
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
	err := LoadConfig(env(map[string]string{"REPLICAS_ADDR": "x", "REPLICAS_LAUNCHER": "exec", "LINEAR_API_URL": "y"})).Validate()
	for _, v := range []string{"REPLICAS_ADDR", "REPLICAS_LAUNCHER_COMMAND", "LINEAR_API_URL"} {
		if err == nil || !strings.Contains(err.Error(), v) {
			t.Errorf("err = %v, want it to name %s", err, v)
		}
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	t.Parallel()
	cfg := LoadConfig(env(map[string]string{"GITHUB_WEBHOOK_SECRET": "s3cret-value", "DATABASE_URL": "postgres://u:pw-s3cret@h/db"}))
	for _, out := range []string{fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg)} {
		if strings.Contains(out, "s3cret") {
			t.Errorf("secret printed: %s", out)
		}
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
		got, err := LoadConfig(env(map[string]string{"REPLICAS_WORKSPACE_TOKEN_TTL": tc.ttl})).Workspaces.TTL()
		if err != nil || got != tc.want {
			t.Errorf("REPLICAS_WORKSPACE_TOKEN_TTL=%q: %s, %v, want %s", tc.ttl, got, err, tc.want)
		}
	}
	cfg := LoadConfig(env(map[string]string{"REPLICAS_LAUNCHER_PASS_ENV": " CORP_PROXY, NO_PROXY ,,"}))
	if fmt.Sprint(cfg.Launcher.PassEnv) != "[CORP_PROXY NO_PROXY]" || cfg.Validate() != nil {
		t.Errorf("pass list = %q (%v)", cfg.Launcher.PassEnv, cfg.Validate())
	}
}
