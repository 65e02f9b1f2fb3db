// Authentication of management API callers (API tokens) and the org access
// rules: a token acts only within its own org.

package httpapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/identity"
)

var (
	errUnavailable = errs.New(errs.ErrUnavailable, "unavailable", "the database is unavailable; retry later")
	notFoundRoute  = errs.New(errs.ErrNotFound, "not_found", "no such route")
	errAdminOnly   = errs.Forbidden("this needs the admin role in the org")
	errOtherOrg    = errs.Forbidden("this API token belongs to another org")
)

const principalKey = "replicas.principal"

// bearer returns the token of an "Authorization: Bearer …" header.
func bearer(c *gin.Context) string {
	h := c.GetHeader("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// authenticate requires a valid API token and stores its principal.
func (s *Server) authenticate(c *gin.Context) error {
	p, err := s.Identity.Authenticate(c.Request.Context(), bearer(c))
	if err != nil {
		return err
	}
	// Everything under /api/v1/me is personal: an org automation token,
	// which has no user, has no powers there.
	if !p.IsUser() && strings.HasPrefix(c.FullPath(), "/api/v1/me") {
		return identity.ErrNoUser
	}
	c.Set(principalKey, p)
	c.Request = c.Request.WithContext(WithLogger(c.Request.Context(), logger(c).With("user_id", p.UserID, "org_id", p.OrgID)))
	return nil
}

// principal is the authenticated caller.
func principal(c *gin.Context) identity.Principal {
	p, _ := c.Get(principalKey)
	return p.(identity.Principal)
}

// orgCaller checks that the path's {org} is the caller's org (and that the
// caller is an admin when admin is true) and returns the caller.
func orgCaller(c *gin.Context, admin bool) (identity.Principal, error) {
	p := principal(c)
	if c.Param("org") != p.OrgID {
		return p, errOtherOrg
	}
	if admin && !p.IsAdmin() {
		return p, errAdminOnly
	}
	return p, nil
}

// userCaller is the caller when a person is behind it; an org automation
// token cannot act as anybody.
func userCaller(c *gin.Context) (identity.Principal, error) {
	p := principal(c)
	if !p.IsUser() {
		return p, identity.ErrNoUser
	}
	return p, nil
}

// bindOptionalJSON is bindJSON for a body that may be left out.
func bindOptionalJSON(c *gin.Context, v any) error {
	if c.Request.ContentLength == 0 {
		return nil
	}
	return bindJSON(c, v)
}

// bindJSON decodes the body into v, answering 400 on malformed JSON.
func bindJSON(c *gin.Context, v any) error {
	if err := c.ShouldBindJSON(v); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return err
		}
		return errs.Invalid("malformed JSON body: %v", err)
	}
	return nil
}

// queryParam is the first value of a URL query parameter ("" when absent).
func queryParam(c *gin.Context, key string) string {
	v, _ := c.GetQuery(key)
	return v
}
