// Middleware shared by every route: request ids, the access log, panic
// recovery, body limits and Prometheus metrics.

package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

type ctxKey int

const loggerKey ctxKey = iota

// RequestIDHeader carries the request id in and out.
const RequestIDHeader = "X-Request-ID"

// logger returns the request's logger (it carries request_id).
func logger(c *gin.Context) *slog.Logger { return LoggerFrom(c.Request.Context()) }

// LoggerFrom returns the logger stored in ctx by the request-id middleware, or
// a discarding one; packages called from handlers log through it so every line
// has the request id.
func LoggerFrom(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey).(*slog.Logger); ok {
		return l
	}
	return slog.New(slog.DiscardHandler)
}

// WithLogger stores l in ctx.
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey, l)
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if !(r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// requestContext gives each request an id (the caller's X-Request-ID when it
// is sane), a logger carrying it, and writes the access log line.
func (s *Server) requestContext(c *gin.Context) {
	id := c.GetHeader(RequestIDHeader)
	if !validRequestID(id) {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id = hex.EncodeToString(b)
	}
	l := s.log.With("request_id", id)
	c.Request = c.Request.WithContext(WithLogger(c.Request.Context(), l))
	c.Header(RequestIDHeader, id)
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" && s.Pages != nil && !isAPIPath(c.Request.URL.Path) {
		route = "pages" // never the path: page paths carry link tokens
	} else if route == "" {
		route = "unmatched"
	}
	elapsed := time.Since(start)
	status := c.Writer.Status()
	s.metrics.requests.WithLabelValues(c.Request.Method, route, strconv.Itoa(status)).Inc()
	s.metrics.latency.WithLabelValues(c.Request.Method, route).Observe(elapsed.Seconds())
	l.Info("http", "method", c.Request.Method, "route", route, "status", status,
		"duration_ms", float64(elapsed.Microseconds())/1000, "bytes", c.Writer.Size(), "remote", c.ClientIP())
}

// recoverJSON turns a panic into a logged JSON 500.
func recoverJSON(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			logger(c).Error("panic", "panic", r)
			c.AbortWithStatusJSON(http.StatusInternalServerError, errorBody{Error: "internal", Message: "internal error"})
		}
	}()
	c.Next()
}

// limitBody caps the request body; reading past it fails with
// *http.MaxBytesError, which writeError answers 413.
func limitBody(n int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, n)
		c.Next()
	}
}

type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "replicas_http_requests_total", Help: "HTTP requests by method, route and status.",
		}, []string{"method", "route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "replicas_http_request_duration_seconds", Help: "HTTP request latency by method and route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}
