// Management API for the caller, org members, invitations and API tokens.
// Nobody obtains a token that acts as someone else: members join by
// accepting an invitation, and each user creates their own tokens.

package httpapi

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/tryreplicas/gateway/identity"
)

// IdentityService is what authentication and the account endpoints need
// (identity.Service).
type IdentityService interface {
	Authenticate(ctx context.Context, token string) (identity.Principal, error)
	Me(ctx context.Context, p identity.Principal) (identity.User, identity.Org, error)
	IssueOwnToken(ctx context.Context, by identity.Principal, org string) (string, identity.TokenInfo, error)
	OwnTokens(ctx context.Context, by identity.Principal) ([]identity.TokenInfo, error)
	RevokeOwnToken(ctx context.Context, by identity.Principal, tokenID string) error
	Invite(ctx context.Context, by identity.Principal, email, name string, role identity.Role) (identity.Invitation, error)
	Members(ctx context.Context, orgID string) ([]identity.Member, error)
	SetRole(ctx context.Context, by identity.Principal, userID string, role identity.Role) (identity.Member, error)
	RemoveMember(ctx context.Context, by identity.Principal, userID string) error
	Invitations(ctx context.Context, orgID string) ([]identity.Invitation, error)
	RevokeInvitation(ctx context.Context, by identity.Principal, id string) error
	AcceptInvitation(ctx context.Context, caller *identity.Principal, token string) (identity.Acceptance, error)
	RedeemLoginLink(ctx context.Context, token, org string) (identity.Acceptance, error)
	IssueOrgToken(ctx context.Context, by identity.Principal, name string) (string, identity.TokenInfo, error)
	OrgTokens(ctx context.Context, orgID string) ([]identity.TokenInfo, error)
	RevokeOrgToken(ctx context.Context, by identity.Principal, tokenID string) error
	AuditLog(ctx context.Context, orgID string, limit int) ([]identity.AuditEntry, error)
	GitHubLinkOf(ctx context.Context, userID string) (identity.GitHubLink, error)
	UnlinkOwnGitHub(ctx context.Context, by identity.Principal) error
	UnlinkMemberGitHub(ctx context.Context, by identity.Principal, userID string) error
}

func (s *Server) identityRoutes(public, r *gin.RouterGroup) {
	r.GET("/me", s.h(s.getMe))
	r.POST("/me/tokens", s.h(s.issueOwnToken))
	r.GET("/me/tokens", s.h(s.listOwnTokens))
	r.DELETE("/me/tokens/:token", s.h(s.revokeOwnToken))
	r.POST("/orgs/:org/members", s.h(s.inviteMember))
	r.GET("/orgs/:org/members", s.h(s.listMembers))
	r.PATCH("/orgs/:org/members/:user", s.h(s.setRole))
	r.DELETE("/orgs/:org/members/:user", s.h(s.removeMember))
	r.GET("/orgs/:org/invitations", s.h(s.listInvitations))
	r.DELETE("/orgs/:org/invitations/:invitation", s.h(s.revokeInvitation))
	r.POST("/orgs/:org/tokens", s.h(s.issueOrgToken))
	r.GET("/orgs/:org/tokens", s.h(s.listOrgTokens))
	r.DELETE("/orgs/:org/tokens/:token", s.h(s.revokeToken))
	r.GET("/orgs/:org/audit", s.h(s.auditLog))
	public.POST("/invitations/:token/accept", s.h(s.acceptInvitation))
	public.POST("/login-links/:token/redeem", s.h(s.redeemLoginLink))
}

type meResponse struct {
	ID    string        `json:"id"`
	Email string        `json:"email"`
	Name  string        `json:"name"`
	Org   identity.Org  `json:"org"`
	Role  identity.Role `json:"role"`
}

func (s *Server) getMe(c *gin.Context) error {
	p := principal(c)
	u, org, err := s.Identity.Me(c.Request.Context(), p)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, meResponse{ID: u.ID, Email: u.Email, Name: u.Name, Org: org, Role: p.Role})
	return nil
}

type orgRequest struct {
	Org string `json:"org"` // id or slug; empty: the token's org
}

func (s *Server) issueOwnToken(c *gin.Context) error {
	var req orgRequest
	if err := bindOptionalJSON(c, &req); err != nil {
		return err
	}
	token, info, err := s.Identity.IssueOwnToken(c.Request.Context(), principal(c), req.Org)
	if err != nil {
		return err
	}
	c.JSON(http.StatusCreated, gin.H{"id": info.ID, "org_id": info.OrgID, "token": token})
	return nil
}

func (s *Server) listOwnTokens(c *gin.Context) error {
	list, err := s.Identity.OwnTokens(c.Request.Context(), principal(c))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"tokens": nonNil(list)})
	return nil
}

