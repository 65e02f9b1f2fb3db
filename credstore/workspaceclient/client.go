package workspaceclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// ErrAuth marks an authentication error from the agent's provider; the
// function given to Run wraps its provider's 401s with it.
var ErrAuth = errors.New("authentication error")

// Credential is what the gateway hands out for the workspace's current credential.
type Credential struct {
	CredentialID string            `json:"credential_id"`
	Version      int64             `json:"version"`
	Scope        string            `json:"scope"`
	Agent        string            `json:"agent"`
	Method       string            `json:"method"`
	ExpiresAt    *time.Time        `json:"expires_at"`
	Env          map[string]string `json:"env"`
	Files        map[string]string `json:"files,omitempty"`
}

// ExhaustedError ends the retry loop: nothing in the chain authenticates.
type ExhaustedError struct{ Message string }

func (e *ExhaustedError) Error() string { return e.Message }

// State is reported while credentials are refreshed.
type State struct {
	Reauthenticating bool
	Label            string // "Re-authenticating Claude"
}

// Client talks to the gateway's workspace runtime API.
type Client struct {
	BaseURL string
	Token   string // the workspace token
	HTTP    *http.Client
	// OnState hears "re-authenticating" and back (may be nil).
	OnState func(State)
	// MaxAttempts bounds replays of one request (default 6).
	MaxAttempts int
	// Backoff between retries when the gateway answers 503 (default 500 ms).
	Backoff time.Duration
	// PollWait is how long each long poll of Messages waits (default
	// DefaultPollWait; the gateway allows at most 60 s).
	PollWait time.Duration
}

// Credential fetches the current credential.
func (c *Client) Credential(ctx context.Context) (Credential, error) {
	return c.call(ctx, http.MethodGet, "/api/v1/workspace/credential", nil)
}

// Wake re-resolves the chain after hibernation and returns the credential.
func (c *Client) Wake(ctx context.Context) (Credential, error) {
	return c.call(ctx, http.MethodPost, "/api/v1/workspace/wake", struct{}{})
}

// rejection is the body of a rejection report. The version is always sent:
// it tells the gateway whether the credential was rotated since.
type rejection struct {
	CredentialID string `json:"credential_id"`
	Version      int64  `json:"version"`
}

// Rejected reports cred (at the version it was handed out with) as refused
// and returns the rotated or next one.
func (c *Client) Rejected(ctx context.Context, cred Credential) (Credential, error) {
	return c.call(ctx, http.MethodPost, "/api/v1/workspace/credential/rejected",
		rejection{CredentialID: cred.CredentialID, Version: cred.Version})
}

// Run runs fn with the current credential; on ErrAuth it reports
// re-authenticating, gets the rotated or next credential and replays fn.
func (c *Client) Run(ctx context.Context, fn func(ctx context.Context, cred Credential) error) error {
	cred, err := c.Credential(ctx)
	if err != nil {
		return err
	}
	max := c.MaxAttempts
	if max == 0 {
		max = 6
	}
	for attempt := 1; ; attempt++ {
		err := fn(ctx, cred)
		if !errors.Is(err, ErrAuth) {
			return err
		}
		label := "Re-authenticating " + displayName(cred.Agent)
		c.state(State{Reauthenticating: true, Label: label})
		if attempt >= max {
			c.state(State{})
			return &ExhaustedError{Message: fmt.Sprintf("Couldn't authenticate with %s after multiple attempts", displayName(cred.Agent))}
		}
		next, err := c.Rejected(ctx, cred)
		c.state(State{})
		if err != nil {
			return err
		}
		cred = next
	}
}

func (c *Client) state(s State) {
	if c.OnState != nil {
		c.OnState(s)
	}
}

func displayName(agent string) string {
	if agent == "codex" {
		return "Codex"
	}
	return "Claude"
}

// call makes one API call, retrying while the gateway answers 503.
func (c *Client) call(ctx context.Context, method, path string, body any) (Credential, error) {
	backoff := c.Backoff
	if backoff == 0 {
		backoff = 500 * time.Millisecond
	}
	for tries := 1; ; tries++ {
		cred, status, err := c.once(ctx, method, path, body)
		if status != http.StatusServiceUnavailable || tries >= 5 {
			return cred, err
		}
		select {
		case <-ctx.Done():
			return Credential{}, ctx.Err()
		case <-time.After(backoff * time.Duration(tries)):
		}
	}
}

func (c *Client) once(ctx context.Context, method, path string, body any) (Credential, int, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return Credential{}, 0, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, r)
	if err != nil {
		return Credential{}, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Content-Type", "application/json")
	client := c.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return Credential{}, 0, fmt.Errorf("workspace API %s: %w", path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Credential{}, resp.StatusCode, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(raw, &e)
		if resp.StatusCode == http.StatusConflict && e.Error == "auth_exhausted" {
			return Credential{}, resp.StatusCode, &ExhaustedError{Message: e.Message}
		}
		return Credential{}, resp.StatusCode, fmt.Errorf("workspace API %s: %d %s: %s", path, resp.StatusCode, e.Error, e.Message)
	}
	var cred Credential
	if err := json.Unmarshal(raw, &cred); err != nil {
		return Credential{}, resp.StatusCode, fmt.Errorf("workspace API %s: %w", path, err)
	}
	return cred, resp.StatusCode, nil
}
