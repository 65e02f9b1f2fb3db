// The workspace runtime API, authenticated by the workspace token:
// the current credential, rejection (force-rotate or fall back), and wake
// (re-resolve the chain).

package httpapi

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/tryreplicas/gateway/credstore"
	"github.com/tryreplicas/gateway/integrations/github"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// CredentialRuntime hands out credentials to workspaces (credstore.Runtime).
type CredentialRuntime interface {
	Current(ctx context.Context, ch credstore.Chain) (credstore.Issued, error)
	Rejected(ctx context.Context, ch credstore.Chain, id string, version int64) (credstore.Issued, error)
}

// Rechainer re-resolves a workspace's chain (launch.Service).
type Rechainer interface {
	Rechain(ctx context.Context, id string) (launch.Workspace, error)
}

// GitCredentials mints a workspace's token for its repository (github.App).
type GitCredentials interface {
	GitCredential(ctx context.Context, ws launch.Workspace) (github.GitCredential, error)
}

func (s *Server) runtimeRoutes(ws *gin.RouterGroup) {
	ws.GET("/credential", s.h(s.currentCredential))
	ws.POST("/credential/rejected", s.h(s.rejectedCredential))
	ws.POST("/wake", s.h(s.wake))
	if s.Git != nil {
		ws.POST("/git-credential", s.h(s.gitCredential))
	}
}

// gitCredential answers {"token","expires_at","repository","clone_url"}; the
// token is never logged.
func (s *Server) gitCredential(c *gin.Context) error {
	out, err := s.Git.GitCredential(c.Request.Context(), workspaceCaller(c))
	if err != nil {
		return err
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
	return nil
}

func chainOf(w launch.Workspace) credstore.Chain {
	return credstore.Chain{OrgID: w.OrgID, WorkspaceID: w.ID, UserID: w.UserID, Agent: credstore.Agent(w.Agent), IDs: w.CredentialIDs()}
}

func (s *Server) currentCredential(c *gin.Context) error {
	w := workspaceCaller(c)
	out, err := s.Runtime.Current(c.Request.Context(), chainOf(w))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, out)
	return nil
}

type rejectedRequest struct {
	CredentialID string `json:"credential_id" binding:"required"`
	Version      *int64 `json:"version"` // required: a missing version is not "already rotated"
}

func (s *Server) rejectedCredential(c *gin.Context) error {
	w := workspaceCaller(c)
	var req rejectedRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if req.Version == nil {
		return credstore.ErrVersionRequired
	}
	logger(c).Info("credential rejected by the provider", "credential_id", req.CredentialID, "version", *req.Version)
	out, err := s.Runtime.Rejected(c.Request.Context(), chainOf(w), req.CredentialID, *req.Version)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, out)
	return nil
}

func (s *Server) wake(c *gin.Context) error {
	ctx := c.Request.Context()
	w, err := s.Rechainer.Rechain(ctx, workspaceCaller(c).ID)
	if err != nil {
		return err
	}
	out, err := s.Runtime.Current(ctx, chainOf(w))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, out)
	return nil
}
