// Org connect and relinking (SPEC 2.5): signed, expiring, single-use states;
// binding an installation only on proof (the installer's user token lists it,
// or the installation webhook's sender is the admin's linked account); the
// OAuth relink with PKCE; admin links by login.
package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	gh "github.com/google/go-github/v62/github"
	"golang.org/x/oauth2"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/oauthstate"
)

func (a *App) oauthConfig(redirect string) *oauth2.Config {
	web := strings.TrimRight(a.cfg.WebURL, "/")
	return &oauth2.Config{
		ClientID: a.cfg.ClientID, ClientSecret: a.cfg.ClientSecret, RedirectURL: redirect,
		// AuthStyle is explicit: auto-detection re-POSTs the same code after an error.
		Endpoint: oauth2.Endpoint{AuthURL: web + "/login/oauth/authorize", TokenURL: web + "/login/oauth/access_token", AuthStyle: oauth2.AuthStyleInParams},
	}
}

// userClient is a go-github client acting as the user of tok.
func (a *App) userClient(ctx context.Context, tok *oauth2.Token) (*gh.Client, error) {
	c := gh.NewClient(oauth2.NewClient(ctx, oauth2.StaticTokenSource(tok)))
	base, err := url.Parse(strings.TrimRight(a.cfg.APIURL, "/") + "/")
	if err != nil {
		return nil, fmt.Errorf("github: GITHUB_API_URL: %w", err)
	}
	c.BaseURL = base
	return c, nil
}

// ConnectURL starts an org connect: the App's install URL with a state.
func (a *App) ConnectURL(ctx context.Context, orgID, adminID string) (string, error) {
	if a.cfg.AppSlug == "" {
		return "", errs.New(errs.ErrUnprocessable, "not_configured", "GITHUB_APP_SLUG is not configured")
	}
	st, err := a.states.Issue(ctx, a.db, "github_install", oauthstate.State{OrgID: orgID, UserID: adminID})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s/apps/%s/installations/new?state=%s", strings.TrimRight(a.cfg.WebURL, "/"), url.PathEscape(a.cfg.AppSlug), url.QueryEscape(st)), nil
}

// SetupResult says what a setup redirect did.
type SetupResult struct {
	Bound   bool   `json:"bound"`
	Pending bool   `json:"pending,omitempty"`
	OrgID   string `json:"org_id"`
	Message string `json:"message"`
}

