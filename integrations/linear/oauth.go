// Connecting a Linear workspace by OAuth, as an app actor (actor=app), and
// keeping its token fresh: Linear access tokens last about a day and refresh
// tokens rotate, so a token within 5 minutes of expiry is refreshed first,
// one refresh per connection at a time across goroutines and replicas.

package linear

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/Khan/genqlient/graphql"
	"golang.org/x/oauth2"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/oauthstate"
)

// Scopes the app asks for.
const Scopes = "read,write,app:assignable,app:mentionable"

const refreshMargin = 5 * time.Minute

func (a *App) oauthConfig() *oauth2.Config {
	return &oauth2.Config{
		ClientID: a.cfg.ClientID, ClientSecret: a.cfg.ClientSecret.Reveal(),
		RedirectURL: strings.TrimRight(a.cfg.PublicURL, "/") + "/oauth/linear/callback",
		Scopes:      []string{Scopes},
		// AuthStyle is explicit: auto-detection re-POSTs the same refresh token after an error.
		Endpoint: oauth2.Endpoint{AuthURL: a.cfg.AuthorizeURL, TokenURL: a.cfg.TokenURL, AuthStyle: oauth2.AuthStyleInParams},
	}
}

// ConnectURL starts the OAuth install for an org.
// The state is bound to the browser session that starts it.
func (a *App) ConnectURL(ctx context.Context, orgID, adminID, sessionID string) (string, error) {
	if a.cfg.ClientID == "" {
		return "", errs.New(errs.ErrUnprocessable, "not_configured", "LINEAR_CLIENT_ID is not configured")
	}
	st, err := a.states.Issue(ctx, a.db, kindInstall, oauthstate.State{OrgID: orgID, UserID: adminID, SessionID: sessionID})
	if err != nil {
		return "", err
	}
	u := a.oauthConfig().AuthCodeURL(st, oauth2.SetAuthURLParam("actor", "app"), oauth2.SetAuthURLParam("prompt", "consent"))
	return strings.Replace(u, url.QueryEscape(Scopes), Scopes, 1), nil
}

// errNoLongerAdmin: the person who started a connect is no longer an admin
// of its org (removed or demoted since); their open browser connects nothing.
var errNoLongerAdmin = errs.Forbidden("only an admin of the org connects Linear, and the person who started this connect no longer is one")

// Callback finishes the install: code → tokens → viewer → connection. Only
// the browser session that started the connect completes it.
func (a *App) Callback(ctx context.Context, signedState, code, sessionID string) (Connection, error) {
	st, err := a.states.Consume(ctx, a.db, signedState, kindInstall, sessionID)
	if err != nil {
		return Connection{}, err
	}
	tok, err := a.oauthConfig().Exchange(ctx, code)
	if err != nil {
		return Connection{}, errs.New(errs.ErrInvalid, "bad_code", "Linear did not accept the authorization code")
	}
	c := Connection{OrgID: st.OrgID, TokenKind: "oauth", token: tok.AccessToken}
	v, err := Viewer(ctx, a.rawClient(c))
	if err != nil {
		return Connection{}, fmt.Errorf("linear: read viewer: %w", err)
	}
	c.AppUserID, c.OrganizationID = v.Viewer.Id, v.Viewer.Organization.Id
	if c.OrganizationID == "" {
		return Connection{}, ErrOrganizationMismatch
	}
	err = a.db.InTx(ctx, func(tx sqldb.Tx) error {
		// The state proves the browser; the connect binds only while the
		// person who started it still administers the org.
		if m, err := a.ids.Member(ctx, tx, st.OrgID, st.UserID); errors.Is(err, identity.ErrNotFound) || err == nil && m.Role != identity.RoleAdmin {
			return errNoLongerAdmin
		} else if err != nil {
			return err
		}
		if err := a.store.Connect(ctx, tx, c, Tokens{Access: tok.AccessToken, Refresh: tok.RefreshToken, Expiry: tok.Expiry}, st.UserID); err != nil {
			return err
		}
		return a.ids.Audit(ctx, tx, identity.AuditEntry{OrgID: st.OrgID, ActorID: st.UserID, Action: "linear.connect", Target: c.OrganizationID,
			Detail: map[string]any{"app_user_id": c.AppUserID, "token_kind": "oauth"}})
	})
	return c, err
}

// ErrReconnect: the connection's token expired and cannot be refreshed
// (Linear refused the refresh token, or an earlier refresh ended without a
// known outcome, so its single-use refresh token may be spent).
var ErrReconnect = errs.New(errs.ErrUnprocessable, "linear_reconnect", "the Linear connection must be reconnected: its token can no longer be refreshed")

// client is a GraphQL client for a connection, refreshing its token first
// when it is about to expire. While a refresh fails the current token is used
// for as long as it is valid.
func (a *App) client(ctx context.Context, c Connection) (graphql.Client, error) {
	if a.needsRefresh(c) {
		fresh, err := a.refresh(ctx, c.OrgID)
		switch {
		case err == nil:
			c = fresh
		case a.now().Before(*c.ExpiresAt):
			a.log.Warn("linear token refresh failed; using the current token until it expires", "org_id", c.OrgID, "error", err)
		default:
			return nil, err
		}
	}
	return a.rawClient(c), nil
}

func (a *App) needsRefresh(c Connection) bool {
	return c.TokenKind == "oauth" && c.refresh != "" && c.ExpiresAt != nil && a.now().Add(refreshMargin).After(*c.ExpiresAt)
}

