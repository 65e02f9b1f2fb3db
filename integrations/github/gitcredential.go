// Git credentials for workspaces: an installation access token narrowed to
// the workspace's one repository, minted from the App for each request.

package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	gh "github.com/google/go-github/v62/github"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// GitCredential is what a workspace receives to clone and push: a token for
// exactly Repository, with contents and pull_requests write access, and the
// HTTPS URL git uses. The token is a secret: never logged.
type GitCredential struct {
	Token      string    `json:"token"`
	ExpiresAt  time.Time `json:"expires_at"`
	Repository string    `json:"repository"` // owner/name
	CloneURL   string    `json:"clone_url"`
}

var (
	errNoRepository   = errs.New(errs.ErrConflict, "no_repository", "this workspace has no repository")
	errNotInstalled   = errs.New(errs.ErrConflict, "repository_not_installed", "the workspace's repository is not held by an active GitHub App installation of its org")
	errAppUnavailable = errs.New(errs.ErrUnavailable, "github_unavailable", "GitHub did not issue a token; try again")
)

// GitCredential mints an installation token for ws's repository only. The
// installation must still be active and bound to the workspace's org: a
// workspace never gets a token for a repository its org no longer holds.
func (a *App) GitCredential(ctx context.Context, ws launch.Workspace) (GitCredential, error) {
	owner, name, ok := strings.Cut(ws.Repository.FullName, "/")
	if !ok || owner == "" || name == "" || ws.InstallationID == 0 {
		return GitCredential{}, errNoRepository
	}
	in, err := a.store.Installation(ctx, a.db, ws.InstallationID)
	if errors.Is(err, errs.ErrNotFound) || err == nil && (in.OrgID != ws.OrgID || in.Status != "active") {
		return GitCredential{}, errNotInstalled
	}
	if err != nil {
		return GitCredential{}, err
	}
	if !a.appConfigured() {
		return GitCredential{}, fmt.Errorf("github: the App is not configured (GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY): %w", errAppUnavailable)
	}
	atr, err := ghinstallation.NewAppsTransport(a.transport, a.cfg.AppID, a.cfg.PrivateKey.Bytes())
	if err != nil {
		return GitCredential{}, fmt.Errorf("github: app transport: %w", err)
	}
	base := strings.TrimRight(a.cfg.APIURL, "/")
	atr.BaseURL = base
	c := gh.NewClient(&http.Client{Transport: atr})
	if c.BaseURL, err = url.Parse(base + "/"); err != nil {
		return GitCredential{}, fmt.Errorf("github: GITHUB_API_URL: %w", err)
	}
	tok, _, err := c.Apps.CreateInstallationToken(ctx, ws.InstallationID, &gh.InstallationTokenOptions{
		Repositories: []string{name},
		Permissions:  &gh.InstallationPermissions{Contents: gh.String("write"), PullRequests: gh.String("write")},
	})
	if err != nil {
		// go-github's error names the URL and GitHub's message, never the token.
		a.log.Warn("installation token for a workspace refused", "workspace_id", ws.ID, "installation_id", ws.InstallationID, "error", err)
		return GitCredential{}, fmt.Errorf("github: installation token: %w: %w", errAppUnavailable, err)
	}
	web := strings.TrimRight(a.cfg.WebURL, "/")
	if web == "" {
		web = "https://github.com"
	}
	return GitCredential{Token: tok.GetToken(), ExpiresAt: tok.GetExpiresAt().Time, Repository: ws.Repository.FullName,
		CloneURL: web + "/" + ws.Repository.FullName + ".git"}, nil
}
