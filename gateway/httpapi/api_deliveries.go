// Deliveries: what each webhook delivery led to, and replay (admins).

package httpapi

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/tryreplicas/gateway/integrations/intake"
)

// DeliveryService lists and replays deliveries (intake.Service).
type DeliveryService interface {
	DeliveryRecorder
	List(ctx context.Context, orgID string, limit int) ([]intake.Record, error)
	Get(ctx context.Context, id string) (intake.Record, error)
	Replay(ctx context.Context, orgID, id string) error
}

func (s *Server) deliveryRoutes(r *gin.RouterGroup) {
	r.GET("/orgs/:org/deliveries", s.h(s.listDeliveries))
	r.POST("/deliveries/:id/replay", s.h(s.replayDelivery))
}

func (s *Server) listDeliveries(c *gin.Context) error {
	p, err := orgCaller(c, true)
	if err != nil {
		return err
	}
	list, err := s.Deliveries.List(c.Request.Context(), p.OrgID, 100)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"deliveries": nonNil(list)})
	return nil
}

func (s *Server) replayDelivery(c *gin.Context) error {
	p := principal(c)
	ctx := c.Request.Context()
	d, err := s.Deliveries.Get(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	if d.OrgID != p.OrgID {
		return intake.ErrNotFound
	}
	if !p.IsAdmin() {
		return errAdminOnly
	}
	if err := s.Deliveries.Replay(ctx, p.OrgID, d.ID); err != nil {
		return err
	}
	c.JSON(http.StatusAccepted, gin.H{"status": "replaying", "id": d.ID})
	return nil
}
