// Signing in and out, the operator's login link, invitations, switching the
// org, and the OAuth flows that start and end in the browser: GitHub
// sign-in, relink (with its confirmation) and org connect; Linear sign-in
// and connect. Every flow's state is bound to the session that starts it.

package web

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/github"
)

func (s *Server) authRoutes() {
	s.handle("GET /login", Public, s.loginPage)
	s.handle("POST /logout", Public, s.logout)
	s.handle("GET /login/link/{token}", Public, s.loginLinkPage)
	s.handle("POST /login/link/{token}", Public, s.loginLinkRedeem)
	s.handle("POST /session/org", SignedIn, s.switchOrg)
	s.handle("GET /invitations/{token}", Public, s.invitationPage)
	s.handle("POST /invitations/{token}", SignedIn, s.acceptInvitation)
	if s.GitHub != nil {
		s.handle("POST /login/github", Public, s.githubSignIn)
		s.handle("GET /oauth/github/callback", Public, s.githubCallback)
		s.handle("POST /settings/user/github/relink", SignedIn, s.githubRelink)
		s.handle("POST /settings/user/github/confirm", SignedIn, s.githubConfirm)
		s.handle("POST /settings/integrations/github/connect", Admin, s.githubConnect)
		s.handle("GET /github/setup", Public, s.githubSetup)
	}
	if s.Linear != nil {
		s.handle("POST /login/linear", Public, s.linearSignIn)
		s.handle("GET /oauth/linear/callback", Public, s.linearCallback)
		s.handle("POST /settings/integrations/linear/connect", Admin, s.linearConnect)
	}
}

type loginView struct {
	Next   string
	GitHub bool
	Linear bool
}

func (s *Server) loginPage(p *Page) error {
	next := SafeNext(p.R.URL.Query().Get("next"), "/workspaces")
	if p.SignedIn() {
		return p.Redirect(next)
	}
	return p.Render("login", "Sign in", loginView{Next: next, GitHub: s.GitHub != nil, Linear: s.Linear != nil})
}

func (s *Server) logout(p *Page) error {
	if err := s.Identity.EndSession(p.R.Context(), p.Session); err != nil {
		return err
	}
	http.SetCookie(p.W, &http.Cookie{Name: sessionCookie, Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure})
	return p.RedirectFlash("/login", "You are signed out.")
}

// rememberNext keeps where to go after an OAuth sign-in, in a short-lived
// cookie of this browser.
func (s *Server) rememberNext(p *Page, next string) {
	http.SetCookie(p.W, &http.Cookie{Name: nextCookie, Value: url.QueryEscape(SafeNext(next, "/workspaces")), Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: s.secure, MaxAge: 1800})
}

// recalledNext is the remembered place (checked again), and forgets it.
func (s *Server) recalledNext(p *Page) string {
	c, err := p.R.Cookie(nextCookie)
	if err != nil {
		return "/workspaces"
	}
	http.SetCookie(p.W, &http.Cookie{Name: nextCookie, Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure})
	v, _ := url.QueryUnescape(c.Value)
	return SafeNext(v, "/workspaces")
}

type linkView struct{ Token string }

// loginLinkPage asks before using the single-use link, so a link preview
// (a chat client fetching the URL) does not spend it.
func (s *Server) loginLinkPage(p *Page) error {
	return p.Render("loginlink", "Sign in with your link", linkView{Token: p.R.PathValue("token")})
}

func (s *Server) loginLinkRedeem(p *Page) error {
	token, sess, err := s.Identity.SignInWithLoginLink(p.R.Context(), p.R.PathValue("token"), p.Session.ID)
	if err != nil {
		return err
	}
	if err := p.SignedInAs(token, sess); err != nil {
		return err
	}
	return p.RedirectFlash("/workspaces", "You are signed in as "+p.Principal.Email+".")
}

func (s *Server) switchOrg(p *Page) error {
	org, err := s.Identity.SwitchOrg(p.R.Context(), p.Session, p.Form("org"))
	if err != nil {
		return err
	}
	return p.RedirectFlash(SafeNext(p.Form("next"), "/workspaces"), "Now showing "+org.Name+".")
}

type invitationView struct {
	Token      string
	Invitation identity.Invitation
	Org        identity.Org
	Next       string
	GitHub     bool
	Linear     bool
}

func (s *Server) invitationPage(p *Page) error {
	token := p.R.PathValue("token")
	inv, org, err := s.Identity.InvitationByToken(p.R.Context(), token)
	if err != nil {
		return err
	}
	return p.Render("invitation", "Join "+org.Name, invitationView{Token: token, Invitation: inv, Org: org,
		Next: "/invitations/" + url.PathEscape(token), GitHub: s.GitHub != nil, Linear: s.Linear != nil})
}

func (s *Server) acceptInvitation(p *Page) error {
	acc, err := s.Identity.AcceptInvitationInSession(p.R.Context(), p.Session, p.R.PathValue("token"))
	if err != nil {
		return err
	}
	return p.RedirectFlash("/workspaces", "You joined the organization as "+string(acc.Role)+".")
}

