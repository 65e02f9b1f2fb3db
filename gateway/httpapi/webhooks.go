// Webhook endpoints: verify the raw body with the source's verifier, record
// the delivery durably (with its processing job), then answer 200. Nothing is
// processed here; a database failure answers 503 so the sender retries.

package httpapi

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

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

// BatchReporter is a DeliveryRecorder that groups deliveries into
// transactions (intake.Service); its counts are exported as metrics.
type BatchReporter interface {
	Stats() intake.BatchStats
}

// registerBatchMetrics exports group commit's counts.
func registerBatchMetrics(reg prometheus.Registerer, b BatchReporter) {
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "replicas_intake_batches_total",
			Help: "Transactions that recorded more than one webhook delivery."}, func() float64 { return float64(b.Stats().Batches) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "replicas_intake_batched_deliveries_total",
			Help: "Webhook deliveries recorded in those transactions."}, func() float64 { return float64(b.Stats().Deliveries) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "replicas_intake_batch_fallbacks_total",
			Help: "Batches that failed and were recorded one delivery per transaction."}, func() float64 { return float64(b.Stats().Fallbacks) }),
	)
}

func (s *Server) webhookRoutes(r *gin.Engine) {
	if b, ok := s.Deliveries.(BatchReporter); ok {
		registerBatchMetrics(s.Registry, b)
	}
	n := s.WebhookMaxInflight
	if n <= 0 {
		n = DefaultWebhookMaxInflight
	}
	g := r.Group("/webhooks", limitInflight(n))
	g.POST("/:source", limitWebhookBody, s.h(s.receiveWebhook))
}

// limitWebhookBody caps a delivery's body by its source: GitHub's own
// maximum for GitHub, 1 MB for every other (Linear's payloads are a few KB).
func limitWebhookBody(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, webhookBodyLimit(c.Param("source")))
}

func webhookBodyLimit(source string) int64 {
	if source == "github" {
		return WebhookBodyLimit
	}
	return SmallWebhookBodyLimit
}

// errBusy answers a webhook that arrives while the in-flight cap is reached:
// 503 with Retry-After, so the sender tries again later (Linear retries;
// GitHub's failed deliveries are redelivered by the recovery job).
var errBusy = errs.New(errs.ErrUnavailable, "busy", "too many webhook deliveries are being received at once; retry later")

// limitInflight lets at most n requests be received at once, so a burst of
// (large) bodies is refused at the door instead of held in memory.
func limitInflight(n int) gin.HandlerFunc {
	slots := make(chan struct{}, n)
	return func(c *gin.Context) {
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
			c.Next()
		default:
			writeError(c, errBusy)
		}
	}
}

// readBody reads a delivery's body into one buffer of its declared length
// when that is within the source's limit, and grows one otherwise (reading
// past the limit fails with *http.MaxBytesError: 413).
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if n := r.ContentLength; n > 0 && n <= limit {
		body := make([]byte, n)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, err
		}
		return body, nil
	}
	return io.ReadAll(r.Body)
}

func (s *Server) receiveWebhook(c *gin.Context) error {
	source := c.Param("source")
	v, ok := s.Webhooks[source]
	if !ok {
		return errs.New(errs.ErrNotFound, "not_configured", "the %s integration is not configured", source)
	}
	body, err := readBody(c.Request, webhookBodyLimit(source))
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
