package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tryreplicas/gateway/credstore/workspaceclient"
)

// Credential is the agent credential the gateway hands out.
type Credential = workspaceclient.Credential

// GitCredential is a short-lived token for the workspace's repository.
type GitCredential struct {
	Token      string    `json:"token"`
	ExpiresAt  time.Time `json:"expires_at"`
	Repository string    `json:"repository"`
	CloneURL   string    `json:"clone_url"`
}

// Message is one message of the workspace's conversation.
type Message struct {
	Seq  int64  `json:"seq"`
	Kind string `json:"kind"` // prompt or stop
	Body string `json:"body"`
}

// Activity is one thing the agent did, as the gateway shows it.
type Activity struct {
	Type      string `json:"type"` // thought, action, response, error
	Body      string `json:"body,omitempty"`
	Action    string `json:"action,omitempty"`
	Parameter string `json:"parameter,omitempty"`
	Result    string `json:"result,omitempty"`
	Ephemeral bool   `json:"ephemeral,omitempty"`
}

// Event is a lifecycle report.
type Event struct {
	Status  string `json:"status"` // running, hibernated, finished, failed
	Summary string `json:"summary,omitempty"`
	URL     string `json:"url,omitempty"`
}

// Gateway is the runtime API as the runner uses it.
type Gateway interface {
	Credential(ctx context.Context) (Credential, error)
	// Rejected reports cred (at its version) as refused by the provider and
	// returns the rotated or next credential, or *workspaceclient.ExhaustedError.
	Rejected(ctx context.Context, cred Credential) (Credential, error)
	Wake(ctx context.Context) (Credential, error)
	GitCredential(ctx context.Context) (GitCredential, error)
	// Messages returns the messages after seq, waiting up to wait for one.
	Messages(ctx context.Context, after int64, wait time.Duration) ([]Message, error)
	Activity(ctx context.Context, a Activity) error
	Event(ctx context.Context, e Event) error
}

// HTTPGateway is Gateway over HTTP with the workspace token.
type HTTPGateway struct {
	creds *workspaceclient.Client
	base  string
	token string
	http  *http.Client
}

// NewHTTPGateway talks to the gateway at base with the workspace token.
func NewHTTPGateway(base, token string) *HTTPGateway {
	hc := &http.Client{Timeout: 90 * time.Second}
	return &HTTPGateway{creds: &workspaceclient.Client{BaseURL: base, Token: token, HTTP: hc},
		base: strings.TrimRight(base, "/"), token: token, http: hc}
}

func (g *HTTPGateway) Credential(ctx context.Context) (Credential, error) {
	return g.creds.Credential(ctx)
}
func (g *HTTPGateway) Wake(ctx context.Context) (Credential, error) { return g.creds.Wake(ctx) }
func (g *HTTPGateway) Rejected(ctx context.Context, c Credential) (Credential, error) {
	return g.creds.Rejected(ctx, c)
}

func (g *HTTPGateway) GitCredential(ctx context.Context) (GitCredential, error) {
	var out GitCredential
	err := g.do(ctx, http.MethodPost, "/api/v1/workspace/git-credential", struct{}{}, &out)
	return out, err
}

func (g *HTTPGateway) Messages(ctx context.Context, after int64, wait time.Duration) ([]Message, error) {
	q := url.Values{"after": {strconv.FormatInt(after, 10)}, "wait": {strconv.Itoa(int(wait.Seconds()))}}
	var out struct {
		Messages []Message `json:"messages"`
	}
	err := g.do(ctx, http.MethodGet, "/api/v1/workspace/messages?"+q.Encode(), nil, &out)
	return out.Messages, err
}

func (g *HTTPGateway) Activity(ctx context.Context, a Activity) error {
	return g.do(ctx, http.MethodPost, "/api/v1/workspace/activities", a, nil)
}

func (g *HTTPGateway) Event(ctx context.Context, e Event) error {
	return g.do(ctx, http.MethodPost, "/api/v1/workspace/events", e, nil)
}

// APIError is a non-2xx answer of the gateway.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("gateway answered %d %s: %s", e.Status, e.Code, e.Message)
}

// do makes one API call, retrying a busy or unreachable gateway (5xx, 429,
// no answer) a few times: an activity or a report is not dropped because
// the database was briefly busy.
func (g *HTTPGateway) do(ctx context.Context, method, path string, body, out any) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = g.once(ctx, method, path, body, out)
		var api *APIError
		retry := err != nil && (!errors.As(err, &api) || api.Status >= 500 || api.Status == http.StatusTooManyRequests)
		if !retry || attempt >= 6 || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt) * 250 * time.Millisecond):
		}
	}
}

func (g *HTTPGateway) once(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, g.base+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+g.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := g.http.Do(req)
	if err != nil {
		// url.Error names the URL only; the token travels in a header.
		return fmt.Errorf("gateway %s: %w", strings.SplitN(path, "?", 2)[0], err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(raw, &e)
		return &APIError{Status: resp.StatusCode, Code: e.Error, Message: e.Message}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}
