// Acknowledgements in Linear: comments on issues and agent activities in
// agent sessions, as retried jobs inserted in the committing transaction.

package linear

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/Khan/genqlient/graphql"
	"github.com/riverqueue/river"

	"github.com/tryreplicas/gateway/gateway/secret"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/integrations/activity"
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

// ActivityArgs posts an agent activity in a session. Its content is typed
// by Type: thought, response, error and elicitation carry Body; action
// carries Action, Parameter and Result. Options turn an elicitation into a
// choice (Linear's select signal).
type ActivityArgs struct {
	OrgID     string   `json:"org_id"`
	SessionID string   `json:"session_id"`
	Type      string   `json:"type"`
	Body      string   `json:"body,omitempty"`
	Action    string   `json:"action,omitempty"`
	Parameter string   `json:"parameter,omitempty"`
	Result    string   `json:"result,omitempty"`
	Ephemeral bool     `json:"ephemeral,omitempty"`
	Options   []string `json:"options,omitempty"`
}

// Kind names the job.
func (ActivityArgs) Kind() string { return "linear_activity" }

// content is the activity's content object.
func (a ActivityArgs) content() (json.RawMessage, error) {
	c := map[string]string{"type": a.Type}
	if a.Type == "action" {
		c["action"], c["parameter"] = a.Action, a.Parameter
		if a.Result != "" {
			c["result"] = a.Result
		}
	} else {
		c["body"] = a.Body
	}
	return json.Marshal(c)
}

// SessionLinkArgs points an agent session at the workspace's page.
type SessionLinkArgs struct {
	OrgID     string `json:"org_id"`
	SessionID string `json:"session_id"`
	URL       string `json:"url"`
}

// Kind names the job.
func (SessionLinkArgs) Kind() string { return "linear_session_link" }

// IssueStartArgs moves an issue to its team's first started state unless it
// is started, completed or canceled already.
type IssueStartArgs struct {
	OrgID   string `json:"org_id"`
	IssueID string `json:"issue_id"`
}

// Kind names the job.
func (IssueStartArgs) Kind() string { return "linear_issue_start" }

func (a *App) comment(ctx context.Context, tx sqldb.Tx, orgID, issueID, body string) error {
	_, err := a.queue.InsertTx(ctx, tx, CommentArgs{OrgID: orgID, IssueID: issueID, Body: body}, nil)
	return err
}

func (a *App) activity(ctx context.Context, tx sqldb.Tx, orgID, sessionID, typ, body string) error {
	return a.postActivity(ctx, tx, ActivityArgs{OrgID: orgID, SessionID: sessionID, Type: typ, Body: body}, nil)
}

func (a *App) postActivity(ctx context.Context, tx sqldb.Tx, args ActivityArgs, opts *river.InsertOpts) error {
	_, err := a.queue.InsertTx(ctx, tx, args, opts)
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
	content, err := job.Args.content()
	if err != nil {
		return fmt.Errorf("linear: activity content: %w", err)
	}
	var signal AgentActivitySignal
	var metadata json.RawMessage
	if job.Args.Type == "elicitation" && len(job.Args.Options) > 0 {
		options := make([]map[string]string, len(job.Args.Options))
		for i, o := range job.Args.Options {
			options[i] = map[string]string{"value": o}
		}
		signal = AgentActivitySignalSelect
		if metadata, err = json.Marshal(map[string]any{"options": options}); err != nil {
			return fmt.Errorf("linear: elicitation options: %w", err)
		}
	}
	resp, err := AgentActivityCreate(ctx, client, job.Args.SessionID, content, job.Args.Ephemeral, signal, metadata)
	if err != nil {
		return fmt.Errorf("linear: activity in session %s: %w", job.Args.SessionID, err)
	}
	if !resp.AgentActivityCreate.Success {
		return fmt.Errorf("linear: activity in session %s was not accepted", job.Args.SessionID)
	}
	return nil
}

type sessionLinkWorker struct {
	river.WorkerDefaults[SessionLinkArgs]
	a *App
}

func (w *sessionLinkWorker) Work(ctx context.Context, job *river.Job[SessionLinkArgs]) error {
	client, err := w.a.jobClient(ctx, job.Args.OrgID)
	if err != nil {
		return err
	}
	urls := []AgentSessionExternalUrlInput{{Label: "Replicas workspace", Url: job.Args.URL}}
	resp, err := AgentSessionSetLink(ctx, client, job.Args.SessionID, job.Args.URL, urls)
	if err != nil {
		return fmt.Errorf("linear: link session %s: %w", job.Args.SessionID, err)
	}
	if !resp.AgentSessionUpdate.Success {
		return fmt.Errorf("linear: link of session %s was not accepted", job.Args.SessionID)
	}
	return nil
}

type issueStartWorker struct {
	river.WorkerDefaults[IssueStartArgs]
	a *App
}

