// Connecting Linear: the OAuth install as an app actor (connect URL and
// callback), a token directly, disconnecting, and the team → repository
// mapping.

package httpapi

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/linear"
)

// LinearConnections manages an org's Linear connection.
type LinearConnections interface {
	ConnectToken(ctx context.Context, orgID, organizationID, token, appUserID, by string) (linear.Connection, error)
	ConnectURL(ctx context.Context, orgID, adminID string) (string, error)
	Callback(ctx context.Context, state, code string) (linear.Connection, error)
	MapTeam(ctx context.Context, orgID, team, repo string) error
	Connection(ctx context.Context, orgID string) (linear.Connection, error)
	Disconnect(ctx context.Context, orgID string) error
}

func (s *Server) linearRoutes(root *gin.Engine, r *gin.RouterGroup) {
	if s.Linear == nil {
		return
	}
	r.POST("/orgs/:org/integrations/linear/connect", s.h(s.linearConnectURL))
	root.GET("/oauth/linear/callback", s.h(s.linearCallback))
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

func (s *Server) linearConnectURL(c *gin.Context) error {
	p, err := orgCaller(c, true)
	if err != nil {
		return err
	}
	if !p.IsUser() {
		return identity.ErrNoUser // the proof of an install or connect is a person's
	}
	url, err := s.Linear.ConnectURL(c.Request.Context(), p.OrgID, p.UserID)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"url": url})
	return nil
}

func (s *Server) linearCallback(c *gin.Context) error {
	conn, err := s.Linear.Callback(c.Request.Context(), queryParam(c, "state"), queryParam(c, "code"))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, conn)
	return nil
}
