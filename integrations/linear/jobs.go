// Acknowledgements in Linear: comments on issues and agent activities in
// agent sessions, as retried jobs inserted in the committing transaction.

package linear

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/Khan/genqlient/graphql"
	"github.com/riverqueue/river"

	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// CommentArgs posts a comment on an issue.
type CommentArgs struct {
	OrgID   string `json:"org_id"`
	IssueID string `json:"issue_id"`
	Body    string `json:"body"`
}

// Kind names the job.
func (CommentArgs) Kind() string { return "linear_comment" }

// ActivityArgs posts an agent activity in a session.
type ActivityArgs struct {
	OrgID     string `json:"org_id"`
	SessionID string `json:"session_id"`
	Type      string `json:"type"` // thought, response, error
	Body      string `json:"body"`
}

// Kind names the job.
func (ActivityArgs) Kind() string { return "linear_activity" }

func (a *App) comment(ctx context.Context, tx sqldb.Tx, orgID, issueID, body string) error {
	_, err := a.queue.InsertTx(ctx, tx, CommentArgs{OrgID: orgID, IssueID: issueID, Body: body}, nil)
	return err
}

func (a *App) activity(ctx context.Context, tx sqldb.Tx, orgID, sessionID, typ, body string) error {
	_, err := a.queue.InsertTx(ctx, tx, ActivityArgs{OrgID: orgID, SessionID: sessionID, Type: typ, Body: body}, nil)
	return err
}

// explain tells the user why nothing launched, once per user, issue and hour.
func (a *App) explain(ctx context.Context, tx sqldb.Tx, r request, text string) error {
	ok, err := a.store.claimExplanation(ctx, tx, r.who.ID+":"+r.issue.ID)
	if err != nil || !ok {
		return err
	}
	if r.sessionID != "" {
		return a.activity(ctx, tx, r.conn.OrgID, r.sessionID, "error", text)
	}
	return a.comment(ctx, tx, r.conn.OrgID, r.issue.ID, text)
}

// jobClient is the Linear client of an org's connection for a job. A job
// whose org has disconnected meanwhile, or whose token must be reconnected,
// is cancelled: retrying cannot help.
func (a *App) jobClient(ctx context.Context, orgID string) (graphql.Client, error) {
	conn, err := a.store.ByOrg(ctx, a.db, orgID)
	if errors.Is(err, ErrNotConnected) {
		return nil, river.JobCancel(err)
	}
	if err != nil {
		return nil, err
	}
	client, err := a.client(ctx, conn)
	if errors.Is(err, ErrReconnect) {
		return nil, river.JobCancel(err)
	}
	return client, err
}

type commentWorker struct {
	river.WorkerDefaults[CommentArgs]
	a *App
}

func (w *commentWorker) Work(ctx context.Context, job *river.Job[CommentArgs]) error {
	client, err := w.a.jobClient(ctx, job.Args.OrgID)
	if err != nil {
		return err
	}
	resp, err := CommentCreate(ctx, client, job.Args.IssueID, job.Args.Body)
	if err != nil {
		return fmt.Errorf("linear: comment on issue %s: %w", job.Args.IssueID, err)
	}
	if !resp.CommentCreate.Success {
		return fmt.Errorf("linear: comment on issue %s was not accepted", job.Args.IssueID)
	}
	return nil
}

type activityWorker struct {
	river.WorkerDefaults[ActivityArgs]
	a *App
}

func (w *activityWorker) Work(ctx context.Context, job *river.Job[ActivityArgs]) error {
	client, err := w.a.jobClient(ctx, job.Args.OrgID)
	if err != nil {
		return err
	}
	content, err := json.Marshal(map[string]string{"type": job.Args.Type, "body": job.Args.Body})
	if err != nil {
		return fmt.Errorf("linear: activity content: %w", err)
	}
	resp, err := AgentActivityCreate(ctx, client, job.Args.SessionID, content)
	if err != nil {
		return fmt.Errorf("linear: activity in session %s: %w", job.Args.SessionID, err)
	}
	if !resp.AgentActivityCreate.Success {
		return fmt.Errorf("linear: activity in session %s was not accepted", job.Args.SessionID)
	}
	return nil
}

// ReportTx posts lifecycle changes of Linear-triggered workspaces: the link
// when launched, the result when finished, and that it failed or was
// cancelled. A failure is posted as one generic sentence with the workspace
// page's link: the reason (launcher output, error text) may hold secrets and
// stays in the API.
func (a *App) ReportTx(ctx context.Context, tx sqldb.Tx, ws launch.Workspace) error {
	link := launch.PageURL(a.cfg.PublicURL, ws.ID)
	page := link
	var text, typ string
	switch ws.Status {
	case launch.StatusLaunched:
		typ, text = "response", fmt.Sprintf("Replicas launched workspace [%s](%s) with %s.", ws.ID, link, ws.Agent)
	case launch.StatusFinished:
		typ, text = "response", fmt.Sprintf("Workspace [%s](%s) finished.", ws.ID, link)
		if ws.Summary != "" {
			text += "\n\n" + ws.Summary
		}
		if ws.ResultURL != "" {
			text += "\n\nResult: " + ws.ResultURL
		}
	case launch.StatusFailed:
		typ, text = "error", fmt.Sprintf("Workspace [%s](%s) failed. Its owner and the organization's admins can see why on its page.", ws.ID, page)
	case launch.StatusCancelled:
		typ, text = "response", fmt.Sprintf("Workspace [%s](%s) was cancelled.", ws.ID, page)
	default:
		return nil
	}
	src := ws.Source.Linear
	if src == nil {
		src = &launch.LinearSource{}
	}
	if src.AgentSessionID != "" {
		return a.activity(ctx, tx, ws.OrgID, src.AgentSessionID, typ, text)
	}
	return a.comment(ctx, tx, ws.OrgID, src.IssueID, text)
}
