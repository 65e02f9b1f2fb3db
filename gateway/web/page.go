// The page-handler API: how a page requires a signed-in user or an admin,
// renders a template in the layout, redirects with a flash message, and
// reads the CSRF-checked form.

package web

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// Access is who may open a page.
type Access int

const (
	// Public: anyone, signed in or not.
	Public Access = iota
	// SignedIn: a signed-in user, with or without an org.
	SignedIn
	// Member: a signed-in member of the session's current org.
	Member
	// Admin: an admin of the session's current org.
	Admin
)

// Cookie names.
const (
	sessionCookie = "replicas_session"
	flashCookie   = "replicas_flash"
	nextCookie    = "replicas_next"
)

// formLimit bounds a posted form.
const formLimit = 1 << 20

// Page is one request to a page handler. Session is always set (a browser
// without one gets a fresh signed-out session); Principal is the signed-in
// caller in the session's current org (zero when signed out).
type Page struct {
	W         http.ResponseWriter
	R         *http.Request
	Session   identity.Session
	Principal identity.Principal
	s         *Server
	flash     string
}

// SignedIn reports whether a user is behind the request.
func (p *Page) SignedIn() bool { return p.Principal.UserID != "" }

// CSRF is the session's CSRF token; every form posts it as field "csrf"
// (templates: {{template "csrf" $}}).
func (p *Page) CSRF() string { return p.Session.CSRF }

// Actor is the caller as the launch package sees it.
func (p *Page) Actor() launch.Actor {
	return launch.Actor{OrgID: p.Principal.OrgID, UserID: p.Principal.UserID, Admin: p.Principal.IsAdmin()}
}

// Form is a posted form field (already CSRF-checked), trimmed.
func (p *Page) Form(name string) string { return strings.TrimSpace(p.R.PostFormValue(name)) }

// Render answers 200 with template name (templates/<name>.html, which
// defines "content") inside the layout, titled title; the template sees
// data as .Data.
func (p *Page) Render(name, title string, data any) error {
	return p.RenderStatus(http.StatusOK, name, title, data)
}

// RenderStatus is Render with another status.
func (p *Page) RenderStatus(status int, name, title string, data any) error {
	return p.s.render(p, status, name, title, data, "")
}

// Redirect answers 303 See Other to a path of this site.
func (p *Page) Redirect(to string) error {
	http.Redirect(p.W, p.R, to, http.StatusSeeOther)
	return nil
}

// RedirectFlash redirects and shows msg once on the next page.
func (p *Page) RedirectFlash(to, msg string) error {
	http.SetCookie(p.W, &http.Cookie{Name: flashCookie, Value: url.QueryEscape(truncate(msg, 300)), Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: p.s.secure, MaxAge: 60})
	return p.Redirect(to)
}

// RedirectAway sends the browser to another site (an OAuth provider).
func (p *Page) RedirectAway(to string) error {
	http.Redirect(p.W, p.R, to, http.StatusSeeOther)
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// handle routes pattern (ServeMux syntax, e.g. "GET /workspaces/{id}") to
// fn for callers with access. Before fn runs: the session is loaded (or a
// signed-out one started), a POST's CSRF token is checked, and a signed-out
// browser on a page that needs a person is sent to /login?next=… (GET) or
// /login (POST). An error fn returns is rendered as an error page.
func (s *Server) handle(pattern string, access Access, fn func(*Page) error) {
	s.mux.HandleFunc(pattern, s.page(access, fn))
}

func (s *Server) page(access Access, fn func(*Page) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' https: http:; frame-ancestors 'none'")
		w.Header().Set("Referrer-Policy", "same-origin")
		p := &Page{W: w, R: r, s: s}
		if c, err := r.Cookie(flashCookie); err == nil {
			p.flash, _ = url.QueryUnescape(c.Value)
			http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure})
		}
		if err := s.loadSession(p); err != nil {
			s.renderError(p, err)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, formLimit)
			if err := r.ParseForm(); err != nil {
				s.renderError(p, errs.Invalid("the form could not be read"))
				return
			}
			if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(p.Session.CSRF)) != 1 {
				s.renderError(p, errBadCSRF)
				return
			}
		}
		if access >= SignedIn && !p.SignedIn() {
			if r.Method == http.MethodGet {
				_ = p.Redirect("/login?next=" + url.QueryEscape(r.URL.RequestURI()))
			} else {
				_ = p.Redirect("/login")
			}
			return
		}
		switch {
		case access >= Member && p.Principal.OrgID == "":
			s.renderError(p, errNoOrg)
			return
		case access == Admin && !p.Principal.IsAdmin():
			s.renderError(p, errAdminOnly)
			return
		}
		if err := fn(p); err != nil {
			s.renderError(p, err)
		}
	}
}

var (
	errBadCSRF      = errs.New(errs.ErrForbidden, "bad_csrf", "This form is out of date or did not come from this site. Reload the page and try again.")
	errNoOrg        = errs.New(errs.ErrForbidden, "no_org", "You are not a member of any organization yet. Open an invitation link to join one.")
	errAdminOnly    = errs.New(errs.ErrForbidden, "admin_only", "Only an admin of this organization can open this page.")
	errPageNotFound = errs.New(errs.ErrNotFound, "not_found", "There is no such page.")
)

// loadSession finds the browser's session, or starts a signed-out one and
// sets its cookie.
func (s *Server) loadSession(p *Page) error {
	ctx := p.R.Context()
	if c, err := p.R.Cookie(sessionCookie); err == nil {
		sess, err := s.Identity.Session(ctx, c.Value)
		switch {
		case err == nil:
			p.Session = sess
			if !sess.SignedIn() {
				return nil
			}
			pr, err := s.Identity.SessionPrincipal(ctx, sess)
			if errors.Is(err, identity.ErrNoSession) {
				return nil
			}
			p.Principal = pr
			return err
		case !errors.Is(err, identity.ErrNoSession):
			return err
		}
	}
	token, sess, err := s.Identity.StartSession(ctx)
	if err != nil {
		return err
	}
	s.setSessionCookie(p, token, sess)
	p.Session = sess
	return nil
}

// setSessionCookie hands the browser a session's token.
func (s *Server) setSessionCookie(p *Page, token string, sess identity.Session) {
	http.SetCookie(p.W, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: s.secure, Expires: sess.ExpiresAt, MaxAge: int(time.Until(sess.ExpiresAt).Seconds())})
}

// SignedInAs switches the page to a session that a sign-in just created:
// the browser gets its cookie, and the page its user.
func (p *Page) SignedInAs(token string, sess identity.Session) error {
	p.s.setSessionCookie(p, token, sess)
	p.Session = sess
	pr, err := p.s.Identity.SessionPrincipal(p.R.Context(), sess)
	if err != nil {
		return err
	}
	p.Principal = pr
	return nil
}

// SafeNext is next when it is a path of this site ("/…", not "//…" or
// "/\…", no scheme or host), else fallback. Every redirect to a
// user-supplied place goes through it.
func SafeNext(next, fallback string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\r\n\t\\") {
		return fallback
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return fallback
	}
	return next
}
