// Integrations: the org's GitHub installations and Linear connection (admins);
// connecting Linear is in api_linear.go.
package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/integrations/github"
	"github.com/tryreplicas/gateway/integrations/linear"
)

// GitHubInstallations lists an org's App installations.
type GitHubInstallations interface {
	OrgInstallations(ctx context.Context, q sqldb.Querier, orgID string) ([]github.Installation, error)
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
