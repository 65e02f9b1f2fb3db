// Interpreting a recorded delivery: mentions on pull requests become
// triggers (or explained refusals); installation events keep the
// installations table current. Interpret only reads; writes happen in
// Plan.Then, inside the transaction that records the outcome.

package github

import (
	"context"
	"errors"
	"fmt"
	"strings"

	gh "github.com/google/go-github/v62/github"

	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/intake"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// mention is a comment or review that may ask for a workspace.
type mention struct {
	kind           string // issue_comment, review_comment, review
	id             int64
	body           string
	url            string
	updatedAt      string
	repo           *gh.Repository
	pr             int
	prTitle        string
	headRef        string
	sender         *gh.User
	installationID int64
	previousBody   *string // edited comments: the body before the edit
}

// Interpret decides what a delivery causes.
func (a *App) Interpret(ctx context.Context, d intake.Delivery) (intake.Plan, error) {
	event, _, _ := strings.Cut(d.Event, ".")
	payload, err := gh.ParseWebHook(event, d.Body)
	if err != nil {
		return intake.Plan{Outcome: "ignored: " + d.Event}, nil // an event we do not handle
	}
	var m mention
	switch e := payload.(type) {
	case *gh.PingEvent:
		return intake.Plan{Outcome: "ignored: ping"}, nil
	case *gh.InstallationEvent:
		return a.installationRepositoriesPlan(a.installationPlan(e), e), nil
	case *gh.OrganizationEvent:
		return a.organizationPlan(ctx, e)
	case *gh.InstallationRepositoriesEvent:
		return a.repositoriesChangedPlan(e), nil
	case *gh.IssueCommentEvent:
		if !e.GetIssue().IsPullRequest() {
			return intake.Plan{Outcome: "ignored: comment on an issue, not a pull request"}, nil
		}
		if e.GetAction() != "created" && e.GetAction() != "edited" {
			return intake.Plan{Outcome: "ignored: " + d.Event}, nil
		}
		c := e.GetComment()
		m = mention{kind: "issue_comment", id: c.GetID(), body: c.GetBody(), url: c.GetHTMLURL(), updatedAt: c.GetUpdatedAt().UTC().Format("2006-01-02T15:04:05Z"),
			repo: e.GetRepo(), pr: e.GetIssue().GetNumber(), prTitle: e.GetIssue().GetTitle(), sender: e.GetSender(), installationID: e.GetInstallation().GetID()}
		if e.GetAction() == "edited" {
			from := e.GetChanges().GetBody().GetFrom()
			m.previousBody = &from
		}
	case *gh.PullRequestReviewCommentEvent:
		if e.GetAction() != "created" {
			return intake.Plan{Outcome: "ignored: " + d.Event}, nil
		}
		c, pr := e.GetComment(), e.GetPullRequest()
		m = mention{kind: "review_comment", id: c.GetID(), body: c.GetBody(), url: c.GetHTMLURL(), updatedAt: c.GetUpdatedAt().UTC().Format("2006-01-02T15:04:05Z"),
			repo: e.GetRepo(), pr: pr.GetNumber(), prTitle: pr.GetTitle(), headRef: pr.GetHead().GetRef(), sender: e.GetSender(), installationID: e.GetInstallation().GetID()}
	case *gh.PullRequestReviewEvent:
		if e.GetAction() != "submitted" {
			return intake.Plan{Outcome: "ignored: " + d.Event}, nil
		}
		if strings.TrimSpace(e.GetReview().GetBody()) == "" {
			return intake.Plan{Outcome: "ignored: review without a body"}, nil
		}
		r, pr := e.GetReview(), e.GetPullRequest()
		m = mention{kind: "review", id: r.GetID(), body: r.GetBody(), url: r.GetHTMLURL(), updatedAt: r.GetSubmittedAt().UTC().Format("2006-01-02T15:04:05Z"),
			repo: e.GetRepo(), pr: pr.GetNumber(), prTitle: pr.GetTitle(), headRef: pr.GetHead().GetRef(), sender: e.GetSender(), installationID: e.GetInstallation().GetID()}
	default:
		return intake.Plan{Outcome: "ignored: " + d.Event}, nil
	}
	return a.mentionPlan(ctx, m)
}

func (a *App) mentionPlan(ctx context.Context, m mention) (intake.Plan, error) {
	if m.sender.GetType() == "Bot" || strings.EqualFold(m.sender.GetLogin(), a.cfg.AppSlug+"[bot]") {
		return intake.Plan{Outcome: "ignored: bot"}, nil
	}
	if !Mentions(m.body, a.cfg.BotLogin) {
		return intake.Plan{Outcome: "ignored: not a mention"}, nil
	}
	if m.previousBody != nil && Mentions(*m.previousBody, a.cfg.BotLogin) {
		return intake.Plan{Outcome: "ignored: edit kept an earlier mention"}, nil
	}
	inst, err := a.store.Installation(ctx, a.db, m.installationID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return intake.Plan{}, err
	}
	if err != nil || inst.OrgID == "" || inst.Status != "active" {
		return a.refusal(m, "", "installation_not_bound",
			"This repository's Replicas GitHub App installation is not connected to a Replicas organization yet. An org admin can connect it from the Replicas integrations settings."), nil
	}
	link, err := a.ids.GitHubLinkByID(ctx, a.db, m.sender.GetID())
	if errors.Is(err, identity.ErrNotFound) {
		return a.refusal(m, inst.OrgID, "unknown_user", fmt.Sprintf(
			"@%s I couldn't match your GitHub account to a Replicas user. Open your Replicas User settings (%s/settings/user) and choose \"Link GitHub account\": signing in with GitHub there links this account to you. Or ask an org admin to link it. Then mention me again.",
			m.sender.GetLogin(), strings.TrimRight(a.cfg.PublicURL, "/"))), nil
	}
	if err != nil {
		return intake.Plan{}, err
	}
	if _, err := a.ids.Member(ctx, a.db, inst.OrgID, link.UserID); errors.Is(err, identity.ErrNotFound) {
		return a.refusal(m, inst.OrgID, "not_a_member", fmt.Sprintf(
			"@%s your Replicas account is not a member of the organization this repository is connected to. Ask an org admin to add you.", m.sender.GetLogin())), nil
	} else if err != nil {
		return intake.Plan{}, err
	}
	if m.headRef == "" && a.appConfigured() && !StopCommand(m.body, a.cfg.BotLogin) {
		if m.headRef, err = a.headRef(ctx, m); err != nil {
			return intake.Plan{}, err
		}
	}
	repo := m.repo.GetFullName()
	stop := StopCommand(m.body, a.cfg.BotLogin)
	trigger := &launch.Trigger{
		Thread: launch.ThreadGitHub(m.repo.GetID(), m.pr), Stop: stop, Message: m.body,
		Author: launch.Author{Login: m.sender.GetLogin()},
		OrgID:  inst.OrgID, UserID: link.UserID, InstallationID: m.installationID,
		TriggerKey: fmt.Sprintf("github:%s:%d:%s", m.kind, m.id, m.updatedAt),
		Source: launch.Source{Kind: launch.SourceGitHub, URL: m.url, GitHub: &launch.GitHubSource{
			Repository: repo, PullRequest: m.pr, InstallationID: m.installationID,
			CommentID: m.id, CommentKind: m.kind, Sender: m.sender.GetLogin(),
		}},
		Task:       launch.Task{Title: fmt.Sprintf("%s#%d: %s", repo, m.pr, m.prTitle), Body: m.body, URL: m.url},
		Repository: launch.Repository{FullName: repo, Ref: m.headRef},
	}
	return intake.Plan{OrgID: inst.OrgID, Trigger: trigger, Then: func(ctx context.Context, tx sqldb.Tx, ws *launch.Workspace, launchErr error) error {
		if link.Login != m.sender.GetLogin() {
			if err := a.ids.UpdateGitHubLogin(ctx, tx, link.GitHubID, m.sender.GetLogin()); err != nil {
				return err
			}
		}
		switch outcome, _ := launch.Outcome(launchErr); outcome {
		case launch.OutcomeLaunched:
			return a.react(ctx, tx, m) // the reply comes when the workspace is launched (ReportTx)
		case launch.OutcomeMessage, launch.OutcomeStop:
			return a.react(ctx, tx, m) // 👀: the person's workspace on this pull request has it
		case launch.OutcomeNothingToStop:
			if err := a.react(ctx, tx, m); err != nil {
				return err
			}
			return a.explain(ctx, tx, m, fmt.Sprintf("@%s you have no running Replicas workspace on this pull request, so there is nothing to stop.", m.sender.GetLogin()))
		case launch.OutcomeDuplicate:
			return nil
		default: // no credentials
			if err := a.react(ctx, tx, m); err != nil {
				return err
			}
			return a.explain(ctx, tx, m, fmt.Sprintf("@%s nothing was launched: at least one coding agent must be configured. Add a Claude or Codex credential in Replicas (Coding Agents settings) and mention me again.", m.sender.GetLogin()))
		}
	}}, nil
}

// refusal answers a mention that launches nothing, with an explanation.
func (a *App) refusal(m mention, orgID, outcome, text string) intake.Plan {
	return intake.Plan{OrgID: orgID, Outcome: outcome, Then: func(ctx context.Context, tx sqldb.Tx, _ *launch.Workspace, _ error) error {
		if err := a.react(ctx, tx, m); err != nil {
			return err
		}
		return a.explain(ctx, tx, m, text)
	}}
}

func (a *App) installationPlan(e *gh.InstallationEvent) intake.Plan {
	status := map[string]string{"created": "active", "new_permissions_accepted": "active", "unsuspend": "active", "suspend": "suspended", "deleted": "deleted"}[e.GetAction()]
	if status == "" {
		return intake.Plan{Outcome: "ignored: installation." + e.GetAction()}
	}
	plan := a.upsertPlan(e.GetInstallation(), status, "installation "+e.GetAction())
	if e.GetAction() != "created" {
		return plan
	}
	upsert := plan.Then
	installationID, sender := e.GetInstallation().GetID(), e.GetSender().GetID()
	plan.Then = func(ctx context.Context, tx sqldb.Tx, ws *launch.Workspace, err error) error {
		if err := upsert(ctx, tx, ws, err); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE github_installations SET installer_id = $1 WHERE installation_id = $2`, sender, installationID); err != nil {
			return fmt.Errorf("record installer: %w", err)
		}
		// The redirect may have come first. A pending connect of an
		// installation bound elsewhere meanwhile is dropped, not retried.
		if err := a.completePending(ctx, tx, installationID); err != nil && !errors.Is(err, ErrInstallationBound) {
			return err
		}
		return nil
	}
	return plan
}

func (a *App) upsertPlan(in *gh.Installation, status, outcome string) intake.Plan {
	rec := Installation{ID: in.GetID(), AccountLogin: in.GetAccount().GetLogin(), AccountID: in.GetAccount().GetID(),
		AccountType: in.GetAccount().GetType(), Status: status, RepositorySelection: in.GetRepositorySelection()}
	return intake.Plan{Outcome: outcome, Then: func(ctx context.Context, tx sqldb.Tx, _ *launch.Workspace, _ error) error {
		return a.store.Upsert(ctx, tx, rec)
	}}
}

// headRef reads the pull request's head branch (issue comments lack it).
func (a *App) headRef(ctx context.Context, m mention) (string, error) {
	c, err := a.client(m.installationID)
	if err != nil {
		return "", err
	}
	pr, _, err := c.PullRequests.Get(ctx, m.repo.GetOwner().GetLogin(), m.repo.GetName(), m.pr)
	if err != nil {
		return "", fmt.Errorf("github: read pull request %s#%d: %w", m.repo.GetFullName(), m.pr, err)
	}
	return pr.GetHead().GetRef(), nil
}

// organizationPlan links a new member of a bound organization the way org
// connect does, and records removals.
func (a *App) organizationPlan(ctx context.Context, e *gh.OrganizationEvent) (intake.Plan, error) {
	in, err := a.store.Installation(ctx, a.db, e.GetInstallation().GetID())
	if errors.Is(err, ErrNotFound) || (err == nil && in.OrgID == "") {
		return intake.Plan{Outcome: "ignored: installation not bound"}, nil
	}
	if err != nil {
		return intake.Plan{}, err
	}
	user := e.GetMembership().GetUser()
	switch e.GetAction() {
	case "member_added":
		return intake.Plan{OrgID: in.OrgID, Outcome: "member_added: auto-linking " + user.GetLogin(), Then: func(ctx context.Context, tx sqldb.Tx, _ *launch.Workspace, _ error) error {
			_, err := a.queue.InsertTx(ctx, tx, AutoLinkArgs{InstallationID: in.ID, OrgID: in.OrgID, Login: user.GetLogin()}, nil)
			return err
		}}, nil
	case "member_removed":
		return intake.Plan{OrgID: in.OrgID, Outcome: "member_removed: recorded", Then: func(ctx context.Context, tx sqldb.Tx, _ *launch.Workspace, _ error) error {
			return a.ids.Audit(ctx, tx, identity.AuditEntry{OrgID: in.OrgID, ActorID: "system", Action: "github.member_removed", Target: user.GetLogin(),
				Detail: map[string]any{"github_id": user.GetID(), "organization": in.AccountLogin}})
		}}, nil
	}
	return intake.Plan{OrgID: in.OrgID, Outcome: "ignored: organization." + e.GetAction()}, nil
}
