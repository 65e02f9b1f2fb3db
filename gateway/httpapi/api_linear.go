// Connecting Linear with a token, disconnecting, and the team → repository
// mapping. The OAuth install starts and ends in the browser pages, bound to
// the browser session.

package httpapi

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/tryreplicas/gateway/integrations/linear"
)

// LinearConnections manages an org's Linear connection.
type LinearConnections interface {
	ConnectToken(ctx context.Context, orgID, organizationID, token, appUserID, by string) (linear.Connection, error)
	MapTeam(ctx context.Context, orgID, team, repo string) error
	Connection(ctx context.Context, orgID string) (linear.Connection, error)
	Disconnect(ctx context.Context, orgID string) error
}

func (s *Server) linearRoutes(root *gin.Engine, r *gin.RouterGroup) {
	if s.Linear == nil {
		return
	}
	r.PUT("/orgs/:org/integrations/linear", s.h(s.connectLinear))
	r.DELETE("/orgs/:org/integrations/linear", s.h(s.disconnectLinear))
	r.PUT("/orgs/:org/integrations/linear/teams/:team", s.h(s.mapLinearTeam))
}

type linearConnectRequest struct {
	OrganizationID string `json:"organization_id"`
	AccessToken    string `json:"access_token"`
	AppUserID      string `json:"app_user_id"`
}

func (s *Server) connectLinear(c *gin.Context) error {
	p, err := orgCaller(c, true)
	if err != nil {
		return err
	}
	var req linearConnectRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	conn, err := s.Linear.ConnectToken(c.Request.Context(), p.OrgID, req.OrganizationID, req.AccessToken, req.AppUserID, p.Actor())
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, conn)
	return nil
}

func (s *Server) disconnectLinear(c *gin.Context) error {
	p, err := orgCaller(c, true)
	if err != nil {
		return err
	}
	if err := s.Linear.Disconnect(c.Request.Context(), p.OrgID); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

func (s *Server) mapLinearTeam(c *gin.Context) error {
	p, err := orgCaller(c, true)
	if err != nil {
		return err
	}
	var req struct {
		Repository string `json:"repository"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if err := s.Linear.MapTeam(c.Request.Context(), p.OrgID, c.Param("team"), req.Repository); err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"team": c.Param("team"), "repository": req.Repository})
	return nil
}