func (s *Server) revokeOwnToken(c *gin.Context) error {
	if err := s.Identity.RevokeOwnToken(c.Request.Context(), principal(c), c.Param("token")); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

type inviteRequest struct {
	Email string        `json:"email"`
	Name  string        `json:"name"`
	Role  identity.Role `json:"role"`
}

type invitationResponse struct {
	identity.Invitation
	URL string `json:"url"`
}

func (s *Server) inviteMember(c *gin.Context) error {
	p, err := orgCaller(c, true)
	if err != nil {
		return err
	}
	var req inviteRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	inv, err := s.Identity.Invite(c.Request.Context(), p, req.Email, req.Name, req.Role)
	if err != nil {
		return err
	}
	c.JSON(http.StatusCreated, invitationResponse{Invitation: inv, URL: s.PublicURL + "/invitations/" + inv.Token})
	return nil
}

func (s *Server) listMembers(c *gin.Context) error {
	p, err := orgCaller(c, false)
	if err != nil {
		return err
	}
	ms, err := s.Identity.Members(c.Request.Context(), p.OrgID)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"members": nonNil(ms)})
	return nil
}

type roleRequest struct {
	Role identity.Role `json:"role"`
}

func (s *Server) setRole(c *gin.Context) error {
	p, err := orgCaller(c, true)
	if err != nil {
		return err
	}
	var req roleRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	m, err := s.Identity.SetRole(c.Request.Context(), p, c.Param("user"), req.Role)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, m)
	return nil
}

func (s *Server) removeMember(c *gin.Context) error {
	p, err := orgCaller(c, false)
	if err != nil {
		return err
	}
	if err := s.Identity.RemoveMember(c.Request.Context(), p, c.Param("user")); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

func (s *Server) listInvitations(c *gin.Context) error {
	p, err := orgCaller(c, true)
	if err != nil {
		return err
	}
	list, err := s.Identity.Invitations(c.Request.Context(), p.OrgID)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"invitations": nonNil(list)})
	return nil
}

func (s *Server) revokeInvitation(c *gin.Context) error {
	p, err := orgCaller(c, true)
	if err != nil {
		return err
	}
	if err := s.Identity.RevokeInvitation(c.Request.Context(), p, c.Param("invitation")); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

// acceptInvitation takes the caller's own API token when there is one;
// without it, the link alone works only for an email of no user yet.
func (s *Server) acceptInvitation(c *gin.Context) error {
	var caller *identity.Principal
	if bearer(c) != "" {
		if err := s.authenticate(c); err != nil {
			return err
		}
		p := principal(c)
		caller = &p
	}
	acc, err := s.Identity.AcceptInvitation(c.Request.Context(), caller, c.Param("token"))
	if err != nil {
		return err
	}
	status := http.StatusOK
	if acc.Token != "" {
		status = http.StatusCreated
	}
	c.JSON(status, acc)
	return nil
}

func (s *Server) redeemLoginLink(c *gin.Context) error {
	var req orgRequest
	if err := bindOptionalJSON(c, &req); err != nil {
		return err
	}
	acc, err := s.Identity.RedeemLoginLink(c.Request.Context(), c.Param("token"), req.Org)
	if err != nil {
		return err
	}
	c.JSON(http.StatusCreated, acc)
	return nil
}

type orgTokenRequest struct {
	Name string `json:"name"`
}

func (s *Server) issueOrgToken(c *gin.Context) error {
	p, err := orgCaller(c, true)
	if err != nil {
		return err
	}
	var req orgTokenRequest
	if err := bindOptionalJSON(c, &req); err != nil {
		return err
	}
	token, info, err := s.Identity.IssueOrgToken(c.Request.Context(), p, req.Name)
	if err != nil {
		return err
	}
	c.JSON(http.StatusCreated, gin.H{"id": info.ID, "name": info.Name, "token": token})
	return nil
}

func (s *Server) listOrgTokens(c *gin.Context) error {
	p, err := orgCaller(c, true)
	if err != nil {
		return err
	}
	list, err := s.Identity.OrgTokens(c.Request.Context(), p.OrgID)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"tokens": nonNil(list)})
	return nil
}

func (s *Server) revokeToken(c *gin.Context) error {
	p, err := orgCaller(c, true)
	if err != nil {
		return err
	}
	if err := s.Identity.RevokeOrgToken(c.Request.Context(), p, c.Param("token")); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

func (s *Server) auditLog(c *gin.Context) error {
	p, err := orgCaller(c, true)
	if err != nil {
		return err
	}
	entries, err := s.Identity.AuditLog(c.Request.Context(), p.OrgID, 200)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"entries": nonNil(entries)})
	return nil
}

// nonNil makes empty lists encode as [] rather than null.
func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}
