package githubtest

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
)

// The user authorization pages a browser meets on GitHub: GET
// /login/oauth/authorize lists the registered accounts, each a link
// "Authorize as @login" (id "authorize-<login>"); following one mints a
// single-use code for that account, bound to the request's redirect_uri and
// PKCE challenge, and redirects to redirect_uri with code and state, as
// GitHub does once the person approves. The App's install page
// (/apps/{slug}/installations/new) is not served: tests redirect to the
// setup URL themselves.

var authorizePage = template.Must(template.New("authorize").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>Authorize · fake GitHub</title></head>
<body><h1>Authorize {{.Client}}</h1>
<ul>{{range .Links}}<li><a id="authorize-{{.Login}}" href="{{.URL}}">Authorize as @{{.Login}}</a></li>{{end}}</ul>
<p><a id="deny" href="{{.Deny}}">Cancel</a></p>
</body></html>`))

type authorizeLink struct{ Login, URL string }

func pkceS256(verifier string) string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

func (s *Server) serveAuthorize(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	q := r.URL.Query()
	switch r.URL.Path {
	case "/login/oauth/authorize":
		s.mu.Lock()
		logins := make([]string, 0, len(s.users))
		for l := range s.users {
			logins = append(logins, l)
		}
		s.mu.Unlock()
		sort.Strings(logins)
		var links []authorizeLink
		for _, l := range logins {
			v := url.Values{"login": {l}, "redirect_uri": {q.Get("redirect_uri")}, "state": {q.Get("state")}, "code_challenge": {q.Get("code_challenge")},
				"code_challenge_method": {q.Get("code_challenge_method")}}
			links = append(links, authorizeLink{Login: l, URL: "/login/oauth/authorize/approve?" + v.Encode()})
		}
		deny := q.Get("redirect_uri") + "?" + url.Values{"error": {"access_denied"}, "state": {q.Get("state")}}.Encode()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = authorizePage.Execute(w, map[string]any{"Client": q.Get("client_id"), "Links": links, "Deny": template.URL(deny)})
		return true
	case "/login/oauth/authorize/approve":
		redirect, err := url.Parse(q.Get("redirect_uri"))
		if err != nil || redirect.Scheme == "" {
			http.Error(w, "bad redirect_uri", http.StatusBadRequest)
			return true
		}
		s.mu.Lock()
		s.n++
		c := fmt.Sprintf("code-%s-%d", q.Get("login"), s.n)
		challenge := ""
		if q.Get("code_challenge_method") == "S256" {
			challenge = q.Get("code_challenge")
		}
		s.codes[c] = code{login: q.Get("login"), redirectURI: q.Get("redirect_uri"), challenge: challenge}
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
