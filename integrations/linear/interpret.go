// Interpreting a recorded Linear delivery: an issue assigned or delegated to
// the Replicas app user, an issue created already assigned to it, or an agent
// session created for it, by a real user whose email matches a member.
package linear

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/intake"
	"github.com/tryreplicas/gateway/integrations/launch"
)

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

type entityDelivery struct {
	envelope
	Actor       actor                      `json:"actor"`
	Data        issue                      `json:"data"`
	UpdatedFrom map[string]json.RawMessage `json:"updatedFrom"`
}

type sessionDelivery struct {
	envelope
	AppUserID    string `json:"appUserId"`
	AgentSession struct {
		ID        string `json:"id"`
		URL       string `json:"url"`
		Issue     *issue `json:"issue"`
		Creator   *actor `json:"creator"`
		CreatorID string `json:"creatorId"`
	} `json:"agentSession"`
	AgentActivity *struct {
		Content struct {
			Body string `json:"body"`
		} `json:"content"`
	} `json:"agentActivity"`
	PromptContext string `json:"promptContext"`
}

// request is a decoded trigger before identity and credentials.
type request struct {
	conn      Connection
	who       actor
	issue     issue
	kind      string // assign, delegate, create, session
	sessionID string
	prompt    string
}

// Interpret decides what a delivery causes.
func (a *App) Interpret(ctx context.Context, d intake.Delivery) (intake.Plan, error) {
	var env envelope
	if err := json.Unmarshal(d.Body, &env); err != nil {
		return intake.Plan{}, fmt.Errorf("linear payload: %v: %w", err, intake.ErrPermanent)
	}
	conn, err := a.store.ByOrganization(ctx, a.db, env.OrganizationID)
	if errors.Is(err, ErrNotConnected) {
		return intake.Plan{Outcome: "ignored: linear organization not connected"}, nil
	}
	if err != nil {
		return intake.Plan{}, err
	}
	var req *request
	switch env.Type {
	case "Issue":
		var p entityDelivery
		if err := json.Unmarshal(d.Body, &p); err != nil {
			return intake.Plan{}, fmt.Errorf("linear issue payload: %v: %w", err, intake.ErrPermanent)
		}
		req = issueTrigger(conn, p)
	case "AgentSessionEvent":
		var p sessionDelivery
		if err := json.Unmarshal(d.Body, &p); err != nil {
			return intake.Plan{}, fmt.Errorf("linear session payload: %v: %w", err, intake.ErrPermanent)
		}
		if p.Action != "created" {
			return intake.Plan{OrgID: conn.OrgID, Outcome: "ignored: agent session " + p.Action}, nil
		}
		if p.AgentSession.Creator == nil || p.AgentSession.Issue == nil {
			return intake.Plan{OrgID: conn.OrgID, Outcome: "ignored: agent session without a creator or issue"}, nil
		}
		who := *p.AgentSession.Creator
		if who.Type == "" {
			who.Type = "user"
		}
		req = &request{conn: conn, who: who, issue: *p.AgentSession.Issue, kind: "session", sessionID: p.AgentSession.ID, prompt: p.PromptContext}
	}
	if req == nil {
		return intake.Plan{OrgID: conn.OrgID, Outcome: "ignored: not assigned to the app"}, nil
	}
	return a.plan(ctx, *req)
}

// issueTrigger recognizes an assignment or delegation to the app user.
func issueTrigger(conn Connection, p entityDelivery) *request {
	is := func(v *string) bool { return v != nil && *v == conn.AppUserID }
	changedTo := func(field string, now *string) bool {
		prev, changed := p.UpdatedFrom[field]
		if !changed || !is(now) {
			return false
		}
		var was *string
		_ = json.Unmarshal(prev, &was) // null or a string; anything else counts as a change
		return !is(was)
	}
	base := request{conn: conn, who: p.Actor, issue: p.Data}
	switch {
	case p.Action == "create" && is(p.Data.DelegateID):
		base.kind = "delegate"
	case p.Action == "create" && is(p.Data.AssigneeID):
		base.kind = "assign"
	case p.Action == "update" && changedTo("delegateId", p.Data.DelegateID):
		base.kind = "delegate"
	case p.Action == "update" && changedTo("assigneeId", p.Data.AssigneeID):
		base.kind = "assign"
	default:
		return nil
	}
	return &base
}

