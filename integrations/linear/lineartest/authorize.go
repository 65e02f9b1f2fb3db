package lineartest

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
)

// The authorization page a browser meets on Linear: GET /oauth/authorize
// lists the users with an email (SetEmail), each a link "Authorize as
// <email>" (id "authorize-<user id>"); following one mints a single-use code
// for that user and redirects to redirect_uri with code and state. The token
// it exchanges for is that user's: Viewer answers their id.

var authorizePage = template.Must(template.New("authorize").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>Authorize · fake Linear</title></head>
<body><h1>Authorize {{.Client}} ({{.Actor}})</h1>
<ul>{{range .Links}}<li><a id="authorize-{{.ID}}" href="{{.URL}}">Authorize as {{.Email}}</a></li>{{end}}</ul>
</body></html>`))

type authorizeLink struct{ ID, Email, URL string }

func (s *Server) serveAuthorize(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	q := r.URL.Query()
	switch r.URL.Path {
	case "/oauth/authorize":
		s.mu.Lock()
		var links []authorizeLink
		for id, email := range s.emails {
			v := url.Values{"user": {id}, "redirect_uri": {q.Get("redirect_uri")}, "state": {q.Get("state")}}
			links = append(links, authorizeLink{ID: id, Email: email, URL: "/oauth/authorize/approve?" + v.Encode()})
		}
		s.mu.Unlock()
		sort.Slice(links, func(i, j int) bool { return links[i].ID < links[j].ID })
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = authorizePage.Execute(w, map[string]any{"Client": q.Get("client_id"), "Actor": q.Get("actor"), "Links": links})
		return true
	case "/oauth/authorize/approve":
		redirect, err := url.Parse(q.Get("redirect_uri"))
		if err != nil || redirect.Scheme == "" {
			http.Error(w, "bad redirect_uri", http.StatusBadRequest)
			return true
		}
		s.mu.Lock()
		s.n++
		c := fmt.Sprintf("lin-user-code-%d", s.n)
		s.userCodes[c] = q.Get("user")
		s.mu.Unlock()
		back := redirect.Query()
		back.Set("code", c)
		back.Set("state", q.Get("state"))
		redirect.RawQuery = back.Encode()
		http.Redirect(w, r, redirect.String(), http.StatusFound)
		return true
	}
	return false
}
