package linear

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/Khan/genqlient/graphql"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/queue"
	"github.com/tryreplicas/gateway/gateway/secret"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/intake"
	"github.com/tryreplicas/gateway/integrations/oauthstate"
)

// Config is the Linear app.
type Config struct {
	WebhookSecret secret.Secret // empty refuses every delivery
	ClientID      string
	ClientSecret  secret.Secret
	APIURL        string        // GraphQL endpoint (required)
	AuthorizeURL  string        // OAuth authorize (required)
	TokenURL      string        // OAuth token (required)
	PublicURL     string        // the gateway's, for links and the OAuth callback
	StateKey      secret.Secret // signs OAuth states
}

// Installations finds the GitHub installation, bound to orgID, that holds
// the repository fullName ("owner/name"); 0 means none does. OrgRepositories
// lists the repositories the org's installations are known to access.
type Installations interface {
	InstallationFor(ctx context.Context, q sqldb.Querier, orgID, fullName string) (int64, error)
	OrgRepositories(ctx context.Context, q sqldb.Querier, orgID string) ([]string, error)
}

// App is the integration.
type App struct {
	cfg    Config
	db     *sqldb.DB
	ids    *identity.Store
	store  *Store
	repos  Installations
	queue  *queue.Queue
	log    *slog.Logger
	http   *http.Client
	now    func() time.Time
	states *oauthstate.Store
}

// New wires the integration and registers its jobs on q. The Config is
// fully specified by the caller: one without APIURL, AuthorizeURL or
// TokenURL is a bug in the caller, so New panics.
func New(cfg Config, db *sqldb.DB, ids *identity.Store, sealer Sealer, repos Installations, q *queue.Queue, log *slog.Logger) *App {
	if cfg.APIURL == "" || cfg.AuthorizeURL == "" || cfg.TokenURL == "" {
		panic("linear.New: Config.APIURL, Config.AuthorizeURL and Config.TokenURL are required")
	}
	a := &App{cfg: cfg, db: db, ids: ids, store: NewStore(sealer), repos: repos, queue: q, log: log.With("integration", "linear"),
		http: &http.Client{Timeout: 15 * time.Second}, now: time.Now, states: oauthstate.New(cfg.StateKey.Bytes())}
	queue.AddWorker(q, &commentWorker{a: a})
	queue.AddWorker(q, &activityWorker{a: a})
	queue.AddWorker(q, &sessionLinkWorker{a: a})
	queue.AddWorker(q, &issueStartWorker{a: a})
	return a
}

// Store gives access to connections.
func (a *App) Store() *Store { return a.store }

// Name is the source name of deliveries.
func (a *App) Name() string { return "linear" }

// SignatureHeader carries the hex HMAC-SHA256 of the raw body.
const SignatureHeader = "Linear-Signature"

// MaxSkew is how far the signed webhookTimestamp may be from now.
const MaxSkew = 60 * time.Second

// Sign returns the Linear-Signature value of body.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// envelope is the part of every delivery that verification and routing need.
type envelope struct {
	Action           string  `json:"action"`
	Type             string  `json:"type"`
	OrganizationID   string  `json:"organizationId"`
	WebhookTimestamp float64 `json:"webhookTimestamp"`
}

