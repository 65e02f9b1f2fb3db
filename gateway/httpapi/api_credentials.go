// Management API for agent credentials, agent preferences and the resolved
// chain. Answers never contain a secret: only a 4-character hint.

package httpapi

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/tryreplicas/gateway/credstore"
)

// CredentialService is what the credential endpoints need (credstore.Service).
type CredentialService interface {
	Put(ctx context.Context, o credstore.Owner, agent credstore.Agent, method credstore.Method, in credstore.Secret, by credstore.Change) (credstore.Credential, error)
	Find(ctx context.Context, o credstore.Owner, agent credstore.Agent, method credstore.Method) (credstore.Credential, error)
	List(ctx context.Context, o credstore.Owner) ([]credstore.Credential, error)
	Delete(ctx context.Context, o credstore.Owner, agent credstore.Agent, method credstore.Method, by credstore.Change) error
	ResolveMember(ctx context.Context, orgID, userID, callerID string, agent credstore.Agent) (credstore.Resolution, error)
	SetPreference(ctx context.Context, o credstore.Owner, agent credstore.Agent, by credstore.Change) error
}

func (s *Server) credentialRoutes(r *gin.RouterGroup) {
	org := r.Group("/orgs/:org")
	org.GET("/credentials", s.h(s.orgCredentials(s.listCredentials)))
	org.GET("/credentials/resolve", s.h(s.resolveChain))
	org.PUT("/credentials/:agent/:method", s.h(s.orgCredentials(s.putCredential)))
	org.GET("/credentials/:agent/:method", s.h(s.orgCredentials(s.getCredential)))
	org.DELETE("/credentials/:agent/:method", s.h(s.orgCredentials(s.deleteCredential)))
	org.PUT("/preferences", s.h(s.setOrgPreference))

	me := r.Group("/me")
	me.GET("/credentials", s.h(s.myCredentials(s.listCredentials)))
	me.PUT("/credentials/:agent/:method", s.h(s.myCredentials(s.putCredential)))
	me.GET("/credentials/:agent/:method", s.h(s.myCredentials(s.getCredential)))
	me.DELETE("/credentials/:agent/:method", s.h(s.myCredentials(s.deleteCredential)))
	me.PUT("/preferences", s.h(s.setMyPreference))
}

// credHandler serves one owner's credentials.
type credHandler func(c *gin.Context, owner credstore.Owner, by credstore.Change) error

// orgCredentials: org-scope credentials are for the org's admins only.
func (s *Server) orgCredentials(h credHandler) func(*gin.Context) error {
	return func(c *gin.Context) error {
		p, err := orgCaller(c, true)
		if err != nil {
			return err
		}
		return h(c, credstore.Owner{Scope: credstore.ScopeOrg, ID: p.OrgID}, credstore.Change{ActorID: p.Actor(), OrgID: p.OrgID})
	}
}

// myCredentials: personal credentials belong to the caller alone.
func (s *Server) myCredentials(h credHandler) func(*gin.Context) error {
	return func(c *gin.Context) error {
		p := principal(c)
		return h(c, credstore.Owner{Scope: credstore.ScopeUser, ID: p.UserID}, credstore.Change{ActorID: p.Actor(), OrgID: p.OrgID})
	}
}

func (s *Server) listCredentials(c *gin.Context, owner credstore.Owner, _ credstore.Change) error {
	cs, err := s.Credentials.List(c.Request.Context(), owner)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"credentials": nonNil(cs)})
	return nil
}

func (s *Server) putCredential(c *gin.Context, owner credstore.Owner, by credstore.Change) error {
	var in credstore.Secret
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	cred, err := s.Credentials.Put(c.Request.Context(), owner, credstore.Agent(c.Param("agent")), credstore.Method(c.Param("method")), in, by)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, cred)
	return nil
}

func (s *Server) getCredential(c *gin.Context, owner credstore.Owner, _ credstore.Change) error {
	cred, err := s.Credentials.Find(c.Request.Context(), owner, credstore.Agent(c.Param("agent")), credstore.Method(c.Param("method")))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, cred)
	return nil
}

func (s *Server) deleteCredential(c *gin.Context, owner credstore.Owner, by credstore.Change) error {
	if err := s.Credentials.Delete(c.Request.Context(), owner, credstore.Agent(c.Param("agent")), credstore.Method(c.Param("method")), by); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

type preferenceRequest struct {
	Agent        credstore.Agent `json:"agent"`
	DefaultAgent credstore.Agent `json:"default_agent"`
}

func (s *Server) setMyPreference(c *gin.Context) error {
	p := principal(c)
	var req preferenceRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	return s.setPreference(c, credstore.Owner{Scope: credstore.ScopeUser, ID: p.UserID}, req.Agent, credstore.Change{ActorID: p.Actor(), OrgID: p.OrgID}, "agent")
}

func (s *Server) setOrgPreference(c *gin.Context) error {
	p, err := orgCaller(c, true)
	if err != nil {
		return err
	}
	var req preferenceRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	return s.setPreference(c, credstore.Owner{Scope: credstore.ScopeOrg, ID: p.OrgID}, req.DefaultAgent, credstore.Change{ActorID: p.Actor(), OrgID: p.OrgID}, "default_agent")
}

func (s *Server) setPreference(c *gin.Context, owner credstore.Owner, agent credstore.Agent, by credstore.Change, field string) error {
	if err := s.Credentials.SetPreference(c.Request.Context(), owner, agent, by); err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{field: agent})
	return nil
}

// resolveChain shows the chain a workspace of ?user= would get: to admins for
// any member, and to a member for themself.
func (s *Server) resolveChain(c *gin.Context) error {
	p, err := orgCaller(c, false)
	if err != nil {
		return err
	}
	userID := c.DefaultQuery("user", p.UserID)
	if userID != p.UserID && !p.IsAdmin() {
		return errAdminOnly
	}
	res, err := s.Credentials.ResolveMember(c.Request.Context(), p.OrgID, userID, p.UserID, credstore.Agent(queryParam(c, "agent")))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, res)
	return nil
}
