package web

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/conversation"
	"github.com/tryreplicas/gateway/integrations/github"
	"github.com/tryreplicas/gateway/integrations/launch"
	"github.com/tryreplicas/gateway/integrations/linear"
)

// Identity is what the pages need of accounts and sessions (identity.Service).
type Identity interface {
	StartSession(ctx context.Context) (string, identity.Session, error)
	Session(ctx context.Context, token string) (identity.Session, error)
	SessionPrincipal(ctx context.Context, sess identity.Session) (identity.Principal, error)
	EndSession(ctx context.Context, sess identity.Session) error
	SignInWithLoginLink(ctx context.Context, token, replacedID string) (string, identity.Session, error)
	SwitchOrg(ctx context.Context, sess identity.Session, org string) (identity.Org, error)
	OrgsOf(ctx context.Context, userID string) ([]identity.OrgRole, error)
	User(ctx context.Context, id string) (identity.User, error)
	InvitationByToken(ctx context.Context, token string) (identity.Invitation, identity.Org, error)
	AcceptInvitationInSession(ctx context.Context, sess identity.Session, token string) (identity.Acceptance, error)
}

// GitHubFlows are the GitHub browser flows (github.App): sign-in, relink
// with confirmation, org connect.
type GitHubFlows interface {
	SignInURL(ctx context.Context, sessionID, invitationRef string) (string, error)
	RelinkURL(ctx context.Context, orgID, userID, sessionID string) (string, error)
	Callback(ctx context.Context, state, code, sessionID string) (github.CallbackResult, error)
	ConfirmRelink(ctx context.Context, confirm, sessionID, userID string) (identity.GitHubLink, error)
	ConnectURL(ctx context.Context, orgID, adminID, sessionID string) (string, error)
	Setup(ctx context.Context, r github.SetupRequest) (github.SetupResult, error)
}

// LinearFlows are the Linear browser flows (linear.App): sign-in and org
// connect.
type LinearFlows interface {
	SignInURL(ctx context.Context, sessionID string) (string, error)
	ConnectURL(ctx context.Context, orgID, adminID, sessionID string) (string, error)
	BrowserCallback(ctx context.Context, state, code, sessionID string) (linear.CallbackResult, error)
}

// Workspaces lists workspaces for their page (launch.Service).
type Workspaces interface {
	List(ctx context.Context, by launch.Actor, user string, limit int) ([]launch.Workspace, error)
}

// Conversations serve one workspace's page (conversation.Service): the
// workspace with its messages and activities, the owner's follow-up, and
// stopping it.
type Conversations interface {
	View(ctx context.Context, id string, by launch.Actor) (conversation.View, error)
	Send(ctx context.Context, id string, by launch.Actor, body string) (launch.Message, error)
	Stop(ctx context.Context, id string, by launch.Actor) (launch.Workspace, error)
}

// Deps are what the pages use. GitHub and Linear may be nil (their buttons
// and routes are left out).
type Deps struct {
	Logger     *slog.Logger
	Identity   Identity
	GitHub     GitHubFlows
	Linear     LinearFlows
	Workspaces Workspaces
	// Conversations serves /workspaces/{id}; nil leaves it out.
	Conversations Conversations
	// PublicURL is the gateway's public base URL; https makes the session
	// cookie Secure.
	PublicURL string
	// The settings and admin pages (settings.go); nil leaves a page out.
	// Settings gathers what the user, members, integrations and audit pages
	// show; the others act.
	Settings    SettingsViews
	Credentials Credentials
	Connect     AgentConnect
	Accounts    Accounts
	Deliveries  Deliveries
	LinearTeams LinearTeams
}

// Server serves the pages.
type Server struct {
	Deps
	mux    *http.ServeMux
	secure bool
}

// New builds the pages and their routes.
func New(d Deps) *Server {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	s := &Server{Deps: d, mux: http.NewServeMux(), secure: strings.HasPrefix(strings.ToLower(d.PublicURL), "https://")}
	s.routes()
	return s
}

// Handler serves every page path (the API server hands it what it does not
// route itself).
func (s *Server) Handler() http.Handler { return s.mux }

// routes lists the page groups; each lives in its own file.
func (s *Server) routes() {
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", staticHandler()))
	// Browsers ask for the icon on their own, often while a sign-in is in
	// flight with the session cookie it is about to replace: answered
	// without a session, so that request can never start a signed-out
	// session whose cookie overwrites the new one.
	s.mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "max-age=86400")
		w.WriteHeader(http.StatusNoContent)
	})
	s.mux.HandleFunc("/", s.notFound)
	s.authRoutes()
	s.workspaceRoutes()
	s.settingsRoutes()
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/" {
		http.Redirect(w, r, "/workspaces", http.StatusSeeOther)
		return
	}
	s.page(Public, func(p *Page) error { return errPageNotFound })(w, r)
}
