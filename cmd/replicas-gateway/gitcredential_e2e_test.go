package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// bareRepo makes a bare repository dir/<name>.git with a main branch and the
// PR's feature-branch.
func bareRepo(t *testing.T, dir, name string) string {
	t.Helper()
	seed, bare := filepath.Join(dir, name+"-seed"), filepath.Join(dir, name+".git")
	for _, args := range [][]string{
		{"init", "-q", "-b", "main", seed},
		{"-C", seed, "commit", "-q", "--allow-empty", "-m", "initial"},
		{"-C", seed, "checkout", "-q", "-b", "feature-branch"},
		{"-C", seed, "commit", "-q", "--allow-empty", "-m", "the pull request"},
		{"clone", "-q", "--bare", seed, bare},
	} {
		cmd := exec.Command("git", args...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	return bare
}

// lsRemote runs git ls-remote on url with token handed over by an
// environment-only credential helper; it returns git's output and error.
func lsRemote(url, token string) (string, error) {
	cmd := exec.Command("git", "-c", "credential.helper=", "-c",
		`credential.helper=!f() { test "$1" = get && printf 'username=x-access-token\npassword=%s\n' "$T"; }; f`, "ls-remote", url)
	cmd.Env = append(os.Environ(), "T="+token, "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// A workspace gets an installation token for exactly its repository, with
// contents and pull_requests write access; it opens that repository and no
// other, is never logged, and dies with the workspace.
func TestGitCredentialIsScopedToTheRepository(t *testing.T) {
	t.Parallel()
	prov := &provisioner{tokens: map[string]string{}}
	provSrv := httptest.NewServer(prov)
	defer provSrv.Close()
	env := pgEnv(t)
	env["REPLICAS_LAUNCHER"], env["REPLICAS_LAUNCHER_URL"], env["REPLICAS_LAUNCHER_SECRET"] = "http", provSrv.URL, "launch-secret"
	var logs syncBuffer
	g := startGatewayLog(t, env, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	seed(t, g, true)
	dir := t.TempDir()
	g.github.ServeGit("Codertocat/Hello-World", bareRepo(t, dir, "Hello-World"))
	g.github.ServeGit("Codertocat/Other", bareRepo(t, filepath.Join(dir, "other"), "Other"))
	if code, _ := g.mention(t, ada, "gh-secret"); code != 200 {
		t.Fatal(code)
	}
	var wsID string
	g.waitFor(t, "the launch", func() bool {
		_ = g.app.db.QueryRow(context.Background(), `SELECT id FROM workspaces WHERE status = 'launched'`).Scan(&wsID)
		return wsID != "" && prov.token(wsID) != ""
	})
	auth := map[string]string{"Authorization": "Bearer " + prov.token(wsID)}
	code, out := post(t, g.url+"/api/v1/workspace/git-credential", auth, nil)
	token, _ := out["token"].(string)
	if code != 200 || token == "" || out["repository"] != "Codertocat/Hello-World" || out["expires_at"] == nil ||
		out["clone_url"] != g.github.URL+"/Codertocat/Hello-World.git" {
		t.Fatalf("git credential = %d %v", code, out)
	}
	asked := g.github.TokenRequests()
	if len(asked) != 1 || asked[0].InstallationID != 1 || strings.Join(asked[0].Repositories, ",") != "Hello-World" ||
		asked[0].Permissions["contents"] != "write" || asked[0].Permissions["pull_requests"] != "write" || len(asked[0].Permissions) != 2 {
		t.Fatalf("token asked of GitHub: %+v", asked)
	}
	if refs, err := lsRemote(out["clone_url"].(string), token); err != nil || !strings.Contains(refs, "refs/heads/feature-branch") {
		t.Fatalf("the token does not open its repository: %v %s", err, refs)
	}
	if refs, err := lsRemote(g.github.URL+"/Codertocat/Other.git", token); err == nil {
		t.Fatalf("the token opens another repository: %s", refs)
	}
	// Without a workspace token: 401. The token is in no log line.
	if code, _ := post(t, g.url+"/api/v1/workspace/git-credential", nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", code)
	}
	if bytes.Contains(logs.Bytes(), []byte(token)) {
		t.Fatal("the git credential was logged")
	}
	// A finished workspace gets no more tokens.
	if code, _ := post(t, g.url+"/api/v1/workspace/events", auth, []byte(`{"status":"finished","summary":"done"}`)); code != 200 {
		t.Fatalf("finished = %d", code)
	}
	if code, _ := post(t, g.url+"/api/v1/workspace/git-credential", auth, nil); code != http.StatusUnauthorized {
		t.Fatalf("a finished workspace's git credential: %d", code)
	}
}

// syncBuffer is a log destination read while the gateway writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}