// githubSignIn starts "Sign in with GitHub"; from an invitation page the
// form carries the invitation's token, which the sign-in then completes.
func (s *Server) githubSignIn(p *Page) error {
	ref := ""
	if inv := p.Form("invitation"); inv != "" {
		ref = identity.InvitationRef(inv)
	}
	u, err := s.GitHub.SignInURL(p.R.Context(), p.Session.ID, ref)
	if err != nil {
		return err
	}
	s.rememberNext(p, p.Form("next"))
	return p.RedirectAway(u)
}

// oauthDenied is the provider's redirect without a code (the person said no).
func oauthDenied(p *Page) error {
	if e := p.R.URL.Query().Get("error"); e != "" {
		return errs.New(errs.ErrInvalid, "oauth_denied", "The sign-in was cancelled or refused (%s). Nothing changed.", truncate(e, 60))
	}
	return nil
}

type relinkView struct {
	Pending *github.RelinkPending
}

func (s *Server) githubCallback(p *Page) error {
	if err := oauthDenied(p); err != nil {
		return err
	}
	q := p.R.URL.Query()
	res, err := s.GitHub.Callback(p.R.Context(), q.Get("state"), q.Get("code"), p.Session.ID)
	if err != nil {
		return err
	}
	if res.SignedIn != nil {
		if err := p.SignedInAs(res.SignedIn.Cookie, res.SignedIn.Session); err != nil {
			return err
		}
		msg := "You are signed in with GitHub as @" + res.SignedIn.Login + "."
		if res.SignedIn.Joined != nil {
			msg += " You joined the organization as " + string(res.SignedIn.Joined.Role) + "."
		}
		return p.RedirectFlash(s.recalledNext(p), msg)
	}
	return p.Render("relink", "Link GitHub account @"+res.Relink.Login+" to you?", relinkView{Pending: res.Relink})
}

func (s *Server) githubRelink(p *Page) error {
	u, err := s.GitHub.RelinkURL(p.R.Context(), p.Principal.OrgID, p.Principal.UserID, p.Session.ID)
	if err != nil {
		return err
	}
	return p.RedirectAway(u)
}

func (s *Server) githubConfirm(p *Page) error {
	link, err := s.GitHub.ConfirmRelink(p.R.Context(), p.Form("confirm"), p.Session.ID, p.Principal.UserID)
	if err != nil {
		return err
	}
	return p.RedirectFlash("/settings/user", "GitHub account @"+link.Login+" is now linked to you.")
}

func (s *Server) githubConnect(p *Page) error {
	u, err := s.GitHub.ConnectURL(p.R.Context(), p.Principal.OrgID, p.Principal.UserID, p.Session.ID)
	if err != nil {
		return err
	}
	return p.RedirectAway(u)
}

type messageView struct {
	Text string
	Link string
	Back string
}

func (s *Server) githubSetup(p *Page) error {
	q := p.R.URL.Query()
	id, err := strconv.ParseInt(q.Get("installation_id"), 10, 64)
	if err != nil {
		return errs.Invalid("installation_id must be a number")
	}
	if a := q.Get("setup_action"); a != "install" && a != "update" {
		return errs.Invalid("setup_action must be install or update")
	}
	res, err := s.GitHub.Setup(p.R.Context(), github.SetupRequest{InstallationID: id, Action: q.Get("setup_action"), State: q.Get("state"),
		Code: q.Get("code"), SessionID: p.Session.ID})
	if err != nil {
		return err
	}
	title := "GitHub installation"
	switch {
	case res.Bound:
		title = "GitHub connected"
	case res.Pending:
		title = "GitHub connection pending"
	}
	return p.Render("message", title, messageView{Text: res.Message, Link: "/settings/integrations", Back: "Integrations settings"})
}

func (s *Server) linearSignIn(p *Page) error {
	u, err := s.Linear.SignInURL(p.R.Context(), p.Session.ID)
	if err != nil {
		return err
	}
	s.rememberNext(p, p.Form("next"))
	return p.RedirectAway(u)
}

func (s *Server) linearConnect(p *Page) error {
	u, err := s.Linear.ConnectURL(p.R.Context(), p.Principal.OrgID, p.Principal.UserID, p.Session.ID)
	if err != nil {
		return err
	}
	return p.RedirectAway(u)
}

func (s *Server) linearCallback(p *Page) error {
	if err := oauthDenied(p); err != nil {
		return err
	}
	q := p.R.URL.Query()
	res, err := s.Linear.BrowserCallback(p.R.Context(), q.Get("state"), q.Get("code"), p.Session.ID)
	if err != nil {
		return err
	}
	if res.SignedIn != nil {
		if err := p.SignedInAs(res.SignedIn.Cookie, res.SignedIn.Session); err != nil {
			return err
		}
		return p.RedirectFlash(s.recalledNext(p), "You are signed in with Linear as "+res.SignedIn.Email+".")
	}
	return p.Render("message", "Linear connected", messageView{Text: "Linear organization " + res.Connection.OrganizationID + " is connected.",
		Link: "/settings/integrations", Back: "Integrations settings"})
}
