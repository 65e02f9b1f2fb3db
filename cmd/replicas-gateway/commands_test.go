// Every command runs under the full production configuration: a GitHub App
// (id and key), both webhook secrets, a Linear OAuth client, the http
// launcher and PostgreSQL.
package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tryreplicas/gateway/integrations/github/githubtest"
	"github.com/tryreplicas/gateway/integrations/linear/lineartest"
)

// runCommand runs one command line through run; a panic is reported as an
// error instead of ending the test binary.
func runCommand(ctx context.Context, args []string, getenv func(string) string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
		stdout, stderr = out.String(), errOut.String()
	}()
	err = run(ctx, args, getenv, &out, &errOut)
	return
}

func TestEveryCommandUnderProductionConfig(t *testing.T) {
	t.Parallel()
	fakeGitHub, err := githubtest.New(4242)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fakeGitHub.Close)
	fakeLinear := lineartest.New("Bearer lin_oauth_prod", "d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6", "87ebfd3a-bbcd-477a-9664-a9d2c849c2db")
	t.Cleanup(fakeLinear.Close)
	provisioner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) }))
	t.Cleanup(provisioner.Close)
	addr := freeAddr(t)
	base := "http://" + addr
	vars := pgEnv(t)
	for k, v := range map[string]string{
		"REPLICAS_ADDR": addr, "REPLICAS_PUBLIC_URL": base, "REPLICAS_DATA_DIR": t.TempDir(),
		"GITHUB_APP_ID": "4242", "GITHUB_APP_PRIVATE_KEY": string(fakeGitHub.PrivateKey), "GITHUB_APP_SLUG": "tryreplicas",
		"GITHUB_WEBHOOK_SECRET": "gh-secret", "GITHUB_CLIENT_ID": "Iv1.prod", "GITHUB_CLIENT_SECRET": "gh-client-secret",
		"GITHUB_API_URL": fakeGitHub.URL + "/", "GITHUB_WEB_URL": fakeGitHub.URL + "/",
		"LINEAR_WEBHOOK_SECRET": "lin-secret", "LINEAR_CLIENT_ID": "lin-client", "LINEAR_CLIENT_SECRET": "lin-client-secret",
		"LINEAR_API_URL":    fakeLinear.URL,
		"REPLICAS_LAUNCHER": "http", "REPLICAS_LAUNCHER_URL": provisioner.URL, "REPLICAS_LAUNCHER_SECRET": "whsec_cHJvdmlzaW9uZXI=",
		"REPLICAS_WEBHOOK_MAX_INFLIGHT": "32", "REPLICAS_DELIVERY_RETENTION": "30d",
	} {
		vars[k] = v
	}
	getenv := env(vars)
	if _, err := LoadConfig(getenv); err != nil {
		t.Fatalf("the production configuration is invalid: %v", err)
	}

	// serve runs throughout, as it does while an operator runs the others.
	ctx, stopServing := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		_, stderr, err := runCommand(ctx, []string{"serve"}, getenv)
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, stderr)
		}
		served <- err
	}()
	waitReady(t, base)

	cases := []struct {
		args []string
		want string // in stdout
	}{
		{[]string{"serve"}, ""}, // running above
		{[]string{"migrate"}, "migrations applied"},
		{[]string{"admin", "bootstrap", "--org", "acme", "--email", "ops@example.com"}, "API token (shown once)"},
		{[]string{"admin", "login-link", "--email", "ops@example.com"}, base + "/login/link/"},
		{[]string{"admin", "rotate-key"}, "credentials: 0 re-sealed"},
		{[]string{"trigger", "github-mention", "--url", base, "--secret", "gh-secret"}, `"status":"accepted"`},
		{[]string{"trigger", "linear-assign", "--url", base, "--secret", "lin-secret"}, `"status":"accepted"`},
		{[]string{"bench", "intake", "--url", base, "--secret", "gh-secret", "--concurrency", "2", "--duration", "500ms", "--warmup", "0s"}, "errors 0"},
		{[]string{"demo", "--exit", "--data-dir", t.TempDir()}, "/login/link/rpk_"},
		{[]string{"help"}, "usage: replicas-gateway"},
		// workspace run needs a launch; the local-launcher tests run it.
		{[]string{"workspace", "help"}, "usage: replicas-gateway workspace run"},
	}
	covered := map[string]bool{}
	for _, tc := range cases {
		name := strings.Join(tc.args, " ")
		if tc.args[0] == "admin" {
			covered["admin "+tc.args[1]] = true
		} else {
			covered[tc.args[0]] = true
		}
		if tc.args[0] == "serve" {
			continue
		}
		stdout, stderr, err := runCommand(context.Background(), tc.args, getenv)
		if err != nil || !strings.Contains(stdout, tc.want) {
			t.Errorf("%s: %v; stdout lacks %q?\n%s\n%s", name, err, tc.want, stdout, stderr)
		}
	}
	stopServing()
	if err := <-served; err != nil {
		t.Errorf("serve: %v", err)
	}

	// Every command (in the usage text, or registered) has a case above.
	all := []string{"help"}
	_, list, _ := strings.Cut(usage, "commands:\n")
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		words := strings.Fields(line)
		if words[0] == "admin" {
			words[0] += " " + words[1]
		}
		all = append(all, words[0])
		if sub, ok := strings.CutPrefix(words[0], "admin "); ok && adminCommands[sub] == nil || !ok && commands[words[0]] == nil {
			t.Errorf("usage lists %q, which is not in the command table", words[0])
		}
	}
	for name := range commands {
		if name != "admin" {
			all = append(all, name)
		}
	}
	for name := range adminCommands {
		all = append(all, "admin "+name)
	}
	for _, name := range all {
		if !covered[name] {
			t.Errorf("command %q has no case here: every command must run under the production configuration", name)
		}
	}
}
