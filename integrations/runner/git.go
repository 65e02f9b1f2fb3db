// Git with the workspace's repository token. The token reaches git only
// through the environment of the git process, where an inline credential
// helper (a shell function whose printf is a shell builtin) hands it over:
// it is never in a URL, a file, the repository's config, or any process's
// arguments.

package runner

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// gitTokenVar carries the token in the git process's environment only.
const gitTokenVar = "REPLICAS_GIT_TOKEN"

// credentialHelper answers git's "get" with the token from the environment;
// "store" and "erase" are ignored, so nothing keeps it.
const credentialHelper = `!f() { test "$1" = get && printf 'username=x-access-token\npassword=%s\n' "$` + gitTokenVar + `"; }; f`

// git runs git commands in a directory with a minimal environment.
type git struct {
	home string   // HOME for git (no user or system config)
	base []string // PATH and the like
}

// run runs git args in dir; with token set, git may authenticate with it.
func (g git) run(ctx context.Context, dir, token string, args ...string) (string, error) {
	full := append([]string{"-c", "credential.helper=", "-c", "credential.helper=" + credentialHelper}, args...)
	cmd := exec.CommandContext(ctx, "git", full...)
	cmd.Dir = dir
	cmd.Env = append(append([]string(nil), g.base...),
		"HOME="+g.home, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=", "SSH_ASKPASS=",
		"GIT_AUTHOR_NAME=Replicas", "GIT_AUTHOR_EMAIL=workspace@replicas.invalid",
		"GIT_COMMITTER_NAME=Replicas", "GIT_COMMITTER_EMAIL=workspace@replicas.invalid")
	if token != "" {
		cmd.Env = append(cmd.Env, gitTokenVar+"="+token)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	text := strings.TrimSpace(out.String())
	if token != "" {
		text = strings.ReplaceAll(text, token, "[redacted]")
	}
	if err != nil {
		return text, fmt.Errorf("git %s: %w: %s", args[0], err, clip(text, 400))
	}
	return text, nil
}

// clone clones url at ref (the default branch when empty) into dir.
func (g git) clone(ctx context.Context, parent, dir, url, ref, token string) error {
	args := []string{"clone", "--no-tags"}
	if ref != "" {
		args = append(args, "--branch", ref)
	}
	_, err := g.run(ctx, parent, token, append(args, "--", url, dir)...)
	return err
}

// commitAll commits every change of the working tree; false when there was
// nothing to commit.
func (g git) commitAll(ctx context.Context, dir, message string) (bool, error) {
	status, err := g.run(ctx, dir, "", "status", "--porcelain")
	if err != nil || status == "" {
		return false, err
	}
	if _, err := g.run(ctx, dir, "", "add", "-A"); err != nil {
		return false, err
	}
	if _, err := g.run(ctx, dir, "", "commit", "-q", "-m", message); err != nil {
		return false, err
	}
	return true, nil
}

// head is the commit checked out.
func (g git) head(ctx context.Context, dir string) (string, error) {
	return g.run(ctx, dir, "", "rev-parse", "HEAD")
}

// push pushes HEAD to branch on origin.
func (g git) push(ctx context.Context, dir, branch, token string) error {
	_, err := g.run(ctx, dir, token, "push", "origin", "HEAD:refs/heads/"+branch)
	return err
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
