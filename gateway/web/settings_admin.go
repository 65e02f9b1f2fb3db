// The admin pages: members and invitations, integrations (GitHub and
// Linear), deliveries with replay, and the audit log.

package web

import (
	"errors"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/github"
	"github.com/tryreplicas/gateway/integrations/intake"
	"github.com/tryreplicas/gateway/integrations/linear"
)

func (s *Server) memberRoutes() {
	s.handle("GET /settings/members", Admin, s.membersPage)
	s.handle("POST /settings/members/invite", Admin, s.invite)
	s.handle("POST /settings/members/{user}/role", Admin, s.setRole)
	s.handle("POST /settings/members/{user}/remove", Admin, s.removeMember)
	s.handle("POST /settings/members/invitations/{id}/revoke", Admin, s.revokeInvitation)
	s.handle("GET /audit", Admin, s.auditPage)
}

type memberRow struct {
	identity.Member
	Chain string
}

type membersView struct {
	Members     []memberRow
	Invitations []identity.Invitation
	Me          string
}

func (s *Server) membersPage(p *Page) error {
	v, err := s.Settings.Members(p.R.Context(), p.Principal)
	if err != nil {
		return err
	}
	rows := make([]memberRow, len(v.Members))
	for i, m := range v.Members {
		rows[i] = memberRow{Member: m.Member}
		switch {
		case s.Credentials == nil:
		case m.Chain == nil:
			rows[i].Chain = "No coding agent configured for them."
		case m.ID == p.Principal.UserID:
			rows[i].Chain = ChainWords(*m.Chain)
		default:
			rows[i].Chain = chainWords(*m.Chain, "them", "their")
		}
	}
	return p.Render("settings_members", "Members", membersView{Members: rows, Invitations: v.Invitations, Me: p.Principal.UserID})
}

type invitedView struct {
	Invitation identity.Invitation
	URL        string
}

// invite creates an invitation and shows its single-use link to hand over.
func (s *Server) invite(p *Page) error {
	inv, err := s.Accounts.Invite(p.R.Context(), p.Principal, p.Form("email"), p.Form("name"), identity.Role(p.Form("role")))
	if err != nil {
		return err
	}
	return p.Render("settings_invited", "Invitation created", invitedView{Invitation: inv, URL: s.PublicURL + "/invitations/" + inv.Token})
}

func (s *Server) setRole(p *Page) error {
	m, err := s.Accounts.SetRole(p.R.Context(), p.Principal, p.R.PathValue("user"), identity.Role(p.Form("role")))
	if err != nil {
		return err
	}
	return p.RedirectFlash("/settings/members", m.Email+" is now "+string(m.Role)+".")
}

func (s *Server) removeMember(p *Page) error {
	if err := s.Accounts.RemoveMember(p.R.Context(), p.Principal, p.R.PathValue("user")); err != nil {
		return err
	}
	return p.RedirectFlash("/settings/members", "The member was removed; their API tokens of this organization are revoked.")
}

func (s *Server) revokeInvitation(p *Page) error {
	if err := s.Accounts.RevokeInvitation(p.R.Context(), p.Principal, p.R.PathValue("id")); err != nil {
		return err
	}
	return p.RedirectFlash("/settings/members", "The invitation was withdrawn.")
}

type integrationsView struct {
	GitHub        github.OrgStatus
	CanGitHub     bool
	Linear        *linear.Connection
	CanLinear     bool
	Teams         []linear.TeamMapping
	LinearMapping bool
}

func (s *Server) integrationsPage(p *Page) error {
	in, err := s.Settings.Integrations(p.R.Context(), p.Principal)
	if err != nil {
		return err
	}
	return p.Render("settings_integrations", "Integrations", integrationsView{GitHub: in.GitHub, CanGitHub: s.GitHub != nil, Linear: in.Linear,
		CanLinear: s.Linear != nil, Teams: in.Teams, LinearMapping: s.LinearTeams != nil})
}

func (s *Server) mapTeam(p *Page) error {
	team, repo := p.Form("team"), p.Form("repository")
	if team == "" || repo == "" {
		return errs.Invalid("name a Linear team (key or id) and a repository (owner/name)")
	}
	if err := s.LinearTeams.MapTeam(p.R.Context(), p.Principal.OrgID, team, repo); err != nil {
		return err
	}
	return p.RedirectFlash("/settings/integrations", "Issues of team "+team+" now use "+repo+".")
}

func (s *Server) deliveriesPage(p *Page) error {
	list, err := s.Deliveries.List(p.R.Context(), p.Principal.OrgID, 100)
	if err != nil {
		return err
	}
	return p.Render("deliveries", "Deliveries", list)
}

var errDeliveryNotFound = errs.New(errs.ErrNotFound, "not_found", "There is no such delivery in this organization.")

// delivery is a delivery of the caller's org; any other is not found.
func (s *Server) delivery(p *Page) (intake.Record, error) {
	d, err := s.Deliveries.Get(p.R.Context(), p.R.PathValue("id"))
	if errors.Is(err, errs.ErrNotFound) || err == nil && d.OrgID != p.Principal.OrgID {
		return intake.Record{}, errDeliveryNotFound
	}
	return d, err
}

func (s *Server) deliveryPage(p *Page) error {
	d, err := s.delivery(p)
	if err != nil {
		return err
	}
	return p.Render("delivery", "Delivery "+d.DeliveryID, d)
}

// replayDelivery processes a delivery again and leads to its page, where
// the outcome shows once it is processed.
func (s *Server) replayDelivery(p *Page) error {
	d, err := s.delivery(p)
	if err != nil {
		return err
	}
	if err := s.Deliveries.Replay(p.R.Context(), p.Principal.OrgID, d.ID); err != nil {
		return err
	}
	return p.RedirectFlash("/deliveries/"+d.ID, "Replaying the delivery; its new outcome shows here once it is processed (reload).")
}

// auditPage lists the org's newest audit entries, members named by email.
func (s *Server) auditPage(p *Page) error {
	rows, err := s.Settings.Audit(p.R.Context(), p.Principal, 200)
	if err != nil {
		return err
	}
	return p.Render("audit", "Audit log", rows)
}