// Work reads the issue's state and its team's started states, and moves
// the issue to the started state of lowest position when it is in triage,
// the backlog or not started.
func (w *issueStartWorker) Work(ctx context.Context, job *river.Job[IssueStartArgs]) error {
	client, err := w.a.jobClient(ctx, job.Args.OrgID)
	if err != nil {
		return err
	}
	resp, err := IssueWorkflow(ctx, client, job.Args.IssueID)
	if err != nil {
		return fmt.Errorf("linear: workflow of issue %s: %w", job.Args.IssueID, err)
	}
	switch resp.Issue.State.Type {
	case "started", "completed", "canceled", "duplicate":
		return nil
	}
	first := ""
	best := 0.0
	for _, st := range resp.Issue.Team.States.Nodes {
		if st.Type == "started" && (first == "" || st.Position < best) {
			first, best = st.Id, st.Position
		}
	}
	if first == "" {
		return nil // the team has no started state
	}
	moved, err := IssueSetState(ctx, client, job.Args.IssueID, first)
	if err != nil {
		return fmt.Errorf("linear: start issue %s: %w", job.Args.IssueID, err)
	}
	if !moved.IssueUpdate.Success {
		return fmt.Errorf("linear: start of issue %s was not accepted", job.Args.IssueID)
	}
	return nil
}

// pageURL is the workspace's page, where every link the gateway posts points.
func (a *App) pageURL(workspaceID string) string {
	return launch.PageURL(a.cfg.PublicURL, workspaceID)
}

// ReportTx tells a Linear-triggered workspace's session (or, without one,
// its issue) about its lifecycle: thoughts while it launches, runs and
// hibernates, a response when it finished (with its summary and result) or
// was stopped, an error when it failed. A failure is one generic sentence
// with the workspace page's link: the reason may hold secrets and stays on
// the page. Summaries are scrubbed of anything credential-shaped and result
// links must be http(s).
func (a *App) ReportTx(ctx context.Context, tx sqldb.Tx, ws launch.Workspace) error {
	link := fmt.Sprintf("[%s](%s)", ws.ID, a.pageURL(ws.ID))
	src := ws.Source.Linear
	if src == nil {
		src = &launch.LinearSource{}
	}
	session := src.AgentSessionID != ""
	args := ActivityArgs{OrgID: ws.OrgID, SessionID: src.AgentSessionID}
	switch ws.Status {
	case launch.StatusQueued, launch.StatusLaunching:
		return nil
	case launch.StatusLaunched:
		args.Type, args.Body = "thought", fmt.Sprintf("Replicas launched workspace %s with %s.", link, ws.Agent)
	case launch.StatusRunning:
		if !session {
			return nil
		}
		args.Type, args.Body, args.Ephemeral = "thought", fmt.Sprintf("Workspace %s is running.", link), true
	case launch.StatusHibernated:
		if !session {
			return nil
		}
		args.Type, args.Body = "thought", fmt.Sprintf("Workspace %s is hibernating; a new prompt wakes it.", link)
	case launch.StatusFinished:
		args.Type, args.Body = "response", fmt.Sprintf("Workspace %s finished.", link)
		if s := secret.PublicText(ws.Summary, 4000); strings.TrimSpace(s) != "" {
			args.Body += "\n\n" + s
		}
		if u := secret.PublicURL(ws.ResultURL); u != "" {
			args.Body += "\n\nResult: " + u
		}
	case launch.StatusFailed:
		args.Type, args.Body = "error", fmt.Sprintf("Workspace %s failed. Its owner and the organization's admins can see why on its page.", link)
	case launch.StatusCancelled:
		args.Type, args.Body = "response", fmt.Sprintf("Workspace %s was cancelled.", link)
		if s := secret.PublicText(ws.Summary, 500); strings.TrimSpace(s) != "" {
			args.Body += " " + s // who stopped it
		}
	default:
		if !ws.Status.Terminal() {
			return nil
		}
		args.Type, args.Body = "response", fmt.Sprintf("Workspace %s stopped.", link)
	}
	if session {
		return a.postActivity(ctx, tx, args, nil)
	}
	return a.comment(ctx, tx, ws.OrgID, src.IssueID, args.Body)
}

// RelayTx posts a workspace's activity in its agent session, scrubbed of
// anything credential-shaped. A workspace without a session (an assigned
// issue) shows only its responses, questions and errors, as comments.
func (a *App) RelayTx(ctx context.Context, tx sqldb.Tx, ws launch.Workspace, act activity.Activity) error {
	src := ws.Source.Linear
	if src == nil {
		return nil
	}
	args := ActivityArgs{OrgID: ws.OrgID, SessionID: src.AgentSessionID, Type: string(act.Type), Body: secret.PublicText(act.Body, activity.MaxBody),
		Action: secret.PublicText(act.Action, activity.MaxField), Parameter: secret.PublicText(act.Parameter, activity.MaxField),
		Result: secret.PublicText(act.Result, activity.MaxBody), Ephemeral: act.Ephemeral}
	if src.AgentSessionID != "" {
		return a.postActivity(ctx, tx, args, nil)
	}
	switch act.Type {
	case activity.Response, activity.Elicitation, activity.Error:
		return a.comment(ctx, tx, ws.OrgID, src.IssueID, args.Body)
	}
	return nil
}
