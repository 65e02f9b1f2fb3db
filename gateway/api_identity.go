// Management API for the caller, org members and API tokens (SPEC 3.3).
package gateway

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/identity"
)

func (s *Server) identityRoutes(r *gin.RouterGroup) {
	r.GET("/me", s.h(s.getMe))
	r.POST("/orgs/:org/members", s.h(s.addMember))
	r.GET("/orgs/:org/members", s.h(s.listMembers))
	r.POST("/orgs/:org/members/:user/tokens", s.h(s.issueToken))
	r.DELETE("/orgs/:org/tokens/:token", s.h(s.revokeToken))
	r.GET("/orgs/:org/audit", s.h(s.auditLog))
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
	ctx := c.Request.Context()
	u, err := s.Identity.User(ctx, s.DB, p.UserID)
	if err != nil {
		return err
	}
	org, err := s.Identity.Org(ctx, s.DB, p.OrgID)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, meResponse{ID: u.ID, Email: u.Email, Name: u.Name, Org: org, Role: p.Role})
	return nil
}

type addMemberRequest struct {
	Email string        `json:"email"`
	Name  string        `json:"name"`
	Role  identity.Role `json:"role"`
}

func (s *Server) addMember(c *gin.Context) error {
	p, err := orgCaller(c, true)
	if err != nil {
		return err
	}
	var req addMemberRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if req.Role == "" {
		req.Role = identity.RoleMember
	}
	ctx := c.Request.Context()
	var m identity.Member
	err = s.DB.InTx(ctx, func(tx sqldb.Tx) error {
		u, err := s.Identity.EnsureUser(ctx, tx, req.Email, req.Name)
		if err != nil {
			return err
		}
		if err := s.Identity.AddMember(ctx, tx, p.OrgID, u.ID, req.Role); err != nil {
			return err
		}
		if m, err = s.Identity.Member(ctx, tx, p.OrgID, u.ID); err != nil {
			return err
		}
		return s.Identity.Audit(ctx, tx, identity.AuditEntry{OrgID: p.OrgID, ActorID: p.UserID, Action: "member.add", Target: u.ID,
			Detail: map[string]any{"email": u.Email, "role": string(req.Role)}})
	})
	if err != nil {
		return err
	}
	c.JSON(http.StatusCreated, m)
	return nil
}

func (s *Server) listMembers(c *gin.Context) error {
	p, err := orgCaller(c, false)
	if err != nil {
		return err
	}
	ms, err := s.Identity.Members(c.Request.Context(), s.DB, p.OrgID)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"members": nonNil(ms)})
	return nil
}

func (s *Server) issueToken(c *gin.Context) error {
	p, err := orgCaller(c, false)
	if err != nil {
		return err
	}
	userID := c.Param("user")
	if userID != p.UserID && !p.IsAdmin() {
		return errs.Forbidden("only an admin can create tokens for another member")
	}
	ctx := c.Request.Context()
	var token, id string
	err = s.DB.InTx(ctx, func(tx sqldb.Tx) error {
		if _, err := s.Identity.Member(ctx, tx, p.OrgID, userID); err != nil {
			return err
		}
		var err error
		if token, id, err = s.Identity.IssueToken(ctx, tx, p.OrgID, userID, p.UserID); err != nil {
			return err
		}
		return s.Identity.Audit(ctx, tx, identity.AuditEntry{OrgID: p.OrgID, ActorID: p.UserID, Action: "token.issue", Target: userID,
			Detail: map[string]any{"token_id": id}})
	})
	if err != nil {
		return err
	}
	c.JSON(http.StatusCreated, gin.H{"id": id, "token": token})
	return nil
}

func (s *Server) revokeToken(c *gin.Context) error {
	p, err := orgCaller(c, true)
	if err != nil {
		return err
	}
	ctx := c.Request.Context()
	err = s.DB.InTx(ctx, func(tx sqldb.Tx) error {
		if err := s.Identity.RevokeToken(ctx, tx, p.OrgID, c.Param("token")); err != nil {
			return err
		}
		return s.Identity.Audit(ctx, tx, identity.AuditEntry{OrgID: p.OrgID, ActorID: p.UserID, Action: "token.revoke", Target: c.Param("token")})
	})
	if err != nil {
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
	entries, err := s.Identity.AuditLog(c.Request.Context(), s.DB, p.OrgID, 200)
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
