// Workspaces: the management API (list, get, create by hand, cancel) and the
// workspace-token side (lifecycle events from the running workspace).

package httpapi

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// WorkspaceService is what the workspace endpoints need (launch.Service).
type WorkspaceService interface {
	Launch(ctx context.Context, t launch.Trigger) (launch.Workspace, error)
	List(ctx context.Context, by launch.Actor, user string, limit int) ([]launch.Workspace, error)
	Workspace(ctx context.Context, id string, by launch.Actor) (launch.Workspace, error)
	Update(ctx context.Context, id string, u launch.Update) (launch.Workspace, error)
	Authenticate(ctx context.Context, token string) (launch.Workspace, error)
	Cancel(ctx context.Context, id string, by launch.Actor) (launch.Workspace, error)
}

const workspaceKey = "replicas.workspace"

func (s *Server) workspaceRoutes(user *gin.RouterGroup, ws *gin.RouterGroup) {
	user.GET("/orgs/:org/workspaces", s.h(s.listWorkspaces))
	user.POST("/orgs/:org/workspaces", s.h(s.createWorkspace))
	user.GET("/workspaces/:id", s.h(s.getWorkspace))
	user.POST("/workspaces/:id/cancel", s.h(s.cancelWorkspace))
	ws.POST("/events", s.h(s.workspaceEvent))
}

// authenticateWorkspace requires a workspace token and stores its workspace.
func (s *Server) authenticateWorkspace(c *gin.Context) error {
	w, err := s.Workspaces.Authenticate(c.Request.Context(), bearer(c))
	if err != nil {
		return err
	}
	c.Set(workspaceKey, w)
	c.Request = c.Request.WithContext(WithLogger(c.Request.Context(), logger(c).With("workspace_id", w.ID)))
	return nil
}

// actor is the caller as the launch package sees it.
func actor(p identity.Principal) launch.Actor {
	return launch.Actor{OrgID: p.OrgID, UserID: p.UserID, Admin: p.IsAdmin()}
}

// workspaceCaller is the workspace behind the token.
func workspaceCaller(c *gin.Context) launch.Workspace {
	w, _ := c.Get(workspaceKey)
	return w.(launch.Workspace)
}

func (s *Server) listWorkspaces(c *gin.Context) error {
	p, err := orgCaller(c, false)
	if err != nil {
		return err
	}
	list, err := s.Workspaces.List(c.Request.Context(), actor(p), queryParam(c, "user"), 100)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"workspaces": nonNil(list)})
	return nil
}

func (s *Server) getWorkspace(c *gin.Context) error {
	w, err := s.Workspaces.Workspace(c.Request.Context(), c.Param("id"), actor(principal(c)))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, w)
	return nil
}

// cancelWorkspace ends a workspace for its owner or an admin of its org;
// anyone else is told it does not exist, as for reading it.
func (s *Server) cancelWorkspace(c *gin.Context) error {
	w, err := s.Workspaces.Cancel(c.Request.Context(), c.Param("id"), actor(principal(c)))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, w)
	return nil
}

type createWorkspaceRequest struct {
	Task       launch.Task       `json:"task"`
	Repository launch.Repository `json:"repository"`
	Agent      string            `json:"agent"`
}

// createWorkspace launches a workspace for the caller, through the same
// resolution, record and launch path as a trigger.
func (s *Server) createWorkspace(c *gin.Context) error {
	p, err := orgCaller(c, false)
	if err != nil {
		return err
	}
	var req createWorkspaceRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if !p.IsUser() {
		return identity.ErrNoUser // a workspace always has a person behind it
	}
	if req.Task.Title == "" || req.Repository.FullName == "" {
		return errs.Invalid("task.title and repository.full_name are required")
	}
	w, err := s.Workspaces.Launch(c.Request.Context(), launch.Trigger{
		OrgID: p.OrgID, UserID: p.UserID, Agent: req.Agent,
		Source: launch.Source{Kind: launch.SourceAPI, API: &launch.APISource{RequestedBy: p.UserID}},
		Task:   req.Task, Repository: req.Repository,
	})
	if err != nil {
		return err
	}
	c.JSON(http.StatusCreated, w)
	return nil
}

type workspaceEventRequest struct {
	Status  launch.Status `json:"status"`
	Summary string        `json:"summary"`
	URL     string        `json:"url"`
}

func (s *Server) workspaceEvent(c *gin.Context) error {
	w := workspaceCaller(c)
	var req workspaceEventRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	switch req.Status {
	case launch.StatusRunning, launch.StatusHibernated, launch.StatusFinished, launch.StatusFailed:
	default:
		return errs.Invalid("status must be running, hibernated, finished or failed")
	}
	u := launch.Update{Status: req.Status, Summary: req.Summary, ResultURL: req.URL}
	if req.Status == launch.StatusFailed {
		u.Error = req.Summary
	}
	updated, err := s.Workspaces.Update(c.Request.Context(), w.ID, u)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, updated)
	return nil
}