// isAppActor: OAuth apps and integrations never trigger (their synthetic
// emails end in @oauthapp.linear.app).
func isAppActor(who actor) bool {
	return who.Type != "user" || strings.HasSuffix(strings.ToLower(who.Email), "@oauthapp.linear.app")
}

func (a *App) plan(ctx context.Context, r request) (intake.Plan, error) {
	if isAppActor(r.who) {
		return intake.Plan{OrgID: r.conn.OrgID, Outcome: "ignored: app actor"}, nil
	}
	email := r.who.Email
	if email == "" {
		client, err := a.client(ctx, r.conn)
		if err != nil {
			return intake.Plan{}, err
		}
		resp, err := UserEmail(ctx, client, r.who.ID)
		if err != nil {
			return intake.Plan{}, fmt.Errorf("linear: look up user %s: %w", r.who.ID, err)
		}
		email = resp.User.Email
		if strings.HasSuffix(strings.ToLower(email), "@oauthapp.linear.app") {
			return intake.Plan{OrgID: r.conn.OrgID, Outcome: "ignored: app actor"}, nil
		}
	}
	member, err := a.ids.MemberByEmail(ctx, a.db, r.conn.OrgID, email)
	if errors.Is(err, identity.ErrNotFound) {
		return a.refusal(r, "unknown_user", fmt.Sprintf(
			"Replicas found no member of this organization with the email %s, so no workspace was launched. Ask an org admin to add that email to Replicas.", identity.NormalizeEmail(email))), nil
	}
	if err != nil {
		return intake.Plan{}, err
	}
	teams := []string{r.issue.TeamID}
	if r.issue.Team != nil {
		teams = []string{r.issue.Team.Key, r.issue.Team.ID}
	}
	repo, err := a.store.TeamRepository(ctx, a.db, r.conn.OrgID, teams...)
	if err != nil {
		return intake.Plan{}, err
	}
	body := r.issue.Description
	if r.prompt != "" {
		body = strings.TrimSpace(body + "\n\n" + r.prompt)
	}
	key := fmt.Sprintf("linear:issue:%s:%s:%s", r.issue.ID, r.kind, r.issue.UpdatedAt)
	details := map[string]string{"issue_id": r.issue.ID, "identifier": r.issue.Identifier, "organization_id": r.conn.OrganizationID}
	if r.sessionID != "" {
		key = "linear:session:" + r.sessionID
		details["agent_session_id"] = r.sessionID
	}
	if r.issue.Team != nil {
		details["team"] = r.issue.Team.Key
	}
	trigger := &launch.Trigger{
		OrgID: r.conn.OrgID, UserID: member.ID, TriggerKey: key,
		Source:     launch.Source{Kind: "linear", URL: r.issue.URL, Details: details},
		Task:       launch.Task{Title: r.issue.Identifier + ": " + r.issue.Title, Body: body, URL: r.issue.URL},
		Repository: launch.Repository{FullName: repo},
	}
	return intake.Plan{OrgID: r.conn.OrgID, Trigger: trigger, Then: func(ctx context.Context, tx sqldb.Tx, ws *launch.Workspace, launchErr error) error {
		switch {
		case ws != nil:
			if r.sessionID != "" {
				return a.activity(ctx, tx, r.conn.OrgID, r.sessionID, "thought", "Launching a Replicas workspace for this issue…")
			}
			return nil // the comment with the link comes when it is launched (ReportTx)
		case errors.Is(launchErr, launch.ErrDuplicate):
			return nil
		default:
			return a.explain(ctx, tx, r, "Nothing was launched: at least one coding agent must be configured. Add a Claude or Codex credential in Replicas (Coding Agents settings) and assign the issue again.")
		}
	}}, nil
}

func (a *App) refusal(r request, outcome, text string) intake.Plan {
	return intake.Plan{OrgID: r.conn.OrgID, Outcome: outcome, Then: func(ctx context.Context, tx sqldb.Tx, _ *launch.Workspace, _ error) error {
		return a.explain(ctx, tx, r, text)
	}}
}
