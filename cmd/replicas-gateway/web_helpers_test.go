package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// webClient is a browser without JavaScript: a cookie jar that does not
// follow redirects, so tests see each Location.
type webClient struct {
	c    *http.Client
	base string
}

func newWebClient(t *testing.T, base string) *webClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &webClient{base: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// get fetches a path (or an absolute URL) and returns status, Location and body.
func (w *webClient) get(t *testing.T, path string) (int, string, string) {
	t.Helper()
	if strings.HasPrefix(path, "/") {
		path = w.base + path
	}
	resp, err := w.c.Get(path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the CSRF token from a page's form.
func (w *webClient) csrf(t *testing.T, page string) string {
	t.Helper()
	_, _, body := w.get(t, page)
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf field on %s: %s", page, body)
	}
	return m[1]
}

// post submits a form from page (whose CSRF token it carries) to path.
func (w *webClient) post(t *testing.T, page, path string, form url.Values) (int, string, string) {
	t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if form.Get("csrf") == "" {
		form.Set("csrf", w.csrf(t, page))
	}
	resp, err := w.c.PostForm(w.base+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

// signIn signs the browser in through an operator's login link.
func (w *webClient) signIn(t *testing.T, g *gw, email string) {
	t.Helper()
	token, _, err := g.app.identity.IssueLoginLink(context.Background(), g.app.db, email)
	if err != nil {
		t.Fatal(err)
	}
	page := "/login/link/" + token
	if code, loc, body := w.post(t, page, page, nil); code != http.StatusSeeOther || loc != "/workspaces" {
		t.Fatalf("login link: %d %s %s", code, loc, body)
	}
}
