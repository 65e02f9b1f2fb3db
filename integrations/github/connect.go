// Org connect and relinking: signed, expiring, single-use states; binding an
// installation only on proof (the installer, from a code exchanged with the
// setup redirect_uri, administers the installation account; or the
// installation webhook's sender is the admin's OAuth-proven account), never
// across orgs; the OAuth relink with PKCE; admin links by login.

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
		ClientID: a.cfg.ClientID, ClientSecret: a.cfg.ClientSecret.Reveal(), RedirectURL: redirect,
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
// The state is bound to the browser session that starts it.
func (a *App) ConnectURL(ctx context.Context, orgID, adminID, sessionID string) (string, error) {
	if a.cfg.AppSlug == "" {
		return "", errs.New(errs.ErrUnprocessable, "not_configured", "GITHUB_APP_SLUG is not configured")
	}
	st, err := a.states.Issue(ctx, a.db, "github_install", oauthstate.State{OrgID: orgID, UserID: adminID, SessionID: sessionID})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s/apps/%s/installations/new?state=%s", strings.TrimRight(a.cfg.WebURL, "/"), url.PathEscape(a.cfg.AppSlug), url.QueryEscape(st)), nil
}

// SetupResult says what a setup redirect did.
type SetupResult struct {
	Bound   bool   `json:"bound"`
	Pending bool   `json:"pending,omitempty"`
	OrgID   string `json:"org_id,omitempty"`
	Message string `json:"message"`
}

// SetupRequest is GitHub's redirect to {REPLICAS_PUBLIC_URL}/github/setup.
type SetupRequest struct {
	InstallationID int64
	Action         string // "install" or "update"
	State          string
	Code           string
	// SessionID is the browser session the redirect arrived in; only the
	// session that started the connect completes it.
	SessionID string
}

// Setup handles GitHub's redirect after an install. The redirect's
// installation id can be forged, so only proof binds: with a code (exchanged
// with this flow's own redirect_uri), the installer must see the installation
// and administer its account; without one, the binding waits for (or uses)
// the installation webhook whose sender is the admin's OAuth-proven account.
// An installation bound to another org is never rebound, and an "update"
// redirect (settings changed on GitHub) binds nothing.
func (a *App) Setup(ctx context.Context, r SetupRequest) (SetupResult, error) {
	if r.Action == "update" {
		return SetupResult{Message: fmt.Sprintf("installation %d was updated on GitHub; an update binds nothing, so nothing changed", r.InstallationID)}, nil
	}
	st, err := a.states.Consume(ctx, a.db, r.State, "github_install", r.SessionID)
	if err != nil {
		return SetupResult{}, err
	}
	res := SetupResult{OrgID: st.OrgID}
	if err := a.stillAdmin(ctx, a.db, st.OrgID, st.UserID); err != nil {
		return res, err
	}
	in, err := a.store.Installation(ctx, a.db, r.InstallationID)
	switch {
	case err == nil && in.OrgID != "" && in.OrgID != st.OrgID:
		a.log.Warn("setup redirect for an installation bound to another org; nothing changed", "installation_id", r.InstallationID, "org_id", st.OrgID)
		return res, ErrInstallationBound
	case err != nil && !errors.Is(err, ErrNotFound):
		return res, err
	}
	if r.Code == "" {
		return a.setupPending(ctx, r.InstallationID, st)
	}
	tok, err := a.oauthConfig(a.setupURL()).Exchange(ctx, r.Code)
	if err != nil {
		return res, errs.New(errs.ErrInvalid, "bad_code", "GitHub did not accept the authorization code for this redirect")
	}
	uc, err := a.userClient(ctx, tok)
	if err != nil {
		return res, err
	}
	me, _, err := uc.Users.Get(ctx, "")
	if err != nil {
		return res, fmt.Errorf("github: read the installer: %w", err)
	}
	inst, err := findUserInstallation(ctx, uc, r.InstallationID)
	if err != nil {
		return res, err
	}
	if inst == nil {
		a.log.Warn("setup redirect names an installation the installer cannot see; nothing bound", "installation_id", r.InstallationID, "installer", me.GetLogin(), "org_id", st.OrgID)
		return res, errs.Forbidden("installation %d is not among the installations of GitHub account %s", r.InstallationID, me.GetLogin())
	}
	if err := administers(ctx, uc, me, inst.GetAccount()); err != nil {
		a.log.Warn("setup redirect by someone who does not administer the installation account; nothing bound", "installation_id", r.InstallationID,
			"installer", me.GetLogin(), "account", inst.GetAccount().GetLogin(), "org_id", st.OrgID, "err", err)
		return res, err
	}
	err = a.db.InTx(ctx, func(tx sqldb.Tx) error {
		if err := a.stillAdmin(ctx, tx, st.OrgID, st.UserID); err != nil {
			return err
		}
		if err := a.store.Upsert(ctx, tx, Installation{ID: inst.GetID(), AccountLogin: inst.GetAccount().GetLogin(), AccountID: inst.GetAccount().GetID(),
			AccountType: inst.GetAccount().GetType(), Status: "active", RepositorySelection: inst.GetRepositorySelection(), InstallerID: me.GetID()}); err != nil {
			return err
		}
		if _, err := a.ids.LinkGitHub(ctx, tx, identity.LinkRequest{UserID: st.UserID, GitHubID: me.GetID(), Login: me.GetLogin(),
			Via: identity.LinkedViaOAuth, ActorID: st.UserID, OrgID: st.OrgID}); err != nil && !errors.Is(err, identity.ErrLinkConflict) {
			return err
		}
		return a.bindTx(ctx, tx, r.InstallationID, st.OrgID, st.UserID)
	})
	if err != nil {
		return res, err
	}
	res.Bound, res.Message = true, "connected"
	return res, nil
}

