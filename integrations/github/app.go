package github

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	gh "github.com/google/go-github/v62/github"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/queue"
	"github.com/tryreplicas/gateway/gateway/secret"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/activity"
	"github.com/tryreplicas/gateway/integrations/intake"
	"github.com/tryreplicas/gateway/integrations/launch"
	"github.com/tryreplicas/gateway/integrations/oauthstate"
)

// Config is the GitHub App, fully specified by the caller: New applies no
// defaults. AppID 0 or an empty PrivateKey means no App (no replies, no
// reactions); an empty WebhookSecret refuses every delivery.
type Config struct {
	AppID         int64
	PrivateKey    secret.Secret // PEM
	WebhookSecret secret.Secret
	ClientID      string
	ClientSecret  secret.Secret
	AppSlug       string
	BotLogin      string        // the mentioned handle, without @ (required)
	APIURL        string        // every API call goes here (required)
	WebURL        string        // OAuth and install pages
	PublicURL     string        // the gateway's, for links in replies and OAuth callbacks
	StateKey      secret.Secret // signs connect and relink states
}

// App is the integration.
type App struct {
	cfg       Config
	db        *sqldb.DB
	ids       *identity.Store
	store     *Store
	queue     *queue.Queue
	log       *slog.Logger
	transport http.RoundTripper
	states    *oauthstate.Store
	// workspaces and activities are read by the tracking job.
	workspaces *launch.Store
	activities *activity.Store
	// TrackingInterval, when set before the queue starts, replaces
	// DefaultTrackingInterval between two writes of a tracking comment.
	TrackingInterval time.Duration
}

// New wires the App and registers its jobs on q. A Config without BotLogin
// or APIURL is a bug in the caller, so New panics.
func New(cfg Config, db *sqldb.DB, ids *identity.Store, q *queue.Queue, log *slog.Logger) *App {
	if cfg.BotLogin == "" || cfg.APIURL == "" {
		panic("github.New: Config.BotLogin and Config.APIURL are required")
	}
	a := &App{cfg: cfg, db: db, ids: ids, store: NewStore(), queue: q, log: log.With("integration", "github"), transport: http.DefaultTransport,
		states: oauthstate.New(cfg.StateKey.Bytes()), workspaces: launch.NewStore(), activities: activity.NewStore()}
	queue.AddWorker(q, &reactWorker{a: a})
	queue.AddWorker(q, &trackWorker{a: a})
	queue.AddWorker(q, &commentWorker{a: a})
	queue.AddWorker(q, &autoLinkWorker{a: a})
	queue.AddWorker(q, &recoverWorker{a: a})
	queue.AddWorker(q, &refreshRepositoriesWorker{a: a})
	if a.appConfigured() {
		q.AddPeriodic(PeriodicRecovery())
	}
	return a
}

// Store gives access to installations (org connect binds them).
func (a *App) Store() *Store { return a.store }

// Name is the source name of deliveries.
func (a *App) Name() string { return "github" }

// SignatureHeader carries "sha256=<hex HMAC-SHA256 of the body>".
const SignatureHeader = "X-Hub-Signature-256"

// Sign returns the X-Hub-Signature-256 value of body (the trigger command and
// tests sign with it).
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

var errNoSecret = errs.New(errs.ErrUnauthorized, "unauthorized", "GITHUB_WEBHOOK_SECRET is not configured: every GitHub delivery is refused")

// Verify checks X-Hub-Signature-256 in constant time on the raw body before
// anything else, then parses it: a body GitHub could not have sent is a 400.
func (a *App) Verify(h http.Header, body []byte) (intake.Delivery, error) {
	if a.cfg.WebhookSecret == "" {
		return intake.Delivery{}, errNoSecret
	}
	want := Sign(a.cfg.WebhookSecret.Reveal(), body)
	if !hmac.Equal([]byte(want), []byte(h.Get(SignatureHeader))) {
		return intake.Delivery{}, errs.New(errs.ErrUnauthorized, "bad_signature", "X-Hub-Signature-256 does not match the body")
	}
	event, id := h.Get("X-GitHub-Event"), h.Get("X-GitHub-Delivery")
	if event == "" || id == "" {
		return intake.Delivery{}, errs.Invalid("X-GitHub-Event and X-GitHub-Delivery are required")
	}
	// The shape check before the 2xx: one JSON object, and its action.
	// Decoding into go-github's types waits for the process job, which
	// interprets the stored body anyway.
	action, err := topLevelAction(body)
	if err != nil {
		return intake.Delivery{}, errs.Invalid("cannot parse the %s payload: %v", event, err)
	}
	if action != "" {
		event += "." + action
	}
	return intake.Delivery{DeliveryID: id, Event: event, Body: body}, nil
}

