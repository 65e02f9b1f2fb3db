// demo: a self-contained run on the embedded default. It starts the gateway
// on a free port with a local stand-in for the GitHub and Linear APIs, seeds
// a demo org, sends one signed GitHub mention and one signed Linear
// assignment through the trigger command's code, waits for the workspaces
// they launch (dry runs) and prints them, then sends a follow-up comment that
// becomes a message to the (hibernated) GitHub workspace and wakes it. No
// network, no configuration.

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tryreplicas/gateway/credstore"
	"github.com/tryreplicas/gateway/gateway/queue"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/github"
	"github.com/tryreplicas/gateway/integrations/github/githubtest"
	"github.com/tryreplicas/gateway/integrations/launch"
	"github.com/tryreplicas/gateway/integrations/linear/lineartest"
	"github.com/tryreplicas/gateway/testdata"
)

func randomSecret() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func cmdDemo(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "", "where the demo database lives (default: a new temporary directory)")
	exit := fs.Bool("exit", false, "exit after printing the workspaces instead of serving until Ctrl-C")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *dataDir == "" {
		dir, err := os.MkdirTemp("", "replicas-demo-")
		if err != nil {
			return err
		}
		*dataDir = dir
	}
	fakeGitHub, err := githubtest.New(4242)
	if err != nil {
		return err
	}
	defer fakeGitHub.Close()
	const appUser, linOrg = "d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6", "87ebfd3a-bbcd-477a-9664-a9d2c849c2db"
	fakeLinear := lineartest.New("Bearer lin_oauth_demo", appUser, linOrg)
	defer fakeLinear.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	ghSecret, linSecret := randomSecret(), randomSecret()
	// Workspaces run on this machine with a stand-in agent that refuses
	// Ada's own key (dry runs when git is missing).
	adaKey := "sk-ant-api03-ada-demo-" + randomSecret()
	agents, err := demoRunners(*dataDir, fakeGitHub, adaKey)
	if err != nil {
		return err
	}
	env := map[string]string{
		"REPLICAS_DATA_DIR": *dataDir, "REPLICAS_ADDR": ln.Addr().String(), "REPLICAS_PUBLIC_URL": base,
		"GITHUB_WEBHOOK_SECRET": ghSecret, "GITHUB_APP_ID": "4242", "GITHUB_APP_PRIVATE_KEY": string(fakeGitHub.PrivateKey),
		"GITHUB_APP_SLUG": "tryreplicas", "GITHUB_API_URL": fakeGitHub.URL + "/",
		"LINEAR_WEBHOOK_SECRET": linSecret, "LINEAR_API_URL": fakeLinear.URL,
	}
	if agents != "" {
		env["REPLICAS_LAUNCHER"], env["GITHUB_WEB_URL"] = "local", fakeGitHub.URL+"/"
	}
	cfg, err := LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		return errors.New(oneLine(err))
	}
	cfg.Launcher.agentPath = agents
	logFile, err := os.OpenFile(filepath.Join(*dataDir, "gateway.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	log := newLogger(logFile)
	a, err := openApp(ctx, cfg, log, queue.Options{PollInterval: 50 * time.Millisecond})
	if err != nil {
		return err
	}
	defer a.Close()
	serveCtx, stopServing := context.WithCancel(ctx)
	defer stopServing()
	if err := a.queue.Start(serveCtx); err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- a.server.Serve(serveCtx, ln, 5*time.Second) }()
	go func() {
		<-serveCtx.Done()
		a.endWorkspaceCalls() // local runners poll the server: end them first
	}()
	fmt.Fprintf(stdout, "Replicas gateway demo on %s (embedded SQLite in %s, log in gateway.log)\n\n", base, *dataDir)

	token, orgID, err := seedDemo(ctx, a, base, ghSecret)
	if err != nil {
		return err
	}
	if agents != "" {
		if err := seedDemoUserKey(ctx, a, adaKey); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "Ada also has her own Claude API key, which the stand-in agent refuses.")
	}
	fmt.Fprintf(stdout, "Seeded org %q: admin@example.com (admin, API token below), ada@example.com (member,\n"+
		"GitHub @Codertocat linked), an org Claude API key, GitHub App installations 1 (Codertocat/Hello-World)\n"+
		"and 2 (acme/storefront) from signed installation webhooks, a Linear workspace (team ENG → acme/storefront).\n\n", "demo")

	mention := githubMention{Login: "Codertocat", GitHubID: 21031067, Repo: "Codertocat/Hello-World", PR: 1,
		Body: "@tryreplicas please make the failing test pass", CommentID: 492700400, InstallationID: 1}
	body, err := mention.build()
	if err != nil {
		return err
	}
	status, answer, err := send(ctx, base+"/webhooks/github", githubHeaders(ghSecret, "issue_comment", body), body)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "→ GitHub: issue_comment by @Codertocat on Codertocat/Hello-World#1: %d %s\n", status, answer)
	// The admin assigns the Linear issue: a workspace of Ada's own would
	// race the GitHub one to the refusal of her key, and whichever came
	// second would not need to re-authenticate.
	assign := linearAssign{Email: "admin@example.com", ActorID: "8f6a6b9c-3f2e-4d0a-9a64-1d2c3b4a5e6f", IssueID: "2f2b4399-3488-4a74-8c8a-1509f33ca5bf",
		Identifier: "ENG-142", AppUserID: appUser, OrganizationID: linOrg}
	body, err = assign.build(time.Now())
	if err != nil {
		return err
	}
	status, answer, err = send(ctx, base+"/webhooks/linear", linearHeaders(linSecret, body), body)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "→ Linear: ENG-142 assigned to Replicas by admin@example.com: %d %s\n\n", status, answer)

	list, err := waitLaunched(ctx, a, orgID, 2)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "Workspaces launched:")
	for _, w := range list {
		chain := make([]string, len(w.Chain))
		for i, c := range w.Chain {
			chain[i] = c.Scope + "/" + c.Method
		}
		fmt.Fprintf(stdout, "  %s  %-8s from %-6s  %q\n      agent %s, chain [%s], repository %s@%s (installation %d)\n",
			w.ID, w.Status, w.Source.Kind, w.Task.Title, w.Agent, strings.Join(chain, " → "), w.Repository.FullName, w.Repository.Ref, w.InstallationID)
		if w.DryRun {
			fmt.Fprintf(stdout, "      dry-run launch request: %s\n", w.LaunchFile)
		} else {
			fmt.Fprintf(stdout, "      runs locally in %s\n", filepath.Join(*dataDir, "workspaces", w.ID))
		}
	}
	waitAcks(ctx, fakeGitHub, fakeLinear)
	fmt.Fprintln(stdout, "\nWhat the integrations said back:")
	for _, c := range fakeGitHub.Calls() {
		fmt.Fprintf(stdout, "  GitHub %s %s: %s\n", c.Kind, c.Path, c.Body)
	}
	for _, c := range fakeLinear.Comments() {
		fmt.Fprintf(stdout, "  Linear comment: %s\n", c)
	}
	if agents == "" {
		if err := demoFollowUp(ctx, a, stdout, base, ghSecret, mention, list); err != nil {
			return err
		}
	} else if err := demoConversation(ctx, a, base, ghSecret, orgID, stdout); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nTry the API:\n  curl -H 'Authorization: Bearer %s' %s/api/v1/orgs/%s/workspaces\n  curl -H 'Authorization: Bearer %s' %s/api/v1/orgs/%s/deliveries\n",
		token, base, orgID, token, base, orgID)
	link, _, err := a.identity.IssueLoginLink(ctx, a.db, "admin@example.com")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nOpen the pages: this single-use link (15 minutes) signs your browser in as admin@example.com:\n  %s\n", loginLinkURL(base, link))
	if *exit {
		stopServing()
	} else {
		fmt.Fprintln(stdout, "\nServing until Ctrl-C.")
	}
	err = <-served
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = a.queue.Stop(stopCtx)
	return err
}

