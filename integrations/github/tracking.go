// Progress on the pull request: one tracking comment per workspace, edited
// in place, and one check run on the pull request's head commit. Every
// lifecycle change and activity bumps the workspace's tracking version in the
// transaction that makes it; one sync job at a time brings GitHub up to the
// newest version, and the next waits until TrackingInterval after the last
// write, so a burst of changes becomes a few API calls.

package github

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	gh "github.com/google/go-github/v62/github"
	"github.com/riverqueue/river"

	"github.com/tryreplicas/gateway/gateway/queue"
	"github.com/tryreplicas/gateway/gateway/secret"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/integrations/activity"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// DefaultTrackingInterval is the least time between two writes of a
// workspace's tracking comment.
const DefaultTrackingInterval = 3 * time.Second

// CheckRunName is the check run's name on the pull request.
const CheckRunName = "Replicas"

// trackedActivities is how many of the newest activities the tracking
// comment lists.
const trackedActivities = 15

// TrackArgs brings a workspace's tracking comment and check run up to date.
type TrackArgs struct {
	WorkspaceID string `json:"workspace_id"`
}

// Kind names the job.
func (TrackArgs) Kind() string { return "github_track" }

// tracking is a workspace's row of github_tracking.
type tracking struct {
	installationID int64
	repository     string
	pullRequest    int
	commentID      int64
	checkRunID     int64
	headSHA        string
	checkState     string
	version        int64
}

func (a *App) trackingInterval() time.Duration {
	if a.TrackingInterval > 0 {
		return a.TrackingInterval
	}
	return DefaultTrackingInterval
}

// pageURL is the workspace's page, where every link the gateway posts points.
func (a *App) pageURL(workspaceID string) string {
	return launch.PageURL(a.cfg.PublicURL, workspaceID)
}

// trackTx records that ws's tracking comment and check run have something
// new to show, and schedules their sync unless one is pending. The upsert
// locks the row, so concurrent changes schedule one job.
func (a *App) trackTx(ctx context.Context, tx sqldb.Tx, ws launch.Workspace) error {
	src := ws.Source.GitHub
	if src == nil || src.InstallationID == 0 || src.PullRequest == 0 {
		return fmt.Errorf("github: workspace %s has no installation or pull request", ws.ID)
	}
	if !a.appConfigured() {
		a.log.Warn("GitHub App not configured: progress not shown", "workspace_id", ws.ID)
		return nil
	}
	var scheduled bool
	var syncedAt *time.Time
	err := tx.QueryRow(ctx, `INSERT INTO github_tracking (workspace_id, installation_id, repository, pull_request, version)
		VALUES ($1, $2, $3, $4, 1)
		ON CONFLICT (workspace_id) DO UPDATE SET version = github_tracking.version + 1
		RETURNING scheduled, synced_at`, ws.ID, src.InstallationID, src.Repository, src.PullRequest).Scan(&scheduled, &syncedAt)
	if err != nil {
		return fmt.Errorf("github: track workspace %s: %w", ws.ID, err)
	}
	if scheduled {
		return nil
	}
	return a.scheduleTrack(ctx, tx, ws.ID, syncedAt)
}

