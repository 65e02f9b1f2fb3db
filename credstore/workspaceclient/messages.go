package workspaceclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Message is one message of the workspace's conversation.
type Message struct {
	Seq    int64  `json:"seq"`
	Kind   string `json:"kind"` // "prompt" or "stop"
	Body   string `json:"body"`
	Author struct {
		UserID string `json:"user_id"`
		Login  string `json:"login"`
		Email  string `json:"email"`
	} `json:"author"`
	Source    json.RawMessage `json:"source"`
	CreatedAt time.Time       `json:"created_at"`
}

// ErrWorkspaceEnded: the gateway no longer accepts the workspace token (the
// workspace finished, failed or was cancelled, or its owner left the org).
var ErrWorkspaceEnded = errors.New("workspace token refused: the workspace has ended")

// DefaultPollWait is how long one long poll waits for a message: under the
// gateway's 60 s maximum and the idle timeout of common proxies.
const DefaultPollWait = 50 * time.Second

// maxBackoff caps the pause between attempts after errors.
const maxBackoff = 30 * time.Second

// Messages yields the workspace's messages after seq after, in order, for as
// long as the caller keeps reading: it long-polls for new ones and moves its
// cursor past each message once the loop body has had it, so a message is
// yielded again only after a restart from an older cursor (at least once,
// in order). Network errors and 5xx/429 answers are retried with backoff
// (from Backoff, doubling, at most 30 s); the sequence ends with a non-nil
// error when ctx ends (ctx.Err()), the token is refused
// (ErrWorkspaceEnded), or the gateway rejects the request.
func (c *Client) Messages(ctx context.Context, after int64) iter.Seq2[Message, error] {
	return func(yield func(Message, error) bool) {
		wait := c.PollWait
		if wait <= 0 {
			wait = DefaultPollWait
		}
		base := c.Backoff
		if base == 0 {
			base = 500 * time.Millisecond
		}
		backoff := base
		for {
			list, retry, err := c.poll(ctx, after, wait)
			switch {
			case ctx.Err() != nil:
				yield(Message{}, ctx.Err())
				return
			case err != nil && !retry:
				yield(Message{}, err)
				return
			case err != nil:
				select {
				case <-ctx.Done():
					yield(Message{}, ctx.Err())
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, maxBackoff)
				continue
			}
			backoff = base
			for _, m := range list {
				if m.Seq <= after {
					continue // already handed over
				}
				if !yield(m, nil) {
					return
				}
				after = m.Seq
			}
		}
	}
}

// poll makes one long poll; retry says whether an error is worth retrying.
func (c *Client) poll(ctx context.Context, after int64, wait time.Duration) (list []Message, retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, wait+30*time.Second) // a silent connection is retried
	defer cancel()
	q := url.Values{"after": {strconv.FormatInt(after, 10)}, "wait": {strconv.Itoa(int(wait / time.Second))}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(c.BaseURL, "/")+"/api/v1/workspace/messages?"+q.Encode(), nil)
	if err != nil {
		return nil, false, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	client := c.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, true, fmt.Errorf("workspace messages: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, true, fmt.Errorf("workspace messages: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return nil, false, ErrWorkspaceEnded
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout:
		return nil, true, fmt.Errorf("workspace messages: gateway answered %d", resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return nil, false, fmt.Errorf("workspace messages: gateway answered %d: %s", resp.StatusCode, strings.TrimSpace(string(raw)))
	}
	var out struct {
		Messages []Message `json:"messages"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, true, fmt.Errorf("workspace messages: %w", err)
	}
	return out.Messages, false, nil
}
