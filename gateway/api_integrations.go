// Integrations: the org's GitHub installations and Linear connection (admins),
// connecting Linear with a token, and the team → repository mapping.
package gateway

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/integrations/github"
	"github.com/tryreplicas/gateway/integrations/linear"
)

// GitHubInstallations lists an org's App installations.
type GitHubInstallations interface {
	OrgInstallations(ctx context.Context, q sqldb.Querier, orgID string) ([]github.Installation, error)
}

// LinearConnections manages an org's Linear connection.
type LinearConnections interface {
	ConnectToken(ctx context.Context, orgID, organizationID, token, appUserID, by string) (linear.Connection, error)
	ConnectURL(ctx context.Context, orgID, adminID string) (string, error)
	Callback(ctx context.Context, state, code string) (linear.Connection, error)
	Store() *linear.Store
}

func (s *Server) integrationRoutes(root *gin.Engine, r *gin.RouterGroup) {
	r.GET("/orgs/:org/integrations", s.h(s.listIntegrations))
	if s.Linear != nil {
		r.POST("/orgs/:org/integrations/linear/connect", s.h(s.linearConnectURL))
		root.GET("/oauth/linear/callback", s.h(s.linearCallback))
		r.PUT("/orgs/:org/integrations/linear", s.h(s.connectLinear))
		r.DELETE("/orgs/:org/integrations/linear", s.h(s.disconnectLinear))
		r.PUT("/orgs/:org/integrations/linear/teams/:team", s.h(s.mapLinearTeam))
	}
}

func (s *Server) listIntegrations(c *gin.Context) error {
	p, err := orgCaller(c, true)
	if err != nil {
		return err
	}
	ctx := c.Request.Context()
	out := gin.H{}
	if s.GitHub != nil {
		inst, err := s.GitHub.OrgInstallations(ctx, s.DB, p.OrgID)
		if err != nil {
			return err
		}
		report, err := github.LastReport(ctx, s.DB, p.OrgID)
		var last any
		switch {
		case err == nil:
			last = report
		case !errors.Is(err, sqldb.ErrNoRows):
			return err
		}
		var pending []int64
		rows, err := s.DB.Query(ctx, `SELECT installation_id FROM github_pending_connects WHERE org_id = $1`, p.OrgID)
		if err != nil {
			return err
		}
		if pending, err = sqldb.Collect(rows, func(r sqldb.Rows) (int64, error) { var id int64; return id, r.Scan(&id) }); err != nil {
			return err
		}
		out["github"] = gin.H{"installations": nonNil(inst), "last_auto_link": last, "pending_installations": nonNil(pending)}
	}
	if s.Linear != nil {
		conn, err := s.Linear.Store().ByOrg(ctx, s.DB, p.OrgID)
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
	conn, err := s.Linear.ConnectToken(c.Request.Context(), p.OrgID, req.OrganizationID, req.AccessToken, req.AppUserID, p.UserID)
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
	if err := s.Linear.Store().Disconnect(c.Request.Context(), s.DB, p.OrgID); err != nil {
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
	if owner, name, ok := strings.Cut(req.Repository, "/"); !ok || owner == "" || name == "" {
		return errs.Invalid("repository must be owner/name")
	}
	if err := s.Linear.Store().SetTeamRepository(c.Request.Context(), s.DB, p.OrgID, c.Param("team"), req.Repository); err != nil {
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
	url, err := s.Linear.ConnectURL(c.Request.Context(), p.OrgID, p.UserID)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"url": url})
	return nil
}

func (s *Server) linearCallback(c *gin.Context) error {
	conn, err := s.Linear.Callback(c.Request.Context(), c.Query("state"), c.Query("code"))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, conn)
	return nil
}
