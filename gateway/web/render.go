// Templates, the layout around every page, the stylesheet, and error pages.

package web

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/identity"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"deref": func(t *time.Time) time.Time {
		if t == nil {
			return time.Time{}
		}
		return *t
	},
}

// pages are the parsed templates by name: the layout plus one page file.
var pages = parsePages()

func parsePages() map[string]*template.Template {
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name == "layout" {
			continue
		}
		out[name] = template.Must(template.Must(base.Clone()).ParseFS(templateFS, f))
	}
	return out
}

func staticHandler() http.Handler {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err)
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}

// view is what the layout sees; a page's own data is .Data.
type view struct {
	Title     string
	Path      string
	CSRF      string
	Flash     string
	Error     string
	SignedIn  bool
	Email     string
	Admin     bool
	Org       identity.OrgRole
	Orgs      []identity.OrgRole
	Data      any
	Principal identity.Principal
	// Chains says the caller's credential chains in plain words.
	Chains []string
}

func (s *Server) render(p *Page, status int, name, title string, data any, errMsg string) error {
	t, ok := pages[name]
	if !ok {
		return errors.New("web: no template " + name)
	}
	v := view{Title: title, Path: p.R.URL.Path, CSRF: p.Session.CSRF, Flash: p.flash, Error: errMsg, Data: data,
		SignedIn: p.SignedIn(), Email: p.Principal.Email, Admin: p.Principal.IsAdmin(), Principal: p.Principal}
	if v.SignedIn {
		orgs, err := s.Identity.OrgsOf(p.R.Context(), p.Principal.UserID)
		if err != nil {
			return err
		}
		v.Orgs = orgs
		for _, o := range orgs {
			if o.ID == p.Principal.OrgID {
				v.Org = o
			}
		}
		v.Chains = s.chainLines(p.R.Context(), p.Principal)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		return err
	}
	p.W.Header().Set("Content-Type", "text/html; charset=utf-8")
	p.W.WriteHeader(status)
	_, err := p.W.Write(buf.Bytes())
	return err
}

// statusText is the sentence an error page shows for a kinded error that
// carries none of its own (not an *errs.Error), by its status.
var statusText = map[int]string{
	http.StatusBadRequest:          "The request was not valid.",
	http.StatusUnauthorized:        "You need to sign in for this.",
	http.StatusForbidden:           "You are not allowed to do this.",
	http.StatusNotFound:            "Not found.",
	http.StatusConflict:            "This conflicts with the current state.",
	http.StatusUnprocessableEntity: "This cannot be done right now.",
	http.StatusServiceUnavailable:  "The service is unavailable; try again shortly.",
}

// errorView is what the error page shows.
type errorView struct {
	Status int
	Code   string
}

// renderError shows err as an error page: its status and sentence come from
// its errs kind and *errs.Error; anything else is a 500 without detail
// (logged).
func (s *Server) renderError(p *Page, err error) {
	status, code, msg := http.StatusInternalServerError, "internal", "Something went wrong on our side."
	kindStatus, matched := errs.HTTPStatus(err)
	if matched {
		status, code, msg = kindStatus, "", statusText[kindStatus]
		var e *errs.Error
		if errors.As(err, &e) {
			code, msg = e.Code, e.Message
		}
	}
	var maxErr *http.MaxBytesError
	switch {
	case matched:
	case errors.As(err, &maxErr):
		status, code, msg = http.StatusRequestEntityTooLarge, "too_large", "The form is too large."
	case sqldb.IsUnavailable(err):
		status, code, msg = http.StatusServiceUnavailable, "unavailable", "The database is unavailable; try again shortly."
	default:
		s.Logger.Error("page failed", "route", p.R.Pattern, "err", err) // never the path: it can carry a link token
	}
	if status == http.StatusServiceUnavailable {
		p.W.Header().Set("Retry-After", "5")
	}
	if rerr := s.render(p, status, "error", "Error", errorView{Status: status, Code: code}, msg); rerr != nil {
		s.Logger.Error("error page failed", "route", p.R.Pattern, "err", rerr)
		http.Error(p.W, msg, status)
	}
}