// topLevelAction is the shape check before the 2xx: body must be one JSON
// object whose structure is complete (strings closed, brackets balanced, keys
// followed by colons, nothing after the end), and its top-level "action" is
// returned (empty when it has none). Scalars are not checked one by one: the
// signature already proved who sent the body, and the process job decodes it
// in full. One pass, strings skipped with IndexByte.
func topLevelAction(b []byte) (string, error) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return "", errors.New("not a JSON object")
	}
	i = skipSpace(b, i+1)
	action := ""
	if i < len(b) && b[i] == '}' {
		return action, endOfDocument(b, i+1)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return "", errors.New("expected a key")
		}
		keyEnd, err := skipString(b, i)
		if err != nil {
			return "", err
		}
		key := b[i:keyEnd]
		i = skipSpace(b, keyEnd)
		if i >= len(b) || b[i] != ':' {
			return "", errors.New("expected a colon after a key")
		}
		i = skipSpace(b, i+1)
		end, err := skipValue(b, i)
		if err != nil {
			return "", err
		}
		if string(key) == `"action"` {
			if err := json.Unmarshal(b[i:end], &action); err != nil {
				return "", fmt.Errorf("action: %w", err)
			}
		}
		i = skipSpace(b, end)
		if i >= len(b) {
			return "", errors.New("unexpected end of the object")
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return action, endOfDocument(b, i+1)
		default:
			return "", errors.New("expected a comma or the end of the object")
		}
	}
}

func endOfDocument(b []byte, i int) error {
	if skipSpace(b, i) != len(b) {
		return errors.New("data after the object")
	}
	return nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the end of the string that starts at b[i] (a quote).
func skipString(b []byte, i int) (int, error) {
	for j := i + 1; ; {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return 0, errors.New("unterminated string")
		}
		j += k
		backslashes := 0
		for p := j - 1; p > i && b[p] == '\\'; p-- {
			backslashes++
		}
		if backslashes%2 == 0 {
			return j + 1, nil
		}
		j++
	}
}

// skipValue returns the end of the value that starts at b[i]: a string, an
// object or array with balanced brackets, or a scalar up to the next
// delimiter.
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errors.New("missing value")
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		var stack []byte
		for j := i; j < len(b); j++ {
			switch c := b[j]; c {
			case '"':
				end, err := skipString(b, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				stack = append(stack, c)
			case '}', ']':
				open := byte('{')
				if c == ']' {
					open = '['
				}
				if len(stack) == 0 || stack[len(stack)-1] != open {
					return 0, errors.New("unbalanced brackets")
				}
				stack = stack[:len(stack)-1]
				if len(stack) == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errors.New("unterminated object or array")
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
			j++
		}
		if j == i {
			return 0, errors.New("missing value")
		}
		return j, nil
	}
}

// client is a go-github client acting as the installation.
func (a *App) client(installationID int64) (*gh.Client, error) {
	if a.cfg.AppID == 0 || len(a.cfg.PrivateKey) == 0 {
		return nil, fmt.Errorf("github: the App is not configured (GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY)")
	}
	itr, err := ghinstallation.New(a.transport, a.cfg.AppID, installationID, a.cfg.PrivateKey.Bytes())
	if err != nil {
		return nil, fmt.Errorf("github: installation transport: %w", err)
	}
	itr.BaseURL = strings.TrimRight(a.cfg.APIURL, "/")
	c := gh.NewClient(&http.Client{Transport: itr})
	base, err := url.Parse(strings.TrimRight(a.cfg.APIURL, "/") + "/")
	if err != nil {
		return nil, fmt.Errorf("github: GITHUB_API_URL: %w", err)
	}
	c.BaseURL = base
	return c, nil
}

// appConfigured reports whether replies and reactions can be sent.
func (a *App) appConfigured() bool { return a.cfg.AppID != 0 && len(a.cfg.PrivateKey) > 0 }

func newIssueComment(body string) *gh.IssueComment { return &gh.IssueComment{Body: &body} }
