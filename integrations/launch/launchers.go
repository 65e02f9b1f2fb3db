// Launchers start a workspace from its launch request: http POSTs
// it signed the Standard Webhooks way, exec runs a command, and with neither
// configured a dry run writes it (token redacted) under the data dir.

package launch

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tryreplicas/gateway/gateway/secret"
)

// RequestType says what a launcher request asks: start a new workspace,
// wake a hibernated one (a message is waiting), or stop one.
type RequestType string

// Types of launcher request.
const (
	RequestLaunch RequestType = "launch"
	RequestWake   RequestType = "wake"
	RequestStop   RequestType = "stop"
)

// Request is the launcher request body. A launch carries the workspace
// token; wake and stop carry none (the workspace has had it since its
// launch) and name the message that caused them.
type Request struct {
	Type           RequestType `json:"type"`
	WorkspaceID    string      `json:"workspace_id"`
	OrgID          string      `json:"org_id"`
	UserID         string      `json:"user_id"`
	Agent          string      `json:"agent"`
	Source         Source      `json:"source"`
	Task           Task        `json:"task"`
	Repository     Repository  `json:"repository"`
	GatewayURL     string      `json:"gateway_url"`
	WorkspaceToken string      `json:"workspace_token,omitempty"`
	// InstallationID is the GitHub App installation holding the repository,
	// so a provisioner can mint an installation token scoped to it.
	InstallationID int64 `json:"installation_id,omitempty"`
	// Seq is the message that caused a wake or stop.
	Seq int64 `json:"seq,omitempty"`
}

// NewRequest builds the launch request of ws.
func NewRequest(ws Workspace, gatewayURL, token string) Request {
	return Request{Type: RequestLaunch, WorkspaceID: ws.ID, OrgID: ws.OrgID, UserID: ws.UserID, Agent: ws.Agent, Source: ws.Source,
		Task: ws.Task, Repository: ws.Repository, GatewayURL: gatewayURL, WorkspaceToken: token, InstallationID: ws.InstallationID}
}

// NewSignal builds the wake or stop request of ws for message seq.
func NewSignal(ws Workspace, typ RequestType, seq int64, gatewayURL string) Request {
	r := NewRequest(ws, gatewayURL, "")
	r.Type, r.Seq = typ, seq
	return r
}

// requestType is r's type, launch when unset.
func (r Request) requestType() RequestType {
	if r.Type == "" {
		return RequestLaunch
	}
	return r.Type
}

// name tells requests of one workspace apart: the workspace id for its
// launch, then type and message number.
func (r Request) name() string {
	if r.requestType() == RequestLaunch {
		return r.WorkspaceID
	}
	return fmt.Sprintf("%s.%s-%d", r.WorkspaceID, r.Type, r.Seq)
}

// Result of a successful launch.
type Result struct {
	DryRun bool
	File   string
}

// Launcher starts workspaces. A *RejectedError means retrying cannot help;
// any other error is retried with backoff.
type Launcher interface {
	Launch(ctx context.Context, r Request) (Result, error)
}

// RejectedError is a launch the provisioner refused for good (a 4xx).
type RejectedError struct{ Reason string }

func (e *RejectedError) Error() string { return "launch rejected: " + e.Reason }

// How long one launch attempt may take: the provisioner's answer, or the
// launch command. The launch job waits that long before it takes a launch in
// flight for lost (launchWorker.Timeout).
const (
	HTTPTimeout = 30 * time.Second
	ExecTimeout = 2 * time.Minute
)

// HTTPLauncher POSTs launch requests signed with Standard Webhooks headers.
type HTTPLauncher struct {
	URL    string
	Secret secret.Secret // "whsec_<base64>" or raw
	Client *http.Client
	Now    func() time.Time
}