// setupPending records a redirect without a code and binds at once when the
// installation webhook already came from the admin's OAuth-proven account.
func (a *App) setupPending(ctx context.Context, installationID int64, st oauthstate.State) (SetupResult, error) {
	res := SetupResult{OrgID: st.OrgID}
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
	res.Message = "waiting for the installation webhook from the admin's GitHub account (linked by OAuth sign-in)"
	if res.Bound {
		res.Message = "connected"
	}
	return res, nil
}

// administers is the proof that the installer may connect the installation:
// for an Organization, their membership there is an active admin one; for a
// User account, it is the installer. Seeing the installation is not enough
// (every member with read access sees it).
func administers(ctx context.Context, uc *gh.Client, me *gh.User, account *gh.User) error {
	switch account.GetType() {
	case "User":
		if account.GetID() == me.GetID() {
			return nil
		}
	case "Organization":
		m, resp, err := uc.Organizations.GetOrgMembership(ctx, "", account.GetLogin())
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			break // not a member
		}
		if resp != nil && resp.StatusCode == http.StatusForbidden {
			return errs.Forbidden("GitHub refused to show %s's membership of %s (the App needs the organization Members read permission)", me.GetLogin(), account.GetLogin())
		}
		if err != nil {
			return fmt.Errorf("github: read %s's membership of %s: %w", me.GetLogin(), account.GetLogin(), err)
		}
		if m.GetState() == "active" && m.GetRole() == "admin" && m.GetOrganization().GetID() == account.GetID() {
			return nil
		}
	}
	return errs.Forbidden("GitHub account %s does not administer %s, the account of this installation; an owner of %s connects it",
		me.GetLogin(), account.GetLogin(), account.GetLogin())
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
	if err != nil || link.GitHubID != in.InstallerID || link.LinkedVia != identity.LinkedViaOAuth {
		a.log.Warn("pending connect not bound: the installer is not the admin's GitHub account proven by OAuth", "installation_id", installationID, "org_id", orgID)
		return nil
	}
	if err := a.stillAdmin(ctx, tx, orgID, adminID); err != nil {
		if !errors.Is(err, errs.ErrForbidden) {
			return err
		}
		a.log.Warn("pending connect dropped: the person who started it no longer administers the org", "installation_id", installationID, "org_id", orgID)
		if _, err := tx.Exec(ctx, `DELETE FROM github_pending_connects WHERE installation_id = $1`, installationID); err != nil {
			return fmt.Errorf("github: clear pending connect: %w", err)
		}
		return nil
	}
	err = a.bindTx(ctx, tx, installationID, orgID, adminID)
	if errors.Is(err, ErrInstallationBound) {
		a.log.Warn("pending connect dropped: the installation is bound to another org", "installation_id", installationID, "org_id", orgID)
		if _, derr := tx.Exec(ctx, `DELETE FROM github_pending_connects WHERE installation_id = $1`, installationID); derr != nil {
			return fmt.Errorf("github: clear pending connect: %w", derr)
		}
	}
	return err
}

// errNoLongerAdmin: the person who started a connect is no longer an admin
// of its org (removed or demoted since); their open browser binds nothing.
var errNoLongerAdmin = errs.Forbidden("only an admin of the org connects it, and the person who started this connect no longer is one")

// stillAdmin is the rule that a connect binds only while the person who
// started it administers the org: the state proves the browser, not that
// the authority it had 30 minutes ago still holds.
func (a *App) stillAdmin(ctx context.Context, q sqldb.Querier, orgID, userID string) error {
	m, err := a.ids.Member(ctx, q, orgID, userID)
	switch {
	case errors.Is(err, identity.ErrNotFound):
		return errNoLongerAdmin
	case err != nil:
		return err
	case m.Role != identity.RoleAdmin:
		return errNoLongerAdmin
	}
	return nil
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
	if err := a.refreshRepositoriesTx(ctx, tx, installationID); err != nil {
		return err
	}
	_, err := a.queue.InsertTx(ctx, tx, AutoLinkArgs{InstallationID: installationID, OrgID: orgID}, nil)
	return err
}

// Disconnect unbinds an installation from the admin's org, so that another
// org may connect it; mentions on its repositories launch nothing until then.
func (a *App) Disconnect(ctx context.Context, orgID, adminID string, installationID int64) error {
	return a.db.InTx(ctx, func(tx sqldb.Tx) error {
		if err := a.store.Unbind(ctx, tx, installationID, orgID); err != nil {
			return err
		}
		return a.ids.Audit(ctx, tx, identity.AuditEntry{OrgID: orgID, ActorID: adminID, Action: "github.unbind", Target: fmt.Sprint(installationID)})
	})
}

// setupURL is the org connect's redirect (GitHub's setup URL, the App's
// first callback URL); codes of the connect flow are exchanged with it.
func (a *App) setupURL() string {
	return strings.TrimRight(a.cfg.PublicURL, "/") + "/github/setup"
}

func (a *App) callbackURL() string {
	return strings.TrimRight(a.cfg.PublicURL, "/") + "/oauth/github/callback"
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
