// User settings: personal credentials (settings_agents.go holds their
// forms), the preferred agent, the GitHub account, personal API tokens, and
// the orgs the user belongs to.

package web

import (
	"github.com/tryreplicas/gateway/credstore"
	"github.com/tryreplicas/gateway/identity"
)

func (s *Server) userRoutes() {
	s.handle("GET /settings/user", Member, s.userPage)
	s.handle("POST /settings/user/preference", Member, s.setPreference)
	if s.Accounts != nil {
		s.handle("POST /settings/user/github/unlink", Member, s.unlinkGitHub)
		s.handle("POST /settings/user/tokens", Member, s.createToken)
		s.handle("POST /settings/user/tokens/{id}/revoke", Member, s.revokeToken)
		s.handle("POST /settings/user/orgs/{org}/leave", SignedIn, s.leaveOrg)
	}
}

type userView struct {
	Creds      credentialsView
	Preference credstore.Agent
	Chosen     credstore.Agent
	Accounts   bool
	GitHub     *identity.GitHubLink
	CanRelink  bool
	Tokens     []identity.TokenInfo
	OrgNames   map[string]string
}

func (s *Server) userPage(p *Page) error {
	u, err := s.Settings.User(p.R.Context(), p.Principal)
	if err != nil {
		return err
	}
	st := u.Credentials
	v := userView{Creds: credentialCards(p, userCreds, st, st.Mine, true, s.Connect != nil), Preference: st.Preference, Chosen: st.Chosen,
		CanRelink: s.GitHub != nil, Accounts: s.Accounts != nil, OrgNames: map[string]string{}}
	if s.Accounts != nil {
		v.GitHub, v.Tokens = u.GitHub, u.Tokens
		for _, o := range u.Orgs {
			v.OrgNames[o.ID] = o.Name
		}
	}
	return p.Render("settings_user", "User settings", v)
}

func (s *Server) setPreference(p *Page) error {
	agent := credstore.Agent(p.Form("agent"))
	if err := s.Credentials.SetPreference(p.R.Context(), userCreds.owner(p), agent, s.change(p)); err != nil {
		return err
	}
	return p.RedirectFlash("/settings/user", "Saved your preferred agent.")
}

func (s *Server) unlinkGitHub(p *Page) error {
	if err := s.Accounts.UnlinkOwnGitHub(p.R.Context(), p.Principal); err != nil {
		return err
	}
	return p.RedirectFlash("/settings/user", "Your GitHub account is no longer linked. Mentions from it will not launch workspaces for you.")
}

type tokenView struct {
	Token string
	Org   string
}

// createToken issues a personal API token for the current org and shows it
// this once.
func (s *Server) createToken(p *Page) error {
	token, info, err := s.Accounts.IssueOwnToken(p.R.Context(), p.Principal, p.Principal.OrgID)
	if err != nil {
		return err
	}
	return p.Render("settings_token", "New API token", tokenView{Token: token, Org: info.OrgID})
}

func (s *Server) revokeToken(p *Page) error {
	if err := s.Accounts.RevokeOwnToken(p.R.Context(), p.Principal, p.R.PathValue("id")); err != nil {
		return err
	}
	return p.RedirectFlash("/settings/user", "The API token is revoked.")
}

// leaveOrg ends the caller's own membership of an org (any of theirs, not
// only the current one).
func (s *Server) leaveOrg(p *Page) error {
	by := identity.Principal{UserID: p.Principal.UserID, Email: p.Principal.Email, OrgID: p.R.PathValue("org")}
	if err := s.Accounts.RemoveMember(p.R.Context(), by, p.Principal.UserID); err != nil {
		return err
	}
	return p.RedirectFlash("/settings/user", "You left the organization.")
}