// scheduleTrack inserts the sync job, due TrackingInterval after the last
// write (at once when there was none), and marks it pending.
func (a *App) scheduleTrack(ctx context.Context, tx sqldb.Tx, workspaceID string, syncedAt *time.Time) error {
	opts := &river.InsertOpts{}
	if syncedAt != nil {
		if due := syncedAt.Add(a.trackingInterval()); due.After(time.Now()) {
			opts.ScheduledAt = due
		}
	}
	if _, err := a.queue.InsertTx(ctx, tx, TrackArgs{WorkspaceID: workspaceID}, opts); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE github_tracking SET scheduled = TRUE WHERE workspace_id = $1`, workspaceID); err != nil {
		return fmt.Errorf("github: schedule tracking: %w", err)
	}
	return nil
}

// checkState is what the check run shows for a status: in_progress while
// the workspace lives, then its conclusion; "" before it launched.
func checkState(s launch.Status) string {
	switch s {
	case launch.StatusQueued, launch.StatusLaunching:
		return ""
	case launch.StatusLaunched, launch.StatusRunning, launch.StatusHibernated:
		return "in_progress"
	case launch.StatusFinished:
		return "success"
	case launch.StatusFailed:
		return "failure"
	}
	if s.Terminal() {
		return "neutral" // cancelled or stopped
	}
	return "in_progress" // on its way to an end (e.g. stopping)
}

// statusLine is the tracking comment's first line. A failure is one generic
// sentence: the reason may hold secrets and stays on the workspace's page.
func (a *App) statusLine(ws launch.Workspace, sender string) string {
	link := fmt.Sprintf("[%s](%s)", ws.ID, a.pageURL(ws.ID))
	switch ws.Status {
	case launch.StatusQueued, launch.StatusLaunching:
		return fmt.Sprintf("Launching workspace %s with %s for @%s…", link, ws.Agent, sender)
	case launch.StatusLaunched:
		line := fmt.Sprintf("Launched workspace %s with %s for @%s.", link, ws.Agent, sender)
		if ws.DryRun {
			line += " (dry run: no launcher is configured)"
		}
		return line
	case launch.StatusRunning:
		return fmt.Sprintf("Workspace %s is running (%s, for @%s).", link, ws.Agent, sender)
	case launch.StatusHibernated:
		return fmt.Sprintf("Workspace %s is hibernating; a new message wakes it.", link)
	case launch.StatusFinished:
		return fmt.Sprintf("Workspace %s finished.", link)
	case launch.StatusFailed:
		return fmt.Sprintf("Workspace %s failed. Its owner and the organization's admins can see why on its page.", link)
	case launch.StatusCancelled:
		return fmt.Sprintf("Workspace %s was cancelled.", link)
	}
	if ws.Status.Terminal() {
		return fmt.Sprintf("Workspace %s stopped.", link)
	}
	return fmt.Sprintf("Workspace %s is %s…", link, ws.Status)
}

// render is the tracking comment: the status, the finished workspace's
// summary and result, and its newest activities (an ephemeral one only while
// it is the newest).
func (a *App) render(ws launch.Workspace, acts []activity.Activity) string {
	sender := ""
	if ws.Source.GitHub != nil {
		sender = ws.Source.GitHub.Sender
	}
	var b strings.Builder
	b.WriteString(a.statusLine(ws, sender))
	if ws.Status == launch.StatusFinished || ws.Status == launch.StatusCancelled {
		if s := secret.PublicText(ws.Summary, 2000); strings.TrimSpace(s) != "" {
			b.WriteString("\n\n" + s)
		}
	}
	if ws.Status == launch.StatusFinished {
		if u := secret.PublicURL(ws.ResultURL); u != "" {
			b.WriteString("\n\nResult: " + u)
		}
	}
	var lines []string
	for i, act := range acts {
		if act.Ephemeral && i != len(acts)-1 {
			continue
		}
		lines = append(lines, "- "+activityLine(act))
	}
	if len(lines) > 0 {
		b.WriteString("\n\n<details open><summary>Progress</summary>\n\n" + strings.Join(lines, "\n") + "\n\n</details>")
	}
	return b.String()
}

// activityLine is one activity in the tracking comment, on one line.
func activityLine(act activity.Activity) string {
	one := func(s string, max int) string {
		return strings.Join(strings.Fields(secret.PublicText(s, max)), " ")
	}
	switch act.Type {
	case activity.Action:
		line := "⚙️ " + one(act.Action, 200)
		if act.Parameter != "" {
			line += " `" + strings.ReplaceAll(one(act.Parameter, 200), "`", "'") + "`"
		}
		if act.Result != "" {
			line += " → " + one(act.Result, 300)
		}
		return line
	case activity.Error:
		return "⚠️ " + one(act.Body, 300)
	case activity.Response:
		return "✅ " + one(act.Body, 300)
	case activity.Elicitation:
		return "❓ " + one(act.Body, 300)
	}
	return "💭 " + one(act.Body, 300)
}

type trackWorker struct {
	river.WorkerDefaults[TrackArgs]
	a *App
}

// Work renders the newest state, writes the comment (created once, then
// edited) and moves the check run when its state changed, then records what
// GitHub shows and completes the job in one transaction. Changes that arrived
// meanwhile get the next job, due one interval later.
func (w *trackWorker) Work(ctx context.Context, job *river.Job[TrackArgs]) error {
	a := w.a
	t, err := a.store.tracking(ctx, a.db, job.Args.WorkspaceID)
	if errors.Is(err, sqldb.ErrNoRows) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	ws, err := a.workspaces.Get(ctx, a.db, job.Args.WorkspaceID)
	if errors.Is(err, launch.ErrNotFound) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	acts, err := a.activities.Latest(ctx, a.db, ws.ID, trackedActivities)
	if err != nil {
		return err
	}
	c, owner, name, err := a.repoClient(t.installationID, t.repository)
	if err != nil {
		return err
	}
	body := a.render(ws, acts)
	if t.commentID == 0 {
		cm, _, err := c.Issues.CreateComment(ctx, owner, name, t.pullRequest, newIssueComment(body))
		if err != nil {
			return fmt.Errorf("github: tracking comment on %s#%d: %w", t.repository, t.pullRequest, err)
		}
		t.commentID = cm.GetID()
		// Remember the comment at once: a retry must edit it, not post another.
		if err := a.store.rememberTracking(ctx, a.db, ws.ID, t); err != nil {
			return err
		}
	} else if _, _, err := c.Issues.EditComment(ctx, owner, name, t.commentID, newIssueComment(body)); err != nil {
		return fmt.Errorf("github: edit tracking comment %d on %s: %w", t.commentID, t.repository, err)
	}
	if want := checkState(ws.Status); want != "" && want != t.checkState {
		err := a.moveCheckRun(ctx, c, owner, name, &t, ws, want)
		var refused *gh.ErrorResponse
		if errors.As(err, &refused) && refused.Response != nil && refused.Response.StatusCode/100 == 4 {
			// Typically an App without the checks: write permission: the
			// comment still follows the workspace, and the next state tries
			// again.
			a.log.Warn("GitHub refused the check run; does the App have checks: write?", "workspace_id", ws.ID, "err", err)
			t.checkState = want
		} else if err != nil {
			return err
		}
	}
	return a.db.InTx(ctx, func(tx sqldb.Tx) error {
		var version int64
		var syncedAt time.Time
		err := tx.QueryRow(ctx, `UPDATE github_tracking SET check_run_id = $1, head_sha = $2, check_state = $3, synced = $4, synced_at = $5, scheduled = FALSE
			WHERE workspace_id = $6 RETURNING version, synced_at`, t.checkRunID, t.headSHA, t.checkState, t.version, time.Now().UTC(), ws.ID).Scan(&version, &syncedAt)
		if err != nil {
			return fmt.Errorf("github: record tracking: %w", err)
		}
		if version > t.version {
			if err := a.scheduleTrack(ctx, tx, ws.ID, &syncedAt); err != nil {
				return err
			}
		}
		return queue.CompleteTx(ctx, tx, job)
	})
}

