// The demo's workspaces run for real on this machine (REPLICAS_LAUNCHER=local)
// with a stand-in agent on their PATH: the repositories are bare git
// repositories the GitHub stand-in serves, Ada's own Claude key is refused
// by the stand-in (so the runner re-authenticates onto the org's key), a
// follow-up is answered in the same conversation, and a stop finishes it.

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/tryreplicas/gateway/credstore"
	"github.com/tryreplicas/gateway/integrations/activity"
	"github.com/tryreplicas/gateway/integrations/github/githubtest"
	"github.com/tryreplicas/gateway/integrations/launch"
	"github.com/tryreplicas/gateway/integrations/runner/standin"
)

// demoRunners prepares local workspaces: a served bare repository for each
// demo repository and the stand-in agents in dataDir/agents, whose
// directory it returns. Without git on the PATH the demo stays on dry runs
// ("" and no error).
func demoRunners(dataDir string, gh *githubtest.Server, refusedKey string) (string, error) {
	if _, err := exec.LookPath("git"); err != nil {
		return "", nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", nil
	}
	for _, repo := range []string{"Codertocat/Hello-World", "acme/storefront"} {
		bare, err := demoRepository(filepath.Join(dataDir, "git"), repo)
		if err != nil {
			return "", err
		}
		gh.ServeGit(repo, bare)
	}
	agents := filepath.Join(dataDir, "agents")
	if err := os.MkdirAll(agents, 0o700); err != nil {
		return "", err
	}
	if err := standin.Install(agents, exe, "workspace", "stand-in"); err != nil {
		return "", err
	}
	return agents, standin.WriteControl(agents, standin.Control{Reject: []string{refusedKey}, Edit: true, AuthGiveUp: "3s"})
}

// demoRepository creates dir/<owner>/<name>.git with a main branch and the
// pull request's feature-branch.
func demoRepository(dir, fullName string) (string, error) {
	seed := filepath.Join(dir, "seed", fullName)
	bare := filepath.Join(dir, fullName+".git")
	for _, args := range [][]string{
		{"init", "-q", "-b", "main", seed},
		{"-C", seed, "commit", "-q", "--allow-empty", "-m", "Initial commit"},
		{"-C", seed, "checkout", "-q", "-b", "feature-branch"},
		{"-C", seed, "commit", "-q", "--allow-empty", "-m", "Fix the spelling in the README"},
		{"-C", seed, "checkout", "-q", "main"},
		{"clone", "-q", "--bare", seed, bare},
	} {
		cmd := exec.Command("git", args...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Demo", "GIT_AUTHOR_EMAIL=demo@example.com",
			"GIT_COMMITTER_NAME=Demo", "GIT_COMMITTER_EMAIL=demo@example.com", "GIT_CONFIG_NOSYSTEM=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("demo repository %s: git %s: %v: %s", fullName, args[0], err, out)
		}
	}
	return bare, nil
}

// seedDemoUserKey gives Ada her own Claude API key (first in her chain).
func seedDemoUserKey(ctx context.Context, a *app, key string) error {
	ada, err := a.identity.EnsureUser(ctx, a.db, "ada@example.com", "Ada")
	if err != nil {
		return err
	}
	_, err = a.creds.Put(ctx, a.db, credstore.Owner{Scope: credstore.ScopeUser, ID: ada.ID}, credstore.AgentClaude, credstore.MethodAPIKey,
		credstore.Secret{APIKey: key}, credstore.Change{ActorID: ada.ID})
	return err
}

// demoConversation follows the GitHub workspace: its first answer (after
// re-authenticating), a follow-up answered in the same conversation, and a
// stop that finishes it; it prints the workspace's activities.
func demoConversation(ctx context.Context, a *app, base, ghSecret, orgID string, stdout io.Writer) error {
	var ws launch.Workspace
	list, err := a.launch.Store().List(ctx, a.db, orgID, "", 10)
	if err != nil {
		return err
	}
	for _, w := range list {
		if w.Source.Kind == launch.SourceGitHub {
			ws = w
		}
	}
	if ws.ID == "" {
		return fmt.Errorf("demo: no GitHub workspace")
	}
	fmt.Fprintf(stdout, "\nWorkspace %s runs on this machine (runner log in workspaces/%s/runner.log):\n", ws.ID, ws.ID)
	shown := 0
	show := func() error {
		acts, err := a.activity.Store().Latest(ctx, a.db, ws.ID, 1000)
		if err != nil {
			return err
		}
		for _, act := range acts[min(shown, len(acts)):] {
			fmt.Fprintf(stdout, "  %-8s %s\n", act.Type, describeActivity(act))
		}
		shown = max(shown, len(acts))
		return nil
	}
	waitActivity := func(text string) error {
		deadline := time.Now().Add(60 * time.Second)
		for {
			acts, err := a.activity.Store().Latest(ctx, a.db, ws.ID, 1000)
			if err != nil {
				return err
			}
			for _, act := range acts {
				if strings.Contains(act.Body, text) {
					return show()
				}
			}
			if time.Now().After(deadline) {
				_ = show()
				return fmt.Errorf("demo: the workspace did not say %q within a minute", text)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	mention := func(id int64, body string) error {
		m := githubMention{Login: "Codertocat", GitHubID: 21031067, Repo: "Codertocat/Hello-World", PR: 1, Body: body, CommentID: id, InstallationID: 1}
		raw, err := m.build()
		if err != nil {
			return err
		}
		status, answer, err := send(ctx, base+"/webhooks/github", githubHeaders(ghSecret, "issue_comment", raw), raw)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "→ GitHub: @Codertocat comments %q: %d %s\n", body, status, answer)
		return nil
	}
	if err := waitActivity("Done:"); err != nil {
		return err
	}
	if err := mention(492700401, "@tryreplicas also add a test for it"); err != nil {
		return err
	}
	if err := waitActivity("Follow-up done"); err != nil {
		return err
	}
	if err := mention(492700402, "@tryreplicas stop"); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		w, err := a.launch.Store().Get(ctx, a.db, ws.ID)
		if err != nil {
			return err
		}
		if w.Status == launch.StatusFinished || w.Status == launch.StatusCancelled || w.Status == launch.StatusFailed {
			_ = show()
			fmt.Fprintf(stdout, "  → %s: %s %s\n", w.Status, firstLineOf(w.Summary), w.ResultURL)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("demo: the workspace did not finish after the stop (%s)", w.Status)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func describeActivity(a activity.Activity) string {
	if a.Type == activity.Action {
		s := a.Action + " " + a.Parameter
		if a.Result != "" {
			s += " → " + firstLineOf(a.Result)
		}
		return s
	}
	return firstLineOf(a.Body)
}

func firstLineOf(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
