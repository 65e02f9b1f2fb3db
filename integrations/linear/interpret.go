// Interpreting a recorded Linear delivery: an issue assigned or delegated to
// the Replicas app user, an issue created already assigned to it, or an agent
// session created (or prompted) for it, by a real user whose email matches a
// member of the connected org.

package linear

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/intake"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// actor is UserActorWebhookPayload (an entity delivery's actor) or
// UserChildWebhookPayload (a session's creator, an activity's user; no type).
type actor struct {
	ID    string `json:"id"`
	Type  string `json:"type"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

type team struct {
	ID   string `json:"id"`
	Key  string `json:"key"`
	Name string `json:"name"`
}

// issue is IssueWebhookPayload or IssueWithDescriptionChildWebhookPayload.
type issue struct {
	ID          string  `json:"id"`
	Identifier  string  `json:"identifier"`
	Title       string  `json:"title"`
	Description string  `json:"description"`
	URL         string  `json:"url"`
	UpdatedAt   string  `json:"updatedAt"`
	AssigneeID  *string `json:"assigneeId"`
	DelegateID  *string `json:"delegateId"`
	TeamID      string  `json:"teamId"`
	Team        *team   `json:"team"`
}

// payload holds the fields of an Issue delivery (actor, data, updatedFrom)
// and of an AgentSessionEvent (appUserId, agentSession, agentActivity,
// promptContext); their names do not collide, so one decode reads either.
type payload struct {
	envelope
	Actor         actor                      `json:"actor"`
	Data          issue                      `json:"data"`
	UpdatedFrom   map[string]json.RawMessage `json:"updatedFrom"`
	AppUserID     string                     `json:"appUserId"`
	AgentSession  *session                   `json:"agentSession"`
	AgentActivity *struct {
		ID      string `json:"id"`
		User    *actor `json:"user"`
		Signal  string `json:"signal"` // "stop": the user stopped the session
		Content struct {
			Body string `json:"body"`
		} `json:"content"`
	} `json:"agentActivity"`
	PromptContext string `json:"promptContext"`
	Guidance      []struct {
		Body string `json:"body"`
	} `json:"guidance"`
}

type session struct {
	ID      string `json:"id"`
	Issue   *issue `json:"issue"`
	Creator *actor `json:"creator"`
}

// parse decodes a delivery body.
func parse(body []byte) (payload, error) {
	var p payload
	if err := json.Unmarshal(body, &p); err != nil {
		return payload{}, fmt.Errorf("linear payload: %w", err)
	}
	return p, nil
}

// request is a recognized trigger before identity and credentials.
type request struct {
	conn       Connection
	who        actor
	issue      issue
	kind       string // assign, delegate, create, session, prompt, stop
	sessionID  string
	activityID string // of a prompt or stop
	prompt     string
	guidance   []string // the workspace's and teams' guidance for the agent
}

// Outcomes of deliveries that launch nothing (intake adds its own).
const (
	OutcomeNotConnected = "ignored: linear organization not connected"
	OutcomeNotAssigned  = "ignored: not assigned to the app"
	OutcomeAppActor     = "ignored: app actor"
	OutcomeUnknownUser  = "unknown_user"
)

// trigger recognizes what a delivery asks of the app user appUserID, or says
// why it asks nothing.
func trigger(p payload, appUserID string) (*request, string) {
	switch p.Type {
	case "Issue":
		r := issueTrigger(p, appUserID)
		switch {
		case r == nil:
			return nil, OutcomeNotAssigned
		case r.who.ID == "":
			return nil, OutcomeAppActor // no user did it (automation)
		}
		return r, ""
	case "AgentSessionEvent":
		return sessionTrigger(p, appUserID)
	}
	return nil, fmt.Sprintf("ignored: %s %s", p.Type, p.Action)
}

// issueTrigger: an update whose assigneeId or delegateId changed to the app
// user (updatedFrom holds the previous values of changed fields only), or a
// creation already assigned or delegated to it.
func issueTrigger(p payload, appUserID string) *request {
	is := func(v *string) bool { return appUserID != "" && v != nil && *v == appUserID }
	changedTo := func(field string, now *string) bool {
		prev, changed := p.UpdatedFrom[field]
		if !changed || !is(now) {
			return false
		}
		var was *string
		if err := json.Unmarshal(prev, &was); err != nil {
			return true // not null and not a string: it was something else
		}
		return !is(was)
	}
	r := request{who: p.Actor, issue: p.Data}
	switch {
	case p.Action == "create" && (is(p.Data.AssigneeID) || is(p.Data.DelegateID)):
		r.kind = "create"
	case p.Action == "update" && changedTo("delegateId", p.Data.DelegateID):
		r.kind = "delegate"
	case p.Action == "update" && changedTo("assigneeId", p.Data.AssigneeID):
		r.kind = "assign"
	default:
		return nil
	}
	if r.issue.ID == "" {
		return nil
	}
	return &r
}

// sessionTrigger: a session created for the app user asks for a workspace; a
// prompt in it is a follow-up (a message to the session's workspace, or a
// new workspace when the person has none active there); a prompt with the
// stop signal stops the session's workspace.
func sessionTrigger(p payload, appUserID string) (*request, string) {
	s := p.AgentSession
	if s == nil || s.ID == "" || s.Issue == nil || s.Issue.ID == "" {
		return nil, "ignored: agent session without an issue"
	}
	if p.AppUserID != "" && p.AppUserID != appUserID {
		return nil, OutcomeNotAssigned
	}
	r := request{issue: *s.Issue, sessionID: s.ID}
	var who *actor
	switch p.Action {
	case "created":
		r.kind, r.prompt, who = "session", p.PromptContext, s.Creator
		for _, g := range p.Guidance {
			if strings.TrimSpace(g.Body) != "" {
				r.guidance = append(r.guidance, strings.TrimSpace(g.Body))
			}
		}
	case "prompted":
		r.kind, who = "prompt", s.Creator
		if p.AgentActivity != nil {
			r.prompt, r.activityID = p.AgentActivity.Content.Body, p.AgentActivity.ID
			if p.AgentActivity.User != nil {
				who = p.AgentActivity.User
			}
			if p.AgentActivity.Signal == "stop" {
				r.kind = "stop"
			}
		}
		if r.activityID == "" { // every prompt is its own message, even without its id
			r.activityID = fmt.Sprintf("%s@%.0f", s.ID, p.WebhookTimestamp)
		}
	default:
		return nil, "ignored: agent session " + p.Action
	}
	if who == nil || who.ID == "" {
		return nil, OutcomeAppActor // started by automation or another agent
	}
	r.who = *who
	if r.who.Type == "" {
		r.who.Type = "user" // UserChildWebhookPayload is always a user
	}
	return &r, ""
}

// isAppActor: OAuth apps and integrations never trigger; an app acting as a
// user has a synthetic @oauthapp.linear.app email.
func isAppActor(who actor) bool {
	return who.Type != "user" || isAppEmail(who.Email)
}

func isAppEmail(email string) bool {
	return strings.HasSuffix(identity.NormalizeEmail(email), "@oauthapp.linear.app")
}

// Interpret decides what a delivery causes.
func (a *App) Interpret(ctx context.Context, d intake.Delivery) (intake.Plan, error) {
	p, err := parse(d.Body)
	if err != nil {
		return intake.Plan{}, fmt.Errorf("%w: %w", err, intake.ErrPermanent)
	}
	conn, err := a.store.ByOrganization(ctx, a.db, p.OrganizationID)
	if errors.Is(err, ErrNotConnected) {
		return intake.Plan{Outcome: OutcomeNotConnected}, nil
	}
	if err != nil {
		return intake.Plan{}, err
	}
	req, outcome := trigger(p, conn.AppUserID)
	if req == nil {
		return intake.Plan{OrgID: conn.OrgID, Outcome: outcome}, nil
	}
	req.conn = conn
	plan, err := a.plan(ctx, *req)
	if errors.Is(err, ErrReconnect) {
		return plan, fmt.Errorf("%w: %w", err, intake.ErrPermanent) // no retry can help before a reconnect
	}
	return plan, err
}

// email is the actor's email: the payload's when present (so a changed email
// always wins), otherwise Linear's user(id:).
func (a *App) email(ctx context.Context, r request) (string, error) {
	if r.who.Email != "" {
		return r.who.Email, nil
	}
	client, err := a.client(ctx, r.conn)
	if err != nil {
		return "", err
	}
	resp, err := UserEmail(ctx, client, r.who.ID)
	if err != nil {
		return "", fmt.Errorf("linear: look up user %s: %w", r.who.ID, err)
	}
	return resp.User.Email, nil
}

// repository is the team's mapped repository, else the first GitHub
// repository linked from the issue's attachments, else none.
func (a *App) repository(ctx context.Context, r request) (string, error) {
	teams := []string{r.issue.TeamID}
	if r.issue.Team != nil {
		teams = []string{r.issue.Team.Key, r.issue.Team.ID}
	}
	repo, err := a.store.TeamRepository(ctx, a.db, r.conn.OrgID, teams...)
	if err != nil || repo != "" {
		return repo, err
	}
	client, err := a.client(ctx, r.conn)
	if err != nil {
		return "", err
	}
	resp, err := IssueAttachments(ctx, client, r.issue.ID)
	if err != nil {
		return "", fmt.Errorf("linear: attachments of issue %s: %w", r.issue.ID, err)
	}
	for _, at := range resp.Issue.Attachments.Nodes {
		if repo := githubRepository(at.Url); repo != "" {
			return repo, nil
		}
	}
	return "", nil
}

// githubRepository is "owner/name" of a github.com link to a repository or
// anything inside one (pull request, commit, issue), else "".
func githubRepository(link string) string {
	u, err := url.Parse(link)
	if err != nil || !strings.EqualFold(u.Hostname(), "github.com") {
		return ""
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return ""
	}
	return parts[0] + "/" + strings.TrimSuffix(parts[1], ".git")
}

func (a *App) plan(ctx context.Context, r request) (intake.Plan, error) {
	if isAppActor(r.who) {
		return intake.Plan{OrgID: r.conn.OrgID, Outcome: OutcomeAppActor}, nil
	}
	email, err := a.email(ctx, r)
	if err != nil {
		return intake.Plan{}, err
	}
	if isAppEmail(email) {
		return intake.Plan{OrgID: r.conn.OrgID, Outcome: OutcomeAppActor}, nil
	}
	if strings.TrimSpace(email) == "" {
		return a.refusal(r, OutcomeUnknownUser, fmt.Sprintf(
			"Replicas could not read the email of the Linear user %s, so no workspace was launched.", r.who.Name)), nil
	}
	member, err := a.ids.MemberByEmail(ctx, a.db, r.conn.OrgID, email)
	if errors.Is(err, identity.ErrNotFound) {
		return a.refusal(r, OutcomeUnknownUser, fmt.Sprintf(
			"Replicas found no member of this organization with the email %s, so no workspace was launched. Ask an org admin to add that email to Replicas.",
			identity.NormalizeEmail(email))), nil
	}
	if err != nil {
		return intake.Plan{}, err
	}
	if r.kind == "prompt" && r.sessionID != "" {
		// A pending question's answer; any other prompt is a follow-up.
		if plan, ok, err := a.answerElicitation(ctx, r, member.ID); ok || err != nil {
			return plan, err
		}
	}
	repo, err := a.repository(ctx, r)
	if err != nil {
		return intake.Plan{}, err
	}
	t := a.launchTrigger(r, member.ID, email, repo)
	if repo == "" && r.kind == "session" {
		return a.askRepository(ctx, r, t, member.ID, "") // a new session: nothing runs there yet
	}
	return intake.Plan{OrgID: r.conn.OrgID, Trigger: t, Then: a.then(r)}, nil
}

// launchTrigger is the workspace request for r on behalf of userID.
func (a *App) launchTrigger(r request, userID, email, repo string) *launch.Trigger {
	body := r.issue.Description
	if r.prompt != "" {
		body = strings.TrimSpace(body + "\n\n" + r.prompt)
	}
	if len(r.guidance) > 0 {
		body = strings.TrimSpace(body + "\n\nGuidance:\n- " + strings.Join(r.guidance, "\n- "))
	}
	key := fmt.Sprintf("linear:issue:%s:%s:%s", r.issue.ID, r.kind, r.issue.UpdatedAt)
	thread := launch.ThreadLinearIssue(r.issue.ID)
	src := &launch.LinearSource{IssueID: r.issue.ID, Identifier: r.issue.Identifier, OrganizationID: r.conn.OrganizationID, AgentSessionID: r.sessionID}
	if r.sessionID != "" {
		thread = launch.ThreadLinear(r.sessionID)
		key = "linear:session:" + r.sessionID
		if r.activityID != "" { // each prompt of the session is its own message
			key = "linear:activity:" + r.activityID
		}
	}
	message := r.prompt
	if r.kind == "stop" && strings.TrimSpace(message) == "" {
		message = "stop"
	}
	if r.issue.Team != nil {
		src.Team = r.issue.Team.Key
	}
	return &launch.Trigger{
		OrgID: r.conn.OrgID, UserID: userID, TriggerKey: key,
		Thread: thread, Message: message, Stop: r.kind == "stop", Author: launch.Author{Email: identity.NormalizeEmail(email)},
		Source:     launch.Source{Kind: launch.SourceLinear, URL: r.issue.URL, Linear: src},
		Task:       launch.Task{Title: r.issue.Identifier + ": " + r.issue.Title, Body: body, URL: r.issue.URL},
		Repository: launch.Repository{FullName: repo},
	}
}

// then acknowledges in the committing transaction: a thought in the session
// at once (the link follows from ReportTx when launched), a note on a
// follow-up prompt, or why nothing launched.
func (a *App) then(r request) func(context.Context, sqldb.Tx, *launch.Workspace, error) error {
	return func(ctx context.Context, tx sqldb.Tx, ws *launch.Workspace, launchErr error) error {
		outcome, _ := launch.Outcome(launchErr)
		switch {
		case outcome == launch.OutcomeLaunched && r.sessionID != "":
			if err := a.startWork(ctx, tx, r, ws); err != nil {
				return err
			}
			return a.activity(ctx, tx, r.conn.OrgID, r.sessionID, "thought", "Launching a Replicas workspace for this issue…")
		case outcome == launch.OutcomeLaunched:
			return a.startWork(ctx, tx, r, ws) // the comment with the link comes when it is launched (ReportTx)
		case outcome == launch.OutcomeMessage && r.sessionID != "":
			return a.activity(ctx, tx, r.conn.OrgID, r.sessionID, "thought", "Got it: passed on to the session's Replicas workspace.")
		case outcome == launch.OutcomeMessage:
			return nil // an issue re-assigned while its workspace runs: the workspace has the message
		case outcome == launch.OutcomeStop && r.sessionID != "":
			return a.activity(ctx, tx, r.conn.OrgID, r.sessionID, "thought", "Stopping the Replicas workspace…") // the response follows when it is cancelled (ReportTx)
		case outcome == launch.OutcomeStop:
			return nil
		case outcome == launch.OutcomeNothingToStop && r.sessionID != "":
			return a.activity(ctx, tx, r.conn.OrgID, r.sessionID, "response", "Nothing to stop: you have no running Replicas workspace in this session.")
		case outcome == launch.OutcomeNothingToStop:
			return nil
		case outcome == launch.OutcomeDuplicate:
			return nil
		case outcome == launch.OutcomeRepositoryNotInstalled:
			return a.explain(ctx, tx, r, "Nothing was launched: the repository for this issue is not part of a GitHub App installation connected to this Replicas organization. An org admin can add it to the installation, or map the team to an installed repository.")
		default:
			return a.explain(ctx, tx, r, "Nothing was launched: at least one coding agent must be configured. Add a Claude or Codex credential in Replicas (Coding Agents settings) and try again.")
		}
	}
}

func (a *App) refusal(r request, outcome, text string) intake.Plan {
	return intake.Plan{OrgID: r.conn.OrgID, Outcome: outcome, Then: func(ctx context.Context, tx sqldb.Tx, _ *launch.Workspace, _ error) error {
		return a.explain(ctx, tx, r, text)
	}}
}

// startWork enqueues what a launch does in Linear besides acknowledging: the
// session links the workspace's page, and the issue moves to started.
func (a *App) startWork(ctx context.Context, tx sqldb.Tx, r request, ws *launch.Workspace) error {
	if ws != nil && r.sessionID != "" {
		if _, err := a.queue.InsertTx(ctx, tx, SessionLinkArgs{OrgID: r.conn.OrgID, SessionID: r.sessionID, URL: a.pageURL(ws.ID)}, nil); err != nil {
			return err
		}
	}
	_, err := a.queue.InsertTx(ctx, tx, IssueStartArgs{OrgID: r.conn.OrgID, IssueID: r.issue.ID}, nil)
	return err
}
