// The settings and admin pages: what they need (declared here, served by
// settingsview, credstore, oauthconnect, identity, intake and linear), their
// routes, and the credential chain said in plain words on every page.

package web

import (
	"context"
	"strings"

	"github.com/tryreplicas/gateway/credstore"
	"github.com/tryreplicas/gateway/credstore/oauthconnect"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/intake"
	"github.com/tryreplicas/gateway/integrations/settingsview"
)

// Credentials are the agent credentials (credstore.Service).
type Credentials interface {
	Settings(ctx context.Context, orgID, userID string, admin bool) (credstore.Settings, error)
	Put(ctx context.Context, o credstore.Owner, agent credstore.Agent, method credstore.Method, in credstore.Secret, by credstore.Change) (credstore.Credential, error)
	Delete(ctx context.Context, o credstore.Owner, agent credstore.Agent, method credstore.Method, by credstore.Change) error
	SetPreference(ctx context.Context, o credstore.Owner, agent credstore.Agent, by credstore.Change) error
}

// SettingsViews gather what each settings page shows, in one call per page
// (settingsview.Service); the admin pages' views refuse non-admins.
type SettingsViews interface {
	User(ctx context.Context, by identity.Principal) (settingsview.User, error)
	Members(ctx context.Context, by identity.Principal) (settingsview.Members, error)
	Integrations(ctx context.Context, by identity.Principal) (settingsview.Integrations, error)
	Audit(ctx context.Context, by identity.Principal, limit int) ([]settingsview.AuditEntry, error)
}

// AgentConnect runs Connect Claude and Connect OpenAI (oauthconnect.Service).
type AgentConnect interface {
	Start(ctx context.Context, r oauthconnect.Request) (string, error)
	Finish(ctx context.Context, r oauthconnect.Request, pasted string) (credstore.Credential, error)
}

// Accounts change members, invitations, personal tokens and the GitHub
// link (identity.Service).
type Accounts interface {
	Invite(ctx context.Context, by identity.Principal, email, name string, role identity.Role) (identity.Invitation, error)
	SetRole(ctx context.Context, by identity.Principal, userID string, role identity.Role) (identity.Member, error)
	RemoveMember(ctx context.Context, by identity.Principal, userID string) error
	RevokeInvitation(ctx context.Context, by identity.Principal, id string) error
	IssueOwnToken(ctx context.Context, by identity.Principal, org string) (string, identity.TokenInfo, error)
	RevokeOwnToken(ctx context.Context, by identity.Principal, tokenID string) error
	UnlinkOwnGitHub(ctx context.Context, by identity.Principal) error
}

// Deliveries are the webhook deliveries and their replay (intake.Service).
type Deliveries interface {
	List(ctx context.Context, orgID string, limit int) ([]intake.Record, error)
	Get(ctx context.Context, id string) (intake.Record, error)
	Replay(ctx context.Context, orgID, id string) error
}

// LinearTeams maps an org's Linear teams to repositories (linear.App).
type LinearTeams interface {
	MapTeam(ctx context.Context, orgID, team, repo string) error
}

func (s *Server) settingsRoutes() {
	if s.Credentials != nil {
		s.agentRoutes()
		if s.Settings != nil {
			s.userRoutes()
		}
	}
	if s.Accounts != nil && s.Settings != nil {
		s.memberRoutes()
	}
	if s.Settings != nil {
		s.handle("GET /settings/integrations", Admin, s.integrationsPage)
		if s.LinearTeams != nil {
			s.handle("POST /settings/integrations/linear/teams", Admin, s.mapTeam)
		}
	}
	if s.Deliveries != nil {
		s.handle("GET /deliveries", Admin, s.deliveriesPage)
		s.handle("GET /deliveries/{id}", Admin, s.deliveryPage)
		s.handle("POST /deliveries/{id}/replay", Admin, s.replayDelivery)
	}
}

var methodWords = map[credstore.Method]string{credstore.MethodOAuth: "OAuth", credstore.MethodAPIKey: "API key", credstore.MethodBedrock: "Bedrock"}

// ChainWords says the caller's chain for one agent in plain words, e.g.
// "Claude for you: your OAuth → org API key → org Bedrock"; unusable
// credentials are named after it as skipped.
func ChainWords(res credstore.Resolution) string { return chainWords(res, "you", "your") }

// chainWords says a chain for whom, naming personal credentials with
// possessive ("your", "their").
func chainWords(res credstore.Resolution, whom, possessive string) string {
	link := func(l credstore.ChainLink) string {
		owner := "org"
		if l.Scope == credstore.ScopeUser {
			owner = possessive
		}
		return owner + " " + methodWords[l.Method]
	}
	var b strings.Builder
	b.WriteString(res.Agent.DisplayName() + " for " + whom + ": ")
	if len(res.Chain) == 0 {
		b.WriteString("not configured")
	}
	for i, l := range res.Chain {
		if i > 0 {
			b.WriteString(" → ")
		}
		b.WriteString(link(l))
	}
	if len(res.Skipped) > 0 {
		parts := make([]string, len(res.Skipped))
		for i, l := range res.Skipped {
			parts[i] = link(l)
		}
		b.WriteString(" (skipped, unusable: " + strings.Join(parts, ", ") + ")")
	}
	return b.String()
}

// chainLines are the caller's chains in plain words, for the layout of every
// page: one line per agent, then which agent a workspace would run. A page
// whose chain cannot be read still renders (without it).
func (s *Server) chainLines(ctx context.Context, pr identity.Principal) []string {
	if s.Credentials == nil || pr.UserID == "" || pr.OrgID == "" {
		return nil
	}
	st, err := s.Credentials.Settings(ctx, pr.OrgID, pr.UserID, pr.IsAdmin())
	if err != nil {
		s.Logger.Warn("credential chain for the page", "err", err)
		return nil
	}
	return chainSummary(st)
}

func chainSummary(st credstore.Settings) []string {
	var out []string
	for _, res := range st.Chains {
		out = append(out, ChainWords(res))
	}
	if st.Chosen == "" {
		out = append(out, "No coding agent is configured: at least one must be before workspaces can be created.")
	} else {
		out = append(out, "Your workspaces run "+st.Chosen.DisplayName()+".")
	}
	return out
}
