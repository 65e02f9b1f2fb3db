// The settings pages' views: what each needs, and the four views.

package settingsview

import (
	"context"
	"errors"

	"github.com/tryreplicas/gateway/credstore"
	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/github"
	"github.com/tryreplicas/gateway/integrations/linear"
)

// Credentials are the agent credentials and chains (credstore.Service).
type Credentials interface {
	Settings(ctx context.Context, orgID, userID string, admin bool) (credstore.Settings, error)
	ResolveMembers(ctx context.Context, orgID string, userIDs []string, callerID string) (map[string]credstore.Resolution, error)
}

// Accounts are members, invitations, tokens, the GitHub link, orgs and the
// audit log (identity.Service).
type Accounts interface {
	Members(ctx context.Context, orgID string) ([]identity.Member, error)
	Invitations(ctx context.Context, orgID string) ([]identity.Invitation, error)
	OwnTokens(ctx context.Context, by identity.Principal) ([]identity.TokenInfo, error)
	GitHubLinkOf(ctx context.Context, userID string) (identity.GitHubLink, error)
	OrgsOf(ctx context.Context, userID string) ([]identity.OrgRole, error)
	AuditLog(ctx context.Context, orgID string, limit int) ([]identity.AuditEntry, error)
}

// GitHub is an org's GitHub connection (github.App).
type GitHub interface {
	OrgStatus(ctx context.Context, orgID string) (github.OrgStatus, error)
}

// Linear is an org's Linear connection and team mapping (linear.App).
type Linear interface {
	Connection(ctx context.Context, orgID string) (linear.Connection, error)
	TeamMappings(ctx context.Context, orgID string) ([]linear.TeamMapping, error)
}

// Service builds the views.
type Service struct {
	creds    Credentials
	accounts Accounts
	github   GitHub
	linear   Linear
}

// New returns the service; a nil linear leaves Linear out of the
// integrations view.
func New(c Credentials, a Accounts, gh GitHub, lin Linear) *Service {
	return &Service{creds: c, accounts: a, github: gh, linear: lin}
}

// User is the caller's own settings.
type User struct {
	// Credentials are the caller's and their org's credentials and chains.
	Credentials credstore.Settings
	// GitHub is the caller's linked GitHub account; nil when none is.
	GitHub *identity.GitHubLink
	// Tokens are the caller's personal API tokens.
	Tokens []identity.TokenInfo
	// Orgs are the orgs the caller belongs to.
	Orgs []identity.OrgRole
}

// User is the caller's settings page.
func (s *Service) User(ctx context.Context, by identity.Principal) (User, error) {
	var v User
	var err error
	if v.Credentials, err = s.creds.Settings(ctx, by.OrgID, by.UserID, by.IsAdmin()); err != nil {
		return User{}, err
	}
	link, err := s.accounts.GitHubLinkOf(ctx, by.UserID)
	switch {
	case err == nil:
		v.GitHub = &link
	case !errors.Is(err, identity.ErrNotFound):
		return User{}, err
	}
	if v.Tokens, err = s.accounts.OwnTokens(ctx, by); err != nil {
		return User{}, err
	}
	if v.Orgs, err = s.accounts.OrgsOf(ctx, by.UserID); err != nil {
		return User{}, err
	}
	return v, nil
}

// Member is a member of the org with the chain their workspaces would get.
type Member struct {
	identity.Member
	// Chain is their chosen agent's chain; nil when nothing usable is
	// configured for them.
	Chain *credstore.Resolution
}

// Members is the members page: the members and the pending invitations.
type Members struct {
	Members     []Member
	Invitations []identity.Invitation
}

// Members is the caller's org's members page; only its admins see it.
func (s *Service) Members(ctx context.Context, by identity.Principal) (Members, error) {
	if !by.IsAdmin() {
		return Members{}, identity.ErrAdminOnly
	}
	members, err := s.accounts.Members(ctx, by.OrgID)
	if err != nil {
		return Members{}, err
	}
	invs, err := s.accounts.Invitations(ctx, by.OrgID)
	if err != nil {
		return Members{}, err
	}
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = m.ID
	}
	chains, err := s.creds.ResolveMembers(ctx, by.OrgID, ids, by.UserID)
	if err != nil {
		return Members{}, err
	}
	v := Members{Members: make([]Member, len(members)), Invitations: invs}
	for i, m := range members {
		v.Members[i] = Member{Member: m}
		if res, ok := chains[m.ID]; ok {
			v.Members[i].Chain = &res
		}
	}
	return v, nil
}

// Integrations is the org's GitHub and Linear connections.
type Integrations struct {
	GitHub github.OrgStatus
	// Linear is the Linear connection; nil when there is none.
	Linear *linear.Connection
	// Teams map Linear teams to repositories.
	Teams []linear.TeamMapping
}

// Integrations is the caller's org's integrations page; only its admins see
// it.
func (s *Service) Integrations(ctx context.Context, by identity.Principal) (Integrations, error) {
	if !by.IsAdmin() {
		return Integrations{}, identity.ErrAdminOnly
	}
	var v Integrations
	var err error
	if v.GitHub, err = s.github.OrgStatus(ctx, by.OrgID); err != nil {
		return Integrations{}, err
	}
	if s.linear == nil {
		return v, nil
	}
	conn, err := s.linear.Connection(ctx, by.OrgID)
	switch {
	case err == nil:
		v.Linear = &conn
	case !errors.Is(err, errs.ErrNotFound):
		return Integrations{}, err
	}
	if v.Teams, err = s.linear.TeamMappings(ctx, by.OrgID); err != nil {
		return Integrations{}, err
	}
	return v, nil
}

// AuditEntry is an audit entry with its actor named: a member by email,
// anyone else (such as "system" or an automation token) by id.
type AuditEntry struct {
	identity.AuditEntry
	Actor string
}

// Audit is the newest limit entries of the caller's org's audit log; only
// its admins see it.
func (s *Service) Audit(ctx context.Context, by identity.Principal, limit int) ([]AuditEntry, error) {
	if !by.IsAdmin() {
		return nil, identity.ErrAdminOnly
	}
	entries, err := s.accounts.AuditLog(ctx, by.OrgID, limit)
	if err != nil {
		return nil, err
	}
	members, err := s.accounts.Members(ctx, by.OrgID)
	if err != nil {
		return nil, err
	}
	emails := make(map[string]string, len(members))
	for _, m := range members {
		emails[m.ID] = m.Email
	}
	out := make([]AuditEntry, len(entries))
	for i, e := range entries {
		out[i] = AuditEntry{AuditEntry: e, Actor: e.ActorID}
		if email, ok := emails[e.ActorID]; ok {
			out[i].Actor = email
		}
	}
	return out, nil
}