// Verify checks the signature (constant time) and the signed timestamp.
// Linear-Delivery is the delivery id; the body's webhookId names the webhook
// configuration and is never used as one.
func (a *App) Verify(h http.Header, body []byte) (intake.Delivery, error) {
	if a.cfg.WebhookSecret == "" {
		return intake.Delivery{}, errs.New(errs.ErrUnauthorized, "unauthorized", "LINEAR_WEBHOOK_SECRET is not configured: every Linear delivery is refused")
	}
	got, err := hex.DecodeString(strings.TrimSpace(h.Get(SignatureHeader)))
	want, _ := hex.DecodeString(Sign(a.cfg.WebhookSecret.Reveal(), body))
	if err != nil || !hmac.Equal(got, want) {
		return intake.Delivery{}, errs.New(errs.ErrUnauthorized, "bad_signature", "Linear-Signature does not match the body")
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return intake.Delivery{}, errs.Invalid("cannot parse the Linear payload: %v", err)
	}
	sent := time.UnixMilli(int64(env.WebhookTimestamp))
	if env.WebhookTimestamp == 0 || math.Abs(float64(a.now().Sub(sent))) > float64(MaxSkew) {
		return intake.Delivery{}, errs.New(errs.ErrUnauthorized, "stale_delivery", "webhookTimestamp is more than 60 s from now")
	}
	id := h.Get("Linear-Delivery")
	if id == "" {
		return intake.Delivery{}, errs.Invalid("Linear-Delivery is required")
	}
	event := h.Get("Linear-Event")
	if event == "" {
		event = env.Type
	}
	return intake.Delivery{DeliveryID: id, Event: event + "." + env.Action, Body: body}, nil
}

// rawClient speaks to Linear with a connection's token as it is: OAuth
// tokens as "Bearer …", personal API keys bare.
func (a *App) rawClient(c Connection) graphql.Client {
	auth := c.token
	if c.TokenKind == "oauth" {
		auth = "Bearer " + c.token
	}
	return graphql.NewClient(a.cfg.APIURL, &authDoer{client: a.http, auth: auth})
}

type authDoer struct {
	client *http.Client
	auth   string
}

func (d *authDoer) Do(r *http.Request) (*http.Response, error) {
	r.Header.Set("Authorization", d.auth)
	return d.client.Do(r)
}

// TokenKind guesses how a token must be sent: Linear personal API keys start
// with lin_api_.
func TokenKind(token string) string {
	if strings.HasPrefix(token, "lin_api_") {
		return "api_key"
	}
	return "oauth"
}

// ConnectToken connects org to a Linear workspace with a token (OAuth or a
// personal API key). The token's own `viewer` decides which Linear
// organization is connected: an organization_id that names another one is
// refused (ErrOrganizationMismatch) and nothing is stored. A missing app user
// id is the viewer's.
func (a *App) ConnectToken(ctx context.Context, orgID, organizationID, token, appUserID, by string) (Connection, error) {
	if strings.TrimSpace(token) == "" {
		return Connection{}, errs.Invalid("access_token is required")
	}
	c := Connection{OrgID: orgID, AppUserID: appUserID, TokenKind: TokenKind(token), token: token}
	v, err := Viewer(ctx, a.rawClient(c))
	if err != nil {
		return Connection{}, errs.New(errs.ErrInvalid, "linear_unreachable", "could not read the Linear viewer with this token: %v", err)
	}
	c.OrganizationID = v.Viewer.Organization.Id
	if c.OrganizationID == "" || (organizationID != "" && organizationID != c.OrganizationID) {
		a.log.Warn("Linear connect refused: the token belongs to another Linear organization", "org_id", orgID, "claimed", organizationID, "actual", c.OrganizationID)
		return Connection{}, ErrOrganizationMismatch
	}
	if c.AppUserID == "" {
		c.AppUserID = v.Viewer.Id
	}
	err = a.db.InTx(ctx, func(tx sqldb.Tx) error {
		if err := a.store.Connect(ctx, tx, c, Tokens{Access: token}, by); err != nil {
			return err
		}
		return a.ids.Audit(ctx, tx, identity.AuditEntry{OrgID: orgID, ActorID: by, Action: "linear.connect", Target: c.OrganizationID,
			Detail: map[string]any{"app_user_id": c.AppUserID, "token_kind": c.TokenKind}})
	})
	c.UpdatedAt = time.Now().UTC()
	return c, err
}

// ErrOrganizationMismatch: the token does not belong to the Linear
// organization being connected.
var ErrOrganizationMismatch = errs.New(errs.ErrUnprocessable, "linear_organization_mismatch",
	"the access token does not belong to the Linear organization being connected")
