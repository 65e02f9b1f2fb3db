// GitHub org connect and account links: the connect URL, GitHub's setup
// redirect, disconnecting an installation, manual relinking (OAuth with
// PKCE), the caller's identities, and admin links by login.

package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/github"
)

// GitHubConnect runs the GitHub connect and relink flows (github.App).
type GitHubConnect interface {
	ConnectURL(ctx context.Context, orgID, adminID string) (string, error)
	Setup(ctx context.Context, r github.SetupRequest) (github.SetupResult, error)
	Disconnect(ctx context.Context, orgID, adminID string, installationID int64) error
	RelinkURL(ctx context.Context, orgID, userID string) (string, error)
	Callback(ctx context.Context, state, code string) (identity.GitHubLink, error)
	LinkMember(ctx context.Context, r github.MemberLink) (identity.GitHubLink, error)
}

func (s *Server) githubIdentityRoutes(r *gin.Engine, user *gin.RouterGroup) {
	r.GET("/github/setup", s.h(s.githubSetup))
	r.GET("/oauth/github/callback", s.h(s.githubCallback))
	user.POST("/orgs/:org/integrations/github/connect", s.h(s.githubConnect))
	user.DELETE("/orgs/:org/integrations/github/installations/:id", s.h(s.githubDisconnect))
	user.GET("/me/identities", s.h(s.myIdentities))
	user.POST("/me/identities/github/link", s.h(s.githubRelink))
	user.DELETE("/me/identities/github", s.h(s.unlinkMine))
	user.PUT("/orgs/:org/members/:user/identities/github", s.h(s.adminLink))
	user.DELETE("/orgs/:org/members/:user/identities/github", s.h(s.adminUnlink))
}

func (s *Server) githubConnect(c *gin.Context) error {
	p, err := orgCaller(c, true)
	if err != nil {
		return err
	}
	if !p.IsUser() {
		return identity.ErrNoUser // the proof of an install or connect is a person's
	}
	url, err := s.Connect.ConnectURL(c.Request.Context(), p.OrgID, p.UserID)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"url": url})
	return nil
}

func (s *Server) githubSetup(c *gin.Context) error {
	id, err := strconv.ParseInt(queryParam(c, "installation_id"), 10, 64)
	if err != nil {
		return errs.Invalid("installation_id must be a number")
	}
	if a := queryParam(c, "setup_action"); a != "install" && a != "update" {
		return errs.Invalid("setup_action must be install or update")
	}
	res, err := s.Connect.Setup(c.Request.Context(), github.SetupRequest{InstallationID: id, Action: queryParam(c, "setup_action"), State: queryParam(c, "state"), Code: queryParam(c, "code")})
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, res)
	return nil
}

func (s *Server) githubDisconnect(c *gin.Context) error {
	p, err := orgCaller(c, true)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return errs.Invalid("the installation id must be a number")
	}
	if err := s.Connect.Disconnect(c.Request.Context(), p.OrgID, p.Actor(), id); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

func (s *Server) githubRelink(c *gin.Context) error {
	p := principal(c)
	url, err := s.Connect.RelinkURL(c.Request.Context(), p.OrgID, p.UserID)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"url": url})
	return nil
}

func (s *Server) githubCallback(c *gin.Context) error {
	link, err := s.Connect.Callback(c.Request.Context(), queryParam(c, "state"), queryParam(c, "code"))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, identityView(link))
	return nil
}

func identityView(l identity.GitHubLink) gin.H {
	return gin.H{"provider": "github", "login": l.Login, "github_id": l.GitHubID, "linked_via": l.LinkedVia, "linked_at": l.LinkedAt}
}

func (s *Server) myIdentities(c *gin.Context) error {
	l, err := s.Identity.GitHubLinkOf(c.Request.Context(), principal(c).UserID)
	list := []gin.H{}
	switch {
	case err == nil:
		list = append(list, identityView(l))
	case !errors.Is(err, identity.ErrNotFound):
		return err
	}
	c.JSON(http.StatusOK, gin.H{"identities": list})
	return nil
}

func (s *Server) unlinkMine(c *gin.Context) error {
	if err := s.Identity.UnlinkOwnGitHub(c.Request.Context(), principal(c)); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

func (s *Server) adminLink(c *gin.Context) error {
	p, err := orgCaller(c, true)
	if err != nil {
		return err
	}
	var req struct {
		Login    string `json:"login"`
		GitHubID int64  `json:"github_id"`
	}
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if req.Login == "" {
		return errs.Invalid("login is required")
	}
	link, err := s.Connect.LinkMember(c.Request.Context(), github.MemberLink{OrgID: p.OrgID, ActorID: p.Actor(), UserID: c.Param("user"),
		Login: req.Login, GitHubID: req.GitHubID})
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, identityView(link))
	return nil
}

func (s *Server) adminUnlink(c *gin.Context) error {
	p, err := orgCaller(c, true)
	if err != nil {
		return err
	}
	if err := s.Identity.UnlinkMemberGitHub(c.Request.Context(), p, c.Param("user")); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}