func seedDemo(ctx context.Context, a *app, base, ghSecret string) (token, orgID string, err error) {
	org, admin, token, err := a.identity.Bootstrap(ctx, a.db, "demo", "admin@example.com", "Demo Admin")
	if err != nil {
		return "", "", fmt.Errorf("seed: %w", err)
	}
	ada, err := a.identity.EnsureUser(ctx, a.db, "ada@example.com", "Ada")
	if err != nil {
		return "", "", err
	}
	if err := a.identity.AddMember(ctx, a.db, org.ID, ada.ID, identity.RoleMember); err != nil {
		return "", "", err
	}
	if _, err := a.identity.LinkGitHub(ctx, a.db, identity.LinkRequest{UserID: ada.ID, GitHubID: 21031067, Login: "Codertocat", Via: identity.LinkedViaAdmin, ActorID: admin.ID, OrgID: org.ID}); err != nil {
		return "", "", err
	}
	if _, err := a.creds.Put(ctx, a.db, credstore.Owner{Scope: credstore.ScopeOrg, ID: org.ID}, credstore.AgentClaude, credstore.MethodAPIKey,
		credstore.Secret{APIKey: "sk-ant-api03-demo-" + randomSecret()}, credstore.Change{ActorID: admin.ID, OrgID: org.ID}); err != nil {
		return "", "", err
	}
	// GitHub tells the gateway about each installation and its repositories
	// with a signed installation webhook; the demo then binds them to the org
	// (what the admin's connect does).
	for _, in := range []demoInstallation{
		{ID: 1, Login: "Codertocat", AccountID: 21031067, Type: "User", Repos: []string{"Codertocat/Hello-World"}},
		{ID: 2, Login: "acme", AccountID: 9000, Type: "Organization", Repos: []string{"acme/storefront"}},
	} {
		if err := in.deliver(ctx, a, base, ghSecret); err != nil {
			return "", "", err
		}
		if err := a.github.Store().Bind(ctx, a.db, in.ID, org.ID); err != nil {
			return "", "", err
		}
	}
	if _, err := a.linear.ConnectToken(ctx, org.ID, "", "lin_oauth_demo", "", admin.ID); err != nil {
		return "", "", err
	}
	if err := a.linear.MapTeam(ctx, org.ID, "ENG", "acme/storefront"); err != nil {
		return "", "", err
	}
	return token, org.ID, nil
}