// moveCheckRun creates the check run on the pull request's head commit, or
// updates it, to state (in_progress or a conclusion).
func (a *App) moveCheckRun(ctx context.Context, c *gh.Client, owner, name string, t *tracking, ws launch.Workspace, state string) error {
	page := a.pageURL(ws.ID)
	status, conclusion := gh.String("in_progress"), (*string)(nil)
	var completed *gh.Timestamp
	if state != "in_progress" {
		status, conclusion, completed = gh.String("completed"), gh.String(state), &gh.Timestamp{Time: time.Now()}
	}
	title := fmt.Sprintf("Workspace %s: %s", ws.ID, ws.Status)
	output := &gh.CheckRunOutput{Title: &title, Summary: gh.String(fmt.Sprintf("Follow the workspace on its page: %s", page))}
	if t.checkRunID == 0 {
		if t.headSHA == "" {
			pr, _, err := c.PullRequests.Get(ctx, owner, name, t.pullRequest)
			if err != nil {
				return fmt.Errorf("github: head of %s#%d: %w", t.repository, t.pullRequest, err)
			}
			t.headSHA = pr.GetHead().GetSHA()
		}
		if t.headSHA == "" {
			return fmt.Errorf("github: %s#%d has no head commit", t.repository, t.pullRequest)
		}
		run, _, err := c.Checks.CreateCheckRun(ctx, owner, name, gh.CreateCheckRunOptions{Name: CheckRunName, HeadSHA: t.headSHA, DetailsURL: &page,
			ExternalID: &ws.ID, Status: status, Conclusion: conclusion, CompletedAt: completed, Output: output})
		if err != nil {
			return fmt.Errorf("github: check run on %s@%s: %w", t.repository, t.headSHA, err)
		}
		t.checkRunID = run.GetID()
		if err := a.store.rememberTracking(ctx, a.db, ws.ID, *t); err != nil {
			return err
		}
	} else if _, _, err := c.Checks.UpdateCheckRun(ctx, owner, name, t.checkRunID, gh.UpdateCheckRunOptions{Name: CheckRunName, DetailsURL: &page,
		ExternalID: &ws.ID, Status: status, Conclusion: conclusion, CompletedAt: completed, Output: output}); err != nil {
		return fmt.Errorf("github: update check run %d on %s: %w", t.checkRunID, t.repository, err)
	}
	t.checkState = state
	return nil
}

// RelayTx shows a workspace's activity on its pull request: in the tracking
// comment, and a response or a question also as a comment of its own.
func (a *App) RelayTx(ctx context.Context, tx sqldb.Tx, ws launch.Workspace, act activity.Activity) error {
	if err := a.trackTx(ctx, tx, ws); err != nil {
		return err
	}
	if act.Type != activity.Response && act.Type != activity.Elicitation {
		return nil
	}
	src := ws.Source.GitHub
	return a.comment(ctx, tx, src.InstallationID, src.Repository, src.PullRequest, secret.PublicText(act.Body, activity.MaxBody))
}

// ReportTx shows lifecycle changes of GitHub-triggered workspaces in their
// tracking comment and check run (created when the workspace launches).
func (a *App) ReportTx(ctx context.Context, tx sqldb.Tx, ws launch.Workspace) error {
	if ws.Status == launch.StatusQueued || ws.Status == launch.StatusLaunching {
		return nil
	}
	return a.trackTx(ctx, tx, ws)
}