// Setup handles GitHub's redirect after an install: with a code, the
// installer's token must list the installation; without one, the binding
// waits for (or uses) the installation webhook's sender.
func (a *App) Setup(ctx context.Context, installationID int64, signedState, code string) (SetupResult, error) {
	st, err := a.states.Consume(ctx, a.db, signedState, "github_install")
	if err != nil {
		return SetupResult{}, err
	}
	res := SetupResult{OrgID: st.OrgID}
	if code == "" {
		err := a.db.InTx(ctx, func(tx sqldb.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO github_pending_connects (installation_id, org_id, admin_id, created_at) VALUES ($1, $2, $3, $4)
				ON CONFLICT (installation_id) DO UPDATE SET org_id = excluded.org_id, admin_id = excluded.admin_id, created_at = excluded.created_at`,
				installationID, st.OrgID, st.UserID, time.Now().UTC()); err != nil {
				return fmt.Errorf("github: pending connect: %w", err)
			}
			return a.completePending(ctx, tx, installationID)
		})
		if err != nil {
			return res, err
		}
		in, err := a.store.Installation(ctx, a.db, installationID)
		res.Bound = err == nil && in.OrgID == st.OrgID
		res.Pending = !res.Bound
		res.Message = "waiting for the installation webhook from the admin's linked GitHub account"
		if res.Bound {
			res.Message = "connected"
		}
		return res, nil
	}
	tok, err := a.oauthConfig("").Exchange(ctx, code)
	if err != nil {
		return res, errs.New(errs.ErrInvalid, "bad_code", "GitHub did not accept the authorization code")
	}
	uc, err := a.userClient(ctx, tok)
	if err != nil {
		return res, err
	}
	me, _, err := uc.Users.Get(ctx, "")
	if err != nil {
		return res, fmt.Errorf("github: read the installer: %w", err)
	}
	inst, err := findUserInstallation(ctx, uc, installationID)
	if err != nil {
		return res, err
	}
	if inst == nil {
		a.log.Warn("setup redirect names an installation the installer cannot see; nothing bound", "installation_id", installationID, "installer", me.GetLogin(), "org_id", st.OrgID)
		return res, errs.Forbidden("installation %d is not among the installations of GitHub account %s", installationID, me.GetLogin())
	}
	err = a.db.InTx(ctx, func(tx sqldb.Tx) error {
		if err := a.store.Upsert(ctx, tx, Installation{ID: inst.GetID(), AccountLogin: inst.GetAccount().GetLogin(), AccountID: inst.GetAccount().GetID(),
			AccountType: inst.GetAccount().GetType(), Status: "active", RepositorySelection: inst.GetRepositorySelection(), InstallerID: me.GetID()}); err != nil {
			return err
		}
		if _, err := a.ids.LinkGitHub(ctx, tx, identity.LinkRequest{UserID: st.UserID, GitHubID: me.GetID(), Login: me.GetLogin(),
			Via: identity.LinkedViaOAuth, ActorID: st.UserID, OrgID: st.OrgID}); err != nil && !errors.Is(err, identity.ErrLinkConflict) {
			return err
		}
		return a.bindTx(ctx, tx, installationID, st.OrgID, st.UserID)
	})
	if err != nil {
		return res, err
	}
	res.Bound, res.Message = true, "connected"
	return res, nil
}

func findUserInstallation(ctx context.Context, uc *gh.Client, id int64) (*gh.Installation, error) {
	opts := &gh.ListOptions{PerPage: 100}
	for {
		list, resp, err := uc.Apps.ListUserInstallations(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("github: list the installer's installations: %w", err)
		}
		for _, in := range list {
			if in.GetID() == id {
				return in, nil
			}
		}
		if resp.NextPage == 0 {
			return nil, nil
		}
		opts.Page = resp.NextPage
	}
}

// completePending binds an installation whose redirect came without a code,
// once the installation webhook shows it was installed by the GitHub account
// linked to the admin who started the connect.
func (a *App) completePending(ctx context.Context, tx sqldb.Tx, installationID int64) error {
	var orgID, adminID string
	err := tx.QueryRow(ctx, `SELECT org_id, admin_id FROM github_pending_connects WHERE installation_id = $1`, installationID).Scan(&orgID, &adminID)
	if errors.Is(err, sqldb.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("github: pending connect: %w", err)
	}
	in, err := a.store.Installation(ctx, tx, installationID)
	if errors.Is(err, ErrNotFound) || (err == nil && in.InstallerID == 0) {
		return nil // the webhook has not come yet
	}
	if err != nil {
		return err
	}
	link, err := a.ids.GitHubLinkOf(ctx, tx, adminID)
	if err != nil || link.GitHubID != in.InstallerID {
		a.log.Warn("pending connect not bound: the installer is not the admin's linked GitHub account", "installation_id", installationID, "org_id", orgID)
		return nil
	}
	return a.bindTx(ctx, tx, installationID, orgID, adminID)
}

// bindTx binds the installation, clears the pending connect, audits and
// starts auto-linking.
func (a *App) bindTx(ctx context.Context, tx sqldb.Tx, installationID int64, orgID, adminID string) error {
	if err := a.store.Bind(ctx, tx, installationID, orgID); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM github_pending_connects WHERE installation_id = $1`, installationID); err != nil {
		return fmt.Errorf("github: clear pending connect: %w", err)
	}
	if err := a.ids.Audit(ctx, tx, identity.AuditEntry{OrgID: orgID, ActorID: adminID, Action: "github.bind", Target: fmt.Sprint(installationID)}); err != nil {
		return err
	}
	_, err := a.queue.InsertTx(ctx, tx, AutoLinkArgs{InstallationID: installationID, OrgID: orgID}, nil)
	return err
}

// RelinkURL starts a manual relink: GitHub's authorize URL with a state and
// a PKCE S256 challenge.
func (a *App) RelinkURL(ctx context.Context, orgID, userID string) (string, error) {
	if a.cfg.ClientID == "" {
		return "", errs.New(errs.ErrUnprocessable, "not_configured", "GITHUB_CLIENT_ID is not configured")
	}
	verifier := oauth2.GenerateVerifier()
	st, err := a.states.Issue(ctx, a.db, "github_relink", oauthstate.State{OrgID: orgID, UserID: userID, Verifier: verifier})
	if err != nil {
		return "", err
	}
	return a.oauthConfig(a.callbackURL()).AuthCodeURL(st, oauth2.S256ChallengeOption(verifier)), nil
}

func (a *App) callbackURL() string {
	return strings.TrimRight(a.cfg.PublicURL, "/") + "/oauth/github/callback"
}

// Callback proves ownership of a GitHub account and links it (moving it from
// another user when needed; identity audits the move).
func (a *App) Callback(ctx context.Context, signedState, code string) (identity.GitHubLink, error) {
	st, err := a.states.Consume(ctx, a.db, signedState, "github_relink")
	if err != nil {
		return identity.GitHubLink{}, err
	}
	tok, err := a.oauthConfig(a.callbackURL()).Exchange(ctx, code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		return identity.GitHubLink{}, errs.New(errs.ErrInvalid, "bad_code", "GitHub did not accept the authorization code")
	}
	uc, err := a.userClient(ctx, tok)
	if err != nil {
		return identity.GitHubLink{}, err
	}
	me, _, err := uc.Users.Get(ctx, "")
	if err != nil {
		return identity.GitHubLink{}, fmt.Errorf("github: read the user: %w", err)
	}
	var link identity.GitHubLink
	err = a.db.InTx(ctx, func(tx sqldb.Tx) (err error) {
		link, err = a.ids.LinkGitHub(ctx, tx, identity.LinkRequest{UserID: st.UserID, GitHubID: me.GetID(), Login: me.GetLogin(), Via: identity.LinkedViaOAuth, ActorID: st.UserID, OrgID: st.OrgID})
		return err
	})
	return link, err
}

// ResolveLogin finds the numeric id of a login through the API.
func (a *App) ResolveLogin(ctx context.Context, login string) (int64, error) {
	c := gh.NewClient(&http.Client{Timeout: 15 * time.Second})
	base, err := url.Parse(strings.TrimRight(a.cfg.APIURL, "/") + "/")
	if err != nil {
		return 0, fmt.Errorf("github: GITHUB_API_URL: %w", err)
	}
	c.BaseURL = base
	u, resp, err := c.Users.Get(ctx, login)
	if resp != nil && resp.StatusCode == http.StatusNotFound {
		return 0, errs.NotFound("GitHub account " + login)
	}
	if err != nil {
		return 0, fmt.Errorf("github: look up %s: %w", login, err)
	}
	return u.GetID(), nil
}
