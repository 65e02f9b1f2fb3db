// GitHub installations and account links: disconnecting an installation,
// the caller's identities, unlinking, and admin links by login. The OAuth
// flows (org connect, relink, sign-in) start and end in the browser pages,
// bound to the browser session: a bearer token cannot start them.

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

// GitHubConnect manages installations and admin links (github.App).
type GitHubConnect interface {
	Disconnect(ctx context.Context, orgID, adminID string, installationID int64) error
	LinkMember(ctx context.Context, r github.MemberLink) (identity.GitHubLink, error)
}

func (s *Server) githubIdentityRoutes(r *gin.Engine, user *gin.RouterGroup) {
	user.DELETE("/orgs/:org/integrations/github/installations/:id", s.h(s.githubDisconnect))
	user.GET("/me/identities", s.h(s.myIdentities))
	user.DELETE("/me/identities/github", s.h(s.unlinkMine))
	user.PUT("/orgs/:org/members/:user/identities/github", s.h(s.adminLink))
	user.DELETE("/orgs/:org/members/:user/identities/github", s.h(s.adminUnlink))
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