// refresh rotates an org's tokens. One refresh per connection at a time
// (sqldb's named lock: an advisory lock on PostgreSQL, a mutex on SQLite),
// re-reading first so waiters use the token the winner obtained. The
// refresh token is single-use: the attempt is recorded before it is sent,
// and a connection whose last attempt has no known outcome is never
// refreshed again with the same token.
func (a *App) refresh(ctx context.Context, orgID string) (Connection, error) {
	unlock, err := a.db.Lock(ctx, "linear-connection:"+orgID)
	if err != nil {
		return Connection{}, err
	}
	defer unlock()
	c, err := a.store.ByOrg(ctx, a.db, orgID)
	if err != nil {
		return Connection{}, err
	}
	if !a.needsRefresh(c) {
		return c, nil // refreshed meanwhile
	}
	if c.RefreshState != "" {
		return Connection{}, ErrReconnect
	}
	started, err := a.store.startRefresh(ctx, a.db, orgID, c.Version)
	if err != nil {
		return Connection{}, err
	}
	if !started {
		return Connection{}, fmt.Errorf("linear: connection %s changed during its refresh", orgID)
	}
	tok, err := a.oauthConfig().TokenSource(ctx, &oauth2.Token{RefreshToken: c.refresh, Expiry: time.Unix(1, 0)}).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 400 && re.Response.StatusCode < 500 {
			if err := a.store.refreshRejected(context.WithoutCancel(ctx), a.db, orgID); err != nil {
				return Connection{}, err
			}
		}
		// Otherwise the state stays in_flight: Linear may have rotated the token.
		return Connection{}, fmt.Errorf("linear: refresh the connection's token: %w", err)
	}
	t := Tokens{Access: tok.AccessToken, Refresh: tok.RefreshToken, Expiry: tok.Expiry}
	if t.Refresh == "" {
		t.Refresh = c.refresh
	}
	// The old refresh token is spent: store the new one even if ctx ends now.
	if err := a.store.UpdateTokens(context.WithoutCancel(ctx), a.db, orgID, t); err != nil {
		return Connection{}, err
	}
	return a.store.ByOrg(ctx, a.db, orgID)
}

// State kinds of the Linear browser flows.
const (
	kindInstall = "linear_install"
	kindSignIn  = "linear_signin"
)

// ErrNoUserForEmail: the Linear account's email belongs to no Replicas user.
var ErrNoUserForEmail = errs.New(errs.ErrNotFound, "linear_user_unknown",
	"no Replicas user has the email of this Linear account: ask an admin of your org for an invitation")

// SignInURL starts "Sign in with Linear" (a user actor, read scope) in a
// (signed-out) browser session.
func (a *App) SignInURL(ctx context.Context, sessionID string) (string, error) {
	if a.cfg.ClientID == "" {
		return "", errs.New(errs.ErrUnprocessable, "not_configured", "LINEAR_CLIENT_ID is not configured")
	}
	st, err := a.states.Issue(ctx, a.db, kindSignIn, oauthstate.State{SessionID: sessionID})
	if err != nil {
		return "", err
	}
	cfg := a.oauthConfig()
	cfg.Scopes = []string{"read"}
	return cfg.AuthCodeURL(st, oauth2.SetAuthURLParam("actor", "user")), nil
}

// SignedIn is a finished Linear sign-in: the new session's cookie token.
type SignedIn struct {
	Cookie  string
	Session identity.Session
	Email   string
}

// CallbackResult is what Linear's redirect to /oauth/linear/callback did:
// exactly one of Connection (an org connect) and SignedIn is set.
type CallbackResult struct {
	Connection *Connection
	SignedIn   *SignedIn
}

// BrowserCallback finishes the flow that the browser session sessionID
// started: an org connect (Callback) or a sign-in, which finds the user by
// the Linear account's email. A state of another session is refused.
func (a *App) BrowserCallback(ctx context.Context, signedState, code, sessionID string) (CallbackResult, error) {
	c, err := a.Callback(ctx, signedState, code, sessionID)
	if err == nil {
		return CallbackResult{Connection: &c}, nil
	}
	if !errors.Is(err, oauthstate.ErrBad) {
		return CallbackResult{}, err
	}
	st, err := a.states.Consume(ctx, a.db, signedState, kindSignIn, sessionID)
	if err != nil {
		return CallbackResult{}, err
	}
	tok, err := a.oauthConfig().Exchange(ctx, code)
	if err != nil {
		return CallbackResult{}, errs.New(errs.ErrInvalid, "bad_code", "Linear did not accept the authorization code")
	}
	client := a.rawClient(Connection{TokenKind: "oauth", token: tok.AccessToken})
	v, err := Viewer(ctx, client)
	if err != nil {
		return CallbackResult{}, fmt.Errorf("linear: read viewer: %w", err)
	}
	u, err := UserEmail(ctx, client, v.Viewer.Id)
	if err != nil {
		return CallbackResult{}, fmt.Errorf("linear: read the viewer's email: %w", err)
	}
	email := u.User.Email
	out := &SignedIn{Email: email}
	err = a.db.InTx(ctx, func(tx sqldb.Tx) error {
		user, err := a.ids.UserByEmail(ctx, tx, email)
		if errors.Is(err, identity.ErrNotFound) || email == "" {
			return ErrNoUserForEmail
		}
		if err != nil {
			return err
		}
		out.Cookie, out.Session, err = a.ids.SignInTx(ctx, tx, st.SessionID, user.ID, "", "linear")
		return err
	})
	if err != nil {
		return CallbackResult{}, err
	}
	return CallbackResult{SignedIn: out}, nil
}