// SignStandardWebhook returns the webhook-signature value for id, ts and body.
func SignStandardWebhook(secret, id string, ts int64, body []byte) string {
	key := []byte(secret)
	if rest, ok := strings.CutPrefix(secret, "whsec_"); ok {
		if b, err := base64.StdEncoding.DecodeString(rest); err == nil {
			key = b
		}
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%d.", id, ts)
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Timeout is how long one attempt may take.
func (l *HTTPLauncher) Timeout() time.Duration { return HTTPTimeout }

// Launch sends the request once; River retries.
func (l *HTTPLauncher) Launch(ctx context.Context, r Request) (Result, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return Result{}, fmt.Errorf("encode launch request: %w", err)
	}
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	// The message id stays the same across retries of one request, so the
	// provisioner can recognize a request it already accepted (Standard
	// Webhooks idempotency): msg_<workspace> for the launch,
	// msg_<workspace>.<type>-<seq> for a wake or stop.
	id := "msg_" + r.name()
	ts := now().Unix()
	ctx, cancel := context.WithTimeout(ctx, HTTPTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.URL, bytes.NewReader(body))
	if err != nil {
		return Result{}, fmt.Errorf("launch request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", SignStandardWebhook(l.Secret.Reveal(), id, ts, body))
	client := l.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("launch POST: %w", err)
	}
	defer resp.Body.Close()
	// The answer ends up in the workspace's error and the log: a provisioner
	// that echoes the request must not leak the token there. Redact before
	// shortening, so a cut never leaves part of the token behind.
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	msg := []byte(redact(string(raw), r.WorkspaceToken))
	if len(msg) > 512 {
		msg = msg[:512]
	}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return Result{}, nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout:
		return Result{}, fmt.Errorf("launcher answered %d: %s", resp.StatusCode, bytes.TrimSpace(msg))
	default:
		return Result{}, &RejectedError{Reason: fmt.Sprintf("launcher answered %d: %s", resp.StatusCode, bytes.TrimSpace(msg))}
	}
}

// CredentialEnv gives the agent variables of a workspace's current credential.
type CredentialEnv interface {
	Env(ctx context.Context, workspaceID string) (map[string]string, error)
}

// ExecLauncher runs a command per workspace with sh -c. The task file exists
// while the command runs: a command that starts the workspace in the
// background must hand the file's content over before it exits. Background
// processes do not hold up the launch: the launch ends when sh exits.
//
// The command's environment is built from nothing: hostEnv and the PassEnv
// names from the gateway's environment, then the launch variables and the
// agent variables of the workspace's credential. Nothing else of the host
// (cloud keys, database passwords, tokens) reaches a command that a user's
// mention triggers.
type ExecLauncher struct {
	Command string
	Env     CredentialEnv // may be nil
	TempDir string
	// PassEnv names further variables of the gateway's environment that the
	// command gets (REPLICAS_LAUNCHER_PASS_ENV); names CheckPassEnv refuses
	// never pass.
	PassEnv []string
}

// Timeout is how long one attempt may take.
func (l *ExecLauncher) Timeout() time.Duration { return ExecTimeout }