// demoInstallation is an App installation the demo announces.
type demoInstallation struct {
	ID        int64
	Login     string
	AccountID int64
	Type      string
	Repos     []string
}

// deliver sends the signed installation.created webhook (the testdata's,
// rewritten) and waits until the gateway has recorded it.
func (in demoInstallation) deliver(ctx context.Context, a *app, base, secret string) error {
	raw, err := testdata.FS.ReadFile("github/installation.created.json")
	if err != nil {
		return err
	}
	var p map[string]any
	if err := json.Unmarshal(raw, &p); err != nil {
		return fmt.Errorf("sample payload: %w", err)
	}
	inst := p["installation"].(map[string]any)
	inst["id"] = in.ID
	acc := inst["account"].(map[string]any)
	acc["login"], acc["id"], acc["type"] = in.Login, in.AccountID, in.Type
	repos := []any{}
	for i, r := range in.Repos {
		_, name, _ := strings.Cut(r, "/")
		repos = append(repos, map[string]any{"id": in.ID*1000 + int64(i), "name": name, "full_name": r, "private": true})
	}
	p["repositories"] = repos
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	status, answer, err := send(ctx, base+"/webhooks/github", githubHeaders(secret, "installation", body), body)
	if err != nil {
		return err
	}
	if status != 200 {
		return fmt.Errorf("demo: installation webhook answered %d %s", status, answer)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := a.github.Store().Installation(ctx, a.db, in.ID)
		if err == nil {
			return nil
		}
		if !errors.Is(err, github.ErrNotFound) || time.Now().After(deadline) {
			return fmt.Errorf("demo: installation %d not recorded: %w", in.ID, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitLaunched polls the org's workspaces until n are launched (or failed).
func waitLaunched(ctx context.Context, a *app, orgID string, n int) ([]launch.Workspace, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		list, err := a.launch.Store().List(ctx, a.db, orgID, "", 10)
		if err != nil {
			return nil, err
		}
		done := 0
		for _, w := range list {
			if w.Status != launch.StatusQueued && w.Status != launch.StatusLaunching {
				done++
			}
		}
		if done >= n {
			return list, nil
		}
		if time.Now().After(deadline) {
			b, _ := json.Marshal(list)
			return nil, fmt.Errorf("demo: workspaces not launched after 30 s: %s", b)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitAcks gives the reaction and reply jobs a moment to reach the stand-ins.
func waitAcks(ctx context.Context, g *githubtest.Server, l *lineartest.Server) {
	deadline := time.After(5 * time.Second)
	for len(g.Calls()) < 2 || len(l.Comments()) < 1 {
		select {
		case <-g.Changed():
		case <-l.Changed():
		case <-deadline:
			return
		case <-ctx.Done():
			return
		}
	}
}

// demoFollowUp: the GitHub workspace hibernates (as a workspace reports it),
// then the same person comments on the same pull request again. No new
// workspace: the comment becomes message 2 of the workspace, and the
// launcher gets a wake request.
func demoFollowUp(ctx context.Context, a *app, stdout io.Writer, base, ghSecret string, first githubMention, list []launch.Workspace) error {
	var ws launch.Workspace
	for _, w := range list {
		if w.Source.Kind == launch.SourceGitHub {
			ws = w
		}
	}
	if ws.ID == "" {
		return errors.New("demo: no GitHub workspace")
	}
	if _, err := a.launch.Update(ctx, ws.ID, launch.Update{Status: launch.StatusHibernated, Summary: "waiting for review"}); err != nil {
		return err
	}
	m := first
	m.CommentID, m.Body = first.CommentID+1, "@tryreplicas also add a changelog entry"
	body, err := m.build()
	if err != nil {
		return err
	}
	status, _, err := send(ctx, base+"/webhooks/github", githubHeaders(ghSecret, "issue_comment", body), body)
	if err != nil {
		return err
	}
	wake := filepath.Join(a.cfg.Database.DataDir, "launches", ws.ID+".wake-2.json")
	deadline := time.Now().Add(30 * time.Second)
	var msgs []launch.Message
	for {
		msgs, err = a.launch.Messages(ctx, ws.ID, 0, 0)
		if err != nil {
			return err
		}
		if _, statErr := os.Stat(wake); len(msgs) >= 2 && statErr == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("demo: the follow-up did not reach workspace %s", ws.ID)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	n, err := a.launch.Store().List(ctx, a.db, ws.OrgID, "", 10)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nFollow-up: workspace %s reported hibernated; @Codertocat comments on Codertocat/Hello-World#1 again: %d\n", ws.ID, status)
	fmt.Fprintf(stdout, "  still %d workspaces; the comment is a message to %s (thread %s):\n", len(n), ws.ID, ws.Thread)
	for _, msg := range msgs {
		fmt.Fprintf(stdout, "    %d %-6s from @%s: %q\n", msg.Seq, msg.Kind, msg.Author.Login, msg.Body)
	}
	fmt.Fprintf(stdout, "  wake request to the launcher (dry run): %s\n", wake)
	fmt.Fprintln(stdout, "  the workspace reads its messages with GET /api/v1/workspace/messages?after=1&wait=60 (Go: workspaceclient.Client.Messages)")
	return nil
}
