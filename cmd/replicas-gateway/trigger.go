// trigger: send a correctly signed sample delivery, built from the real
// payloads in testdata/, to a running gateway (like a CLI's "trigger"
// command). The demo sends its deliveries through the same code.

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tryreplicas/gateway/integrations/github"
	"github.com/tryreplicas/gateway/integrations/linear"
	"github.com/tryreplicas/gateway/testdata"
)

// githubMention says what the sample mention looks like.
type githubMention struct {
	Login          string
	GitHubID       int64
	Repo           string
	PR             int
	Body           string
	CommentID      int64
	InstallationID int64
}

// build returns the issue_comment.created payload on a pull request.
func (m githubMention) build() ([]byte, error) {
	raw, err := testdata.FS.ReadFile("github/issue_comment.created.on-pr.json")
	if err != nil {
		return nil, err
	}
	var p map[string]any
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("sample payload: %w", err)
	}
	owner, name, ok := strings.Cut(m.Repo, "/")
	if !ok {
		return nil, fmt.Errorf("--repo must be owner/name, got %q", m.Repo)
	}
	sender := p["sender"].(map[string]any)
	sender["login"], sender["id"] = m.Login, m.GitHubID
	comment := p["comment"].(map[string]any)
	comment["body"], comment["id"] = m.Body, m.CommentID
	comment["user"] = sender
	comment["html_url"] = fmt.Sprintf("https://github.com/%s/pull/%d#issuecomment-%d", m.Repo, m.PR, m.CommentID)
	comment["updated_at"] = time.Now().UTC().Format(time.RFC3339)
	issue := p["issue"].(map[string]any)
	issue["number"] = m.PR
	issue["pull_request"].(map[string]any)["html_url"] = fmt.Sprintf("https://github.com/%s/pull/%d", m.Repo, m.PR)
	repo := p["repository"].(map[string]any)
	repo["full_name"], repo["name"] = m.Repo, name
	repo["owner"].(map[string]any)["login"] = owner
	p["installation"].(map[string]any)["id"] = m.InstallationID
	return json.Marshal(p)
}

// githubHeaders signs body as a GitHub App delivery of event.
func githubHeaders(secret, event string, body []byte) map[string]string {
	return map[string]string{
		"Content-Type":         "application/json",
		"X-GitHub-Event":       event,
		"X-GitHub-Delivery":    randomUUID(),
		github.SignatureHeader: github.Sign(secret, body),
		"X-GitHub-Hook-ID":     "1",
		"User-Agent":           "GitHub-Hookshot/replicas-trigger",
	}
}

func randomUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// send posts a signed delivery and returns the status and body.
func send(ctx context.Context, url string, headers map[string]string, body []byte) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("send delivery: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, strings.TrimSpace(string(b)), nil
}

func cmdTrigger(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: replicas-gateway trigger github-mention|linear-assign --url URL --secret SECRET [flags]")
		return errUsage
	}
	kind := args[0]
	fs := flag.NewFlagSet("trigger "+kind, flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", "http://localhost:8080", "the gateway's base URL")
	secret := fs.String("secret", "", "the webhook secret (GITHUB_WEBHOOK_SECRET / LINEAR_WEBHOOK_SECRET)")
	gm := githubMention{}
	lm := linearAssign{}
	switch kind {
	case "github-mention":
		fs.StringVar(&gm.Login, "login", "Codertocat", "commenter's GitHub login")
		fs.Int64Var(&gm.GitHubID, "github-id", 21031067, "commenter's numeric GitHub id")
		fs.StringVar(&gm.Repo, "repo", "Codertocat/Hello-World", "repository owner/name")
		fs.IntVar(&gm.PR, "pr", 1, "pull request number")
		fs.StringVar(&gm.Body, "body", "@tryreplicas please make the failing test pass", "comment body")
		fs.Int64Var(&gm.CommentID, "comment-id", time.Now().UnixNano()%1e9, "comment id")
		fs.Int64Var(&gm.InstallationID, "installation", 1, "App installation id")
	case "linear-assign":
		lm.flags(fs)
	default:
		fmt.Fprintf(stderr, "unknown trigger %q (github-mention or linear-assign)\n", kind)
		return errUsage
	}
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	if *secret == "" {
		fmt.Fprintln(stderr, "--secret is required")
		return errUsage
	}
	var url string
	var headers map[string]string
	var body []byte
	var err error
	if kind == "github-mention" {
		url = strings.TrimRight(*base, "/") + "/webhooks/github"
		body, err = gm.build()
		headers = githubHeaders(*secret, "issue_comment", body)
	} else {
		url = strings.TrimRight(*base, "/") + "/webhooks/linear"
		body, err = lm.build(time.Now())
		headers = linearHeaders(*secret, body)
	}
	if err != nil {
		return err
	}
	status, answer, err := send(ctx, url, headers, body)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d %s\n", status, answer)
	if status != http.StatusOK {
		return fmt.Errorf("the gateway answered %d", status)
	}
	return nil
}

// linearAssign says what the sample assignment looks like.
type linearAssign struct {
	Email          string // the assigning user's email; empty = omitted (fetched through GraphQL)
	ActorID        string
	IssueID        string
	Identifier     string
	AppUserID      string
	OrganizationID string
}

func (l *linearAssign) flags(fs *flag.FlagSet) {
	fs.StringVar(&l.Email, "email", "ada@example.com", "assigning user's email (empty: left out of the payload)")
	fs.StringVar(&l.ActorID, "actor-id", "8f6a6b9c-3f2e-4d0a-9a64-1d2c3b4a5e6f", "assigning user's Linear id")
	fs.StringVar(&l.IssueID, "issue", "2f2b4399-3488-4a74-8c8a-1509f33ca5bf", "issue id")
	fs.StringVar(&l.Identifier, "identifier", "ENG-142", "issue identifier")
	fs.StringVar(&l.AppUserID, "app-user", "d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6", "the Replicas app user id in Linear")
	fs.StringVar(&l.OrganizationID, "organization", "87ebfd3a-bbcd-477a-9664-a9d2c849c2db", "Linear organization id")
}

// build returns an Issue update that assigns the issue to the app user,
// signed-timestamped at now.
func (l linearAssign) build(now time.Time) ([]byte, error) {
	raw, err := testdata.FS.ReadFile("linear/issue.update.assigned.json")
	if err != nil {
		return nil, err
	}
	var p map[string]any
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("sample payload: %w", err)
	}
	actor := p["actor"].(map[string]any)
	actor["id"] = l.ActorID
	if l.Email == "" {
		delete(actor, "email")
	} else {
		actor["email"] = l.Email
	}
	data := p["data"].(map[string]any)
	data["id"], data["identifier"], data["assigneeId"] = l.IssueID, l.Identifier, l.AppUserID
	data["assignee"].(map[string]any)["id"] = l.AppUserID
	data["updatedAt"] = now.UTC().Format("2006-01-02T15:04:05.000Z")
	p["organizationId"] = l.OrganizationID
	p["webhookTimestamp"] = now.UnixMilli()
	return json.Marshal(p)
}

// linearHeaders signs body as a Linear delivery.
func linearHeaders(secret string, body []byte) map[string]string {
	return map[string]string{
		"Content-Type":         "application/json",
		"Linear-Delivery":      randomUUID(),
		"Linear-Event":         "Issue",
		linear.SignatureHeader: linear.Sign(secret, body),
		"User-Agent":           "Linear-Webhook",
	}
}
