// Webhook endpoints: verify the raw body with the source's verifier, record
// the delivery durably (with its processing job), then answer 200. Nothing is
// processed here; a database failure answers 503 so the sender retries.
package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/integrations/intake"
)

// WebhookVerifier checks a delivery's signature and shape and names it.
// Errors of kind errs.ErrUnauthorized answer 401, errs.ErrInvalid 400.
type WebhookVerifier interface {
	Verify(h http.Header, body []byte) (intake.Delivery, error)
}

// DeliveryRecorder stores deliveries; see intake.Service.
type DeliveryRecorder interface {
	Record(ctx context.Context, d intake.Delivery) (intake.Delivery, bool, error)
}

func (s *Server) webhookRoutes(r *gin.Engine) {
	g := r.Group("/webhooks", limitBody(WebhookBodyLimit))
	g.POST("/:source", s.h(s.receiveWebhook))
}

func (s *Server) receiveWebhook(c *gin.Context) error {
	source := c.Param("source")
	v, ok := s.Webhooks[source]
	if !ok {
		return errs.New(errs.ErrNotFound, "not_configured", "the %s integration is not configured", source)
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		return fmt.Errorf("read %s webhook body: %w", source, err)
	}
	d, err := v.Verify(c.Request.Header, body)
	if err != nil {
		logger(c).Warn("webhook refused", "source", source, "err", err)
		return err
	}
	d.Source = source
	if d.Body == nil {
		d.Body = body
	}
	stored, dup, err := s.Deliveries.Record(c.Request.Context(), d)
	if err != nil {
		return err
	}
	status := "accepted"
	if dup {
		status = "duplicate"
	}
	logger(c).Info("webhook recorded", "source", source, "delivery", d.DeliveryID, "event", d.Event, "status", status, "id", stored.ID)
	c.JSON(http.StatusOK, gin.H{"status": status, "delivery_id": d.DeliveryID})
	return nil
}
