package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tryreplicas/gateway/gateway/sqldb"
)

// Body limits: GitHub sends payloads up to 25 MB (its own maximum); Linear's
// and every other source's are small, and so are API requests.
const (
	WebhookBodyLimit      = 25 << 20
	SmallWebhookBodyLimit = 1 << 20
	APIBodyLimit          = 1 << 20
)

// DefaultWebhookMaxInflight is how many webhook requests are received at
// once when Deps.WebhookMaxInflight is zero.
const DefaultWebhookMaxInflight = 64

// Deps are what the handlers use. Optional areas (nil) are not routed.
type Deps struct {
	Logger *slog.Logger
	// DB is the database readyz checks.
	DB Pinger
	// Identity authenticates API tokens and serves accounts and tokens.
	Identity IdentityService
	// Credentials serves the credential endpoints.
	Credentials CredentialService
	// Webhooks verifies deliveries per source name ("github", "linear").
	Webhooks map[string]WebhookVerifier
	// Deliveries records and lists webhook deliveries.
	Deliveries DeliveryService
	// Workspaces creates, lists and updates workspaces.
	Workspaces WorkspaceService
	// Messages serves workspaces their conversation (with Workspaces).
	Messages MessageService
	// GitHub lists App installations; Linear manages Linear connections.
	GitHub GitHubStatus
	Linear LinearConnections
	// Runtime and Rechainer serve running workspaces their credentials.
	Runtime CredentialRuntime
	// Connect runs GitHub org connect and account relinking.
	Connect   GitHubConnect
	Rechainer Rechainer
	// Pages serves every path the API does not route (the browser pages);
	// nil answers those 404 in JSON.
	Pages http.Handler
	// Activities records what running workspaces report doing.
	Activities ActivityPoster
	// Git mints workspaces' repository tokens (nil: not routed).
	Git GitCredentials
	// PublicURL is the base of links the gateway hands out (invitations).
	PublicURL string
	// WebhookMaxInflight caps the webhook requests being received at once
	// (0: DefaultWebhookMaxInflight); more answer 503 with Retry-After.
	WebhookMaxInflight int
	// Registry receives the HTTP metrics; nil makes a private one.
	Registry *prometheus.Registry
}

// Pinger is the database as readyz sees it (sqldb.DB).
type Pinger interface {
	Ping(ctx context.Context) error
	Dialect() sqldb.Dialect
}

// Server is the gin engine with its dependencies.
type Server struct {
	Deps
	log     *slog.Logger
	engine  *gin.Engine
	metrics *metrics
}

// New builds the server and its routes. It leaves gin's process-wide mode
// alone: gin prints its debug lines (each route as it is added) only in debug
// mode, and the program's entry point chooses the mode.
func New(d Deps) *Server {
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
		d.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	s := &Server{Deps: d, log: d.Logger, engine: gin.New(), metrics: newMetrics(d.Registry)}
	s.engine.ContextWithFallback = true
	s.engine.HandleMethodNotAllowed = true
	s.engine.Use(s.requestContext, recoverJSON)
	s.engine.NoRoute(func(c *gin.Context) {
		if d.Pages != nil && !isAPIPath(c.Request.URL.Path) {
			d.Pages.ServeHTTP(c.Writer, c.Request)
			return
		}
		writeError(c, notFoundRoute)
	})
	s.engine.NoMethod(func(c *gin.Context) {
		c.AbortWithStatusJSON(http.StatusMethodNotAllowed, errorBody{Error: "method_not_allowed", Message: "method not allowed"})
	})
	s.routes()
	return s
}

// isAPIPath reports whether path belongs to the JSON API (a 404 there is
// JSON, never a page).
func isAPIPath(path string) bool {
	return strings.HasPrefix(path, "/api/") || strings.HasPrefix(path, "/webhooks/")
}

// Handler is the root http.Handler.
func (s *Server) Handler() http.Handler { return s.engine }

func (s *Server) routes() {
	r := s.engine
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", s.h(s.readyz))
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{})))

	api := r.Group("/api/v1", limitBody(APIBodyLimit))
	user := api.Group("", s.h(s.authenticate))
	s.identityRoutes(api, user)
	if s.Credentials != nil {
		s.credentialRoutes(user)
	}
	if s.Deliveries != nil {
		s.webhookRoutes(r)
		s.deliveryRoutes(user)
	}
	s.integrationRoutes(r, user)
	if s.Connect != nil {
		s.githubIdentityRoutes(r, user)
	}
	if s.Workspaces != nil {
		ws := api.Group("/workspace", s.h(s.authenticateWorkspace))
		s.workspaceRoutes(user, ws)
		if s.Messages != nil {
			s.messageRoutes(user, ws)
		}
		if s.Runtime != nil {
			s.runtimeRoutes(ws)
		}
		if s.Activities != nil {
			s.activityRoutes(ws)
		}
	}
}

// h adapts a handler that returns an error.
func (s *Server) h(fn func(c *gin.Context) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := fn(c); err != nil {
			writeError(c, err)
		}
	}
}

func (s *Server) readyz(c *gin.Context) error {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if err := s.DB.Ping(ctx); err != nil {
		return fmt.Errorf("readyz: %w: %w", errUnavailable, err)
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready", "database": string(s.DB.Dialect())})
	return nil
}

// Serve runs an http.Server with this handler on ln until ctx ends, then
// shuts down gracefully, letting in-flight requests finish (up to grace).
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down http server", "grace", grace.String())
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("http shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http server: %w", err)
	}
	return nil
}
