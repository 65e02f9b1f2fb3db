package launch_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tryreplicas/gateway/integrations/launch"
)

// The exec command's environment is an allowlist: the basic host variables,
// the operator's pass list (never a gateway secret or an agent variable), the
// launch variables and the credential's agent variables. Nothing else of the
// gateway's environment reaches it.
//
// Not parallel: it sets the environment of the process the launcher runs in.
func TestExecLauncherEnvironmentIsAllowlisted(t *testing.T) {
	hostSecrets := map[string]string{
		"AWS_SECRET_ACCESS_KEY":          "host-aws-secret-value",
		"AWS_ACCESS_KEY_ID":              "AKIAHOSTHOSTHOST",
		"PGPASSWORD":                     "host-pg-password",
		"GITHUB_TOKEN":                   "ghp_hostgithubtokenvalue",
		"DATABASE_URL":                   "postgres://u:host-db-password@db/x",
		"REPLICAS_ENCRYPTION_KEY":        "host-encryption-key",
		"ANTHROPIC_API_KEY":              "sk-ant-host-key-value",
		"GOOGLE_APPLICATION_CREDENTIALS": "/etc/host/gcp.json",
	}
	for k, v := range hostSecrets {
		t.Setenv(k, v)
	}
	t.Setenv("CORP_PROXY", "http://proxy.corp.example:3128")
	t.Setenv("LANG", "C.UTF-8")
	t.Setenv("TZ", "Europe/Paris")
	dir := t.TempDir()
	l := &launch.ExecLauncher{
		Command: `env > "` + filepath.Join(dir, "env.txt") + `"`,
		Env:     staticEnv{"OPENAI_API_KEY": "sk-proj-credential-value"},
		// The operator may not pass the gateway's secrets or agent variables.
		PassEnv: []string{"CORP_PROXY", "NOT_SET_ANYWHERE", "DATABASE_URL", "ANTHROPIC_API_KEY", "REPLICAS_ENCRYPTION_KEY"},
	}
	if _, err := l.Launch(context.Background(), launch.Request{WorkspaceID: "ws_env", GatewayURL: "http://gateway.test", WorkspaceToken: "rpw_env-token"}); err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(filepath.Join(dir, "env.txt"))
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		vars[k] = v
	}
	for k, v := range hostSecrets {
		if _, ok := vars[k]; ok || strings.Contains(string(out), v) {
			t.Errorf("the command sees the host's %s", k)
		}
	}
	want := map[string]string{
		"PATH": os.Getenv("PATH"), "LANG": "C.UTF-8", "TZ": "Europe/Paris", "CORP_PROXY": "http://proxy.corp.example:3128",
		"REPLICAS_LAUNCH_TYPE": "launch", "REPLICAS_WORKSPACE_ID": "ws_env", "REPLICAS_GATEWAY_URL": "http://gateway.test", "REPLICAS_WORKSPACE_TOKEN": "rpw_env-token",
		"OPENAI_API_KEY": "sk-proj-credential-value",
	}
	for k, v := range want {
		if vars[k] != v {
			t.Errorf("%s = %q, want %q", k, vars[k], v)
		}
	}
	allowed := map[string]bool{"HOME": true, "TMPDIR": true, "SSL_CERT_FILE": true, "SSL_CERT_DIR": true, "REPLICAS_TASK_FILE": true,
		"PWD": true, "SHLVL": true, "_": true} // the last three the shell sets itself
	for k := range vars {
		if _, ok := want[k]; !ok && !allowed[k] {
			t.Errorf("unexpected variable %s in the command's environment", k)
		}
	}
}

func TestCheckPassEnv(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		ok   bool
	}{
		{"HTTPS_PROXY", true},
		{"corp_proxy_2", true},
		{"GITHUB_TOKEN", true}, // the operator's explicit choice
		{"", false},
		{"2FAST", false},
		{"A-B", false},
		{"A=B", false},
		{"DATABASE_URL", false},
		{"GITHUB_APP_PRIVATE_KEY", false},
		{"LINEAR_CLIENT_SECRET", false},
		{"REPLICAS_ENCRYPTION_KEY", false},
		{"REPLICAS_WORKSPACE_TOKEN", false},
		{"ANTHROPIC_API_KEY", false},
		{"CLAUDE_CODE_OAUTH_TOKEN", false},
		{"AWS_SECRET_ACCESS_KEY", false},
		{"OPENAI_API_KEY", false},
	}
	for _, tc := range cases {
		if err := launch.CheckPassEnv(tc.name); (err == nil) != tc.ok {
			t.Errorf("CheckPassEnv(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
