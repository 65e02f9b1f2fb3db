// Integrations: the org's GitHub installations and Linear connection (admins);
// connecting Linear is in api_linear.go.

package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/tryreplicas/gateway/integrations/github"
	"github.com/tryreplicas/gateway/integrations/linear"
)

// GitHubStatus reads an org's GitHub connection (github.App).
type GitHubStatus interface {
	OrgStatus(ctx context.Context, orgID string) (github.OrgStatus, error)
}

func (s *Server) integrationRoutes(root *gin.Engine, r *gin.RouterGroup) {
	r.GET("/orgs/:org/integrations", s.h(s.listIntegrations))
	s.linearRoutes(root, r)
}

func (s *Server) listIntegrations(c *gin.Context) error {
	p, err := orgCaller(c, true)
	if err != nil {
		return err
	}
	ctx := c.Request.Context()
	out := gin.H{}
	if s.GitHub != nil {
		st, err := s.GitHub.OrgStatus(ctx, p.OrgID)
		if err != nil {
			return err
		}
		out["github"] = st
	}
	if s.Linear != nil {
		conn, err := s.Linear.Connection(ctx, p.OrgID)
		switch {
		case err == nil:
			out["linear"] = conn
		case errors.Is(err, linear.ErrNotConnected):
			out["linear"] = nil
		default:
			return err
		}
	}
	c.JSON(http.StatusOK, out)
	return nil
}
