// Talking back to GitHub: the eyes reaction, replies on the pull request and
// lifecycle reports. Each is a River job inserted in the caller's
// transaction, retried with backoff, never blocking a webhook answer.

package github

import (
	"context"
	"fmt"
	"strings"

	gh "github.com/google/go-github/v62/github"
	"github.com/riverqueue/river"

	"github.com/tryreplicas/gateway/gateway/sqldb"
)

// ReactArgs adds the eyes reaction to a comment.
type ReactArgs struct {
	InstallationID int64  `json:"installation_id"`
	Repository     string `json:"repository"`
	CommentKind    string `json:"comment_kind"` // issue_comment or review_comment
	CommentID      int64  `json:"comment_id"`
}

// Kind names the job.
func (ReactArgs) Kind() string { return "github_react" }

// CommentArgs posts a comment on a pull request.
type CommentArgs struct {
	InstallationID int64  `json:"installation_id"`
	Repository     string `json:"repository"`
	PullRequest    int    `json:"pull_request"`
	Body           string `json:"body"`
}

// Kind names the job.
func (CommentArgs) Kind() string { return "github_comment" }

// react enqueues the eyes reaction (reviews have no reactions API).
func (a *App) react(ctx context.Context, tx sqldb.Tx, m mention) error {
	if m.kind == "review" {
		return nil
	}
	if !a.appConfigured() {
		a.log.Warn("GitHub App not configured: no reaction sent", "comment_id", m.id)
		return nil
	}
	_, err := a.queue.InsertTx(ctx, tx, ReactArgs{InstallationID: m.installationID, Repository: m.repo.GetFullName(), CommentKind: m.kind, CommentID: m.id}, nil)
	return err
}

// explain enqueues an explanation, at most once per GitHub user, pull
// request and hour.
func (a *App) explain(ctx context.Context, tx sqldb.Tx, m mention, text string) error {
	ok, err := a.store.claimExplanation(ctx, tx, fmt.Sprintf("%d:%s#%d", m.sender.GetID(), m.repo.GetFullName(), m.pr))
	if err != nil || !ok {
		return err
	}
	return a.comment(ctx, tx, m.installationID, m.repo.GetFullName(), m.pr, text)
}

func (a *App) comment(ctx context.Context, tx sqldb.Tx, installationID int64, repo string, pr int, text string) error {
	if !a.appConfigured() {
		a.log.Warn("GitHub App not configured: reply not sent", "repository", repo, "pull_request", pr)
		return nil
	}
	_, err := a.queue.InsertTx(ctx, tx, CommentArgs{InstallationID: installationID, Repository: repo, PullRequest: pr, Body: text}, nil)
	return err
}

// repoClient is the installation's client and the owner and name of the
// repository fullName ("owner/name").
func (a *App) repoClient(installationID int64, fullName string) (c *gh.Client, owner, name string, err error) {
	c, err = a.client(installationID)
	owner, name, _ = strings.Cut(fullName, "/")
	return c, owner, name, err
}

type reactWorker struct {
	river.WorkerDefaults[ReactArgs]
	a *App
}

func (w *reactWorker) Work(ctx context.Context, job *river.Job[ReactArgs]) error {
	c, owner, name, err := w.a.repoClient(job.Args.InstallationID, job.Args.Repository)
	if err != nil {
		return err
	}
	if job.Args.CommentKind == "review_comment" {
		_, _, err = c.Reactions.CreatePullRequestCommentReaction(ctx, owner, name, job.Args.CommentID, "eyes")
	} else {
		_, _, err = c.Reactions.CreateIssueCommentReaction(ctx, owner, name, job.Args.CommentID, "eyes")
	}
	if err != nil {
		return fmt.Errorf("github: eyes reaction on %s comment %d: %w", job.Args.Repository, job.Args.CommentID, err)
	}
	return nil
}

type commentWorker struct {
	river.WorkerDefaults[CommentArgs]
	a *App
}

func (w *commentWorker) Work(ctx context.Context, job *river.Job[CommentArgs]) error {
	c, owner, name, err := w.a.repoClient(job.Args.InstallationID, job.Args.Repository)
	if err != nil {
		return err
	}
	if _, _, err := c.Issues.CreateComment(ctx, owner, name, job.Args.PullRequest, newIssueComment(job.Args.Body)); err != nil {
		return fmt.Errorf("github: comment on %s#%d: %w", job.Args.Repository, job.Args.PullRequest, err)
	}
	return nil
}
