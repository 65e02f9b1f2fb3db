// The workspace pages: a member's own workspaces (an admin's: the org's),
// and one workspace with its status, source, agent and credential chain in
// plain words, its conversation, the owner's follow-up form and the stop
// button. Someone who may not see a workspace gets 404, as if it did not
// exist, for the page and its forms alike.

package web

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/secret"
	"github.com/tryreplicas/gateway/integrations/launch"
)

func (s *Server) workspaceRoutes() {
	if s.Workspaces != nil {
		s.handle("GET /workspaces", Member, s.workspacesPage)
	}
	if s.Conversations == nil {
		return
	}
	s.handle("GET /workspaces/{id}", SignedIn, s.workspacePage)
	s.handle("POST /workspaces/{id}/messages", SignedIn, s.sendFollowUp)
	s.handle("POST /workspaces/{id}/stop", SignedIn, s.stopWorkspace)
}

type workspaceRow struct {
	launch.Workspace
	SourceText string
	SourceURL  string
	ChainText  string
}

func row(w launch.Workspace, viewerID string) workspaceRow {
	r := workspaceRow{Workspace: w, SourceURL: w.Source.URL, ChainText: ChainText(w.Agent, w.Chain, w.UserID == viewerID)}
	switch {
	case w.Source.GitHub != nil:
		r.SourceText = fmt.Sprintf("GitHub pull request %s#%d (asked by @%s)", w.Source.GitHub.Repository, w.Source.GitHub.PullRequest, w.Source.GitHub.Sender)
	case w.Source.Linear != nil:
		r.SourceText = "Linear issue " + w.Source.Linear.Identifier
	case w.Source.API != nil:
		r.SourceText = "created through the API"
	default:
		r.SourceText = w.Source.Kind
	}
	// Only absolute http(s) addresses without user information become links:
	// both come from outside (a webhook's payload, a runner's report).
	r.SourceURL = secret.PublicURL(w.Source.URL)
	r.ResultURL = secret.PublicURL(w.ResultURL)
	return r
}

// ChainText says a credential chain in plain words, without secrets: the
// agent, then each credential's owner and method in the order they are
// tried, e.g. "Claude: your OAuth → org API key → org Bedrock" (mine: the
// viewer owns the personal credentials; otherwise they are the owner's).
func ChainText(agent string, chain []launch.ChainEntry, mine bool) string {
	name := map[string]string{"claude": "Claude", "codex": "Codex"}[agent]
	if name == "" {
		name = agent
	}
	if len(chain) == 0 {
		return name + ": no credentials"
	}
	method := map[string]string{"oauth": "OAuth", "api_key": "API key", "bedrock": "Bedrock"}
	parts := make([]string, len(chain))
	for i, c := range chain {
		owner := "org"
		switch {
		case c.Scope == "user" && mine:
			owner = "your"
		case c.Scope == "user":
			owner = "owner's"
		}
		m := method[c.Method]
		if m == "" {
			m = c.Method
		}
		parts[i] = owner + " " + m
	}
	return name + ": " + strings.Join(parts, " → ")
}

type workspacesView struct {
	Rows  []workspaceRow
	Admin bool
}

func (s *Server) workspacesPage(p *Page) error {
	list, err := s.Workspaces.List(p.R.Context(), p.Actor(), "", 100)
	if err != nil {
		return err
	}
	rows := make([]workspaceRow, len(list))
	for i, w := range list {
		rows[i] = row(w, p.Principal.UserID)
	}
	return p.Render("workspaces", "Workspaces", workspacesView{Rows: rows, Admin: p.Principal.IsAdmin()})
}

// workspacePage shows a workspace and its conversation to its owner and to
// the admins of its org, in whichever of the caller's orgs it is (the link
// on a PR does not know which org the browser is looking at).
func (s *Server) workspacePage(p *Page) error {
	v, err := s.Conversations.View(p.R.Context(), p.R.PathValue("id"), p.Actor())
	if err != nil {
		return notFoundAsPage(err)
	}
	return p.Render("workspace", "Workspace "+v.Workspace.ID, workspaceView(v, p.Principal.UserID))
}

// sendFollowUp is the owner's message to their active workspace.
func (s *Server) sendFollowUp(p *Page) error {
	id := p.R.PathValue("id")
	body := strings.ReplaceAll(p.R.PostFormValue("body"), "\r\n", "\n") // a textarea's line ends
	m, err := s.Conversations.Send(p.R.Context(), id, p.Actor(), body)
	if err != nil {
		return notFoundAsPage(err)
	}
	return p.RedirectFlash("/workspaces/"+id+"#m"+strconv.FormatInt(m.Seq, 10), fmt.Sprintf("Message %d sent to the workspace.", m.Seq))
}

// stopWorkspace cancels the workspace (its owner or an admin).
func (s *Server) stopWorkspace(p *Page) error {
	w, err := s.Conversations.Stop(p.R.Context(), p.R.PathValue("id"), p.Actor())
	if err != nil {
		return notFoundAsPage(err)
	}
	return p.RedirectFlash("/workspaces/"+w.ID, "The workspace is stopped ("+string(w.Status)+"); its token no longer works.")
}

var errWorkspaceNotFound = errs.New(errs.ErrNotFound, "not_found", "There is no such workspace, or it is not yours to see.")

// notFoundAsPage says a missing workspace in the pages' words.
func notFoundAsPage(err error) error {
	if errors.Is(err, errs.ErrNotFound) {
		return errWorkspaceNotFound
	}
	return err
}