// Launch runs the command with the documented environment; a non-zero exit is
// retried.
func (l *ExecLauncher) Launch(ctx context.Context, r Request) (Result, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return Result{}, fmt.Errorf("encode launch request: %w", err)
	}
	f, err := os.CreateTemp(l.TempDir, "replicas-task-*.json") // CreateTemp makes it 0600
	if err != nil {
		return Result{}, fmt.Errorf("task file: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(body); err != nil {
		f.Close()
		return Result{}, fmt.Errorf("task file: %w", err)
	}
	if err := f.Close(); err != nil {
		return Result{}, fmt.Errorf("task file: %w", err)
	}
	env := append(l.hostEnv(),
		"REPLICAS_LAUNCH_TYPE="+string(r.requestType()),
		"REPLICAS_WORKSPACE_ID="+r.WorkspaceID,
		"REPLICAS_GATEWAY_URL="+r.GatewayURL,
		"REPLICAS_TASK_FILE="+f.Name(),
	)
	if r.WorkspaceToken != "" {
		env = append(env, "REPLICAS_WORKSPACE_TOKEN="+r.WorkspaceToken)
	}
	secrets := []string{r.WorkspaceToken}
	// A stop needs no credential: it must work when the chain is exhausted.
	if l.Env != nil && r.requestType() != RequestStop {
		vars, err := l.Env.Env(ctx, r.WorkspaceID)
		if err != nil {
			return Result{}, fmt.Errorf("credential env: %w", err)
		}
		for k, v := range vars {
			env = append(env, k+"="+v)
			secrets = append(secrets, v)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, ExecTimeout)
	defer cancel()
	// Output goes to a file, not a pipe: a process the command leaves running
	// in the background keeps a pipe open and Wait would wait for it.
	outFile, err := os.CreateTemp(l.TempDir, "replicas-launch-*.log")
	if err != nil {
		return Result{}, fmt.Errorf("launcher output file: %w", err)
	}
	defer os.Remove(outFile.Name())
	defer outFile.Close()
	cmd := exec.CommandContext(ctx, "sh", "-c", l.Command)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = outFile, outFile
	if err := cmd.Run(); err != nil {
		out, _ := os.ReadFile(outFile.Name())
		// The output tail helps the operator, but it goes into the workspace's
		// error and the log: the command may have printed its environment.
		tail := redact(strings.TrimSpace(string(out)), secrets...)
		if len(tail) > 300 {
			tail = tail[len(tail)-300:]
		}
		return Result{}, fmt.Errorf("launcher command: %w: %s", err, tail)
	}
	return Result{}, nil
}

// hostEnv are the variables of the gateway's environment every launch
// command gets: what a shell, its tools and TLS clients need to work, none of
// which authenticates anything.
var hostEnv = []string{"PATH", "HOME", "LANG", "TZ", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR"}

// neverPassed are variables the operator's pass list may not name: the
// gateway's own secrets (a launch carries none), and the agent variables,
// which would compete with the workspace's one credential (Claude Code takes
// the first of Bedrock, API key, OAuth token it finds). Every REPLICAS_
// variable is refused as well: the launch sets its own.
var neverPassed = map[string]bool{
	"DATABASE_URL": true, "GITHUB_APP_PRIVATE_KEY": true, "GITHUB_WEBHOOK_SECRET": true, "GITHUB_CLIENT_SECRET": true,
	"LINEAR_WEBHOOK_SECRET": true, "LINEAR_CLIENT_SECRET": true,
	"CLAUDE_CODE_OAUTH_TOKEN": true, "ANTHROPIC_API_KEY": true, "CLAUDE_CODE_USE_BEDROCK": true,
	"AWS_ACCESS_KEY_ID": true, "AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true, "AWS_REGION": true,
	"OPENAI_API_KEY": true, "CODEX_API_KEY": true,
}

// CheckPassEnv says why name cannot be passed to launch commands, or nil.
func CheckPassEnv(name string) error {
	valid := name != "" && (name[0] < '0' || name[0] > '9')
	for _, c := range name {
		valid = valid && (c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9')
	}
	switch {
	case !valid:
		return fmt.Errorf("%q is not a variable name", name)
	case neverPassed[name] || strings.HasPrefix(name, "REPLICAS_"):
		return fmt.Errorf("%s is a secret of the gateway, a launch variable or an agent variable and is never passed", name)
	}
	return nil
}

// hostEnv is the part of the command's environment taken from the gateway's.
func (l *ExecLauncher) hostEnv() []string {
	var out []string
	for _, k := range append(slices.Clone(hostEnv), l.PassEnv...) {
		if CheckPassEnv(k) != nil {
			continue
		}
		if v, ok := os.LookupEnv(k); ok {
			out = append(out, k+"="+v)
		}
	}
	return out
}

// redact replaces every secret (of a length worth hiding) in s.
func redact(s string, secrets ...string) string {
	for _, v := range secrets {
		if len(v) >= 8 {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	return s
}

// DryRunLauncher writes the request, token redacted, to Dir/<id>.json (a
// wake or stop to Dir/<id>.<type>-<seq>.json).
type DryRunLauncher struct{ Dir string }

// Launch writes the file.
func (l *DryRunLauncher) Launch(_ context.Context, r Request) (Result, error) {
	if r.WorkspaceToken != "" {
		r.WorkspaceToken = "[redacted]"
	}
	body, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return Result{}, fmt.Errorf("encode launch request: %w", err)
	}
	if err := os.MkdirAll(l.Dir, 0o700); err != nil {
		return Result{}, fmt.Errorf("dry run dir: %w", err)
	}
	path := filepath.Join(l.Dir, r.name()+".json")
	// Written aside and renamed, so a reader never sees half a request.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(body, '\n'), 0o600); err != nil {
		return Result{}, fmt.Errorf("dry run file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return Result{}, fmt.Errorf("dry run file: %w", err)
	}
	return Result{DryRun: true, File: path}, nil
}
