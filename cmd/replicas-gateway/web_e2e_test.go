package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/github/githubtest"
	"github.com/tryreplicas/gateway/integrations/linear/lineartest"
)

// The session basics without a browser: a login link signs in, pages need
// a session, a form without the session's CSRF token changes nothing,
// sign-out ends the session, and next only ever leads within the site.
func TestWebSessions(t *testing.T) {
	g := startGateway(t, nil)
	ctx := context.Background()
	if _, _, _, err := g.app.identity.Bootstrap(ctx, g.app.db, "acme", "ada@example.com", "Ada"); err != nil {
		t.Fatal(err)
	}
	w := newWebClient(t, g.url)
	if code, loc, _ := w.get(t, "/workspaces/ws_x?tab=1"); code != http.StatusSeeOther || loc != "/login?next="+url.QueryEscape("/workspaces/ws_x?tab=1") {
		t.Fatalf("signed out: %d %s", code, loc)
	}
	if code, _, body := w.get(t, "/login"); code != 200 || !strings.Contains(body, "Sign in") {
		t.Fatalf("login page: %d %s", code, body)
	}
	w.signIn(t, g, "ada@example.com")
	code, _, body := w.get(t, "/workspaces")
	if code != 200 || !strings.Contains(body, "ada@example.com") || !strings.Contains(body, `href="/settings/members"`) {
		t.Fatalf("workspaces: %d %s", code, body)
	}
	if code, _, _ := w.get(t, "/workspaces/ws_nope"); code != http.StatusNotFound {
		t.Fatalf("unknown workspace: %d", code)
	}
	// A form without the right CSRF token changes nothing.
	if code, _, _ := w.post(t, "/workspaces", "/logout", url.Values{"csrf": {"forged"}}); code != http.StatusForbidden {
		t.Fatalf("forged csrf: %d", code)
	}
	if code, _, _ := w.get(t, "/workspaces"); code != 200 {
		t.Fatalf("still signed in: %d", code)
	}
	for _, next := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"} {
		if code, loc, _ := w.get(t, "/login?next="+url.QueryEscape(next)); code != http.StatusSeeOther || loc != "/workspaces" {
			t.Fatalf("next %q: %d %s", next, code, loc)
		}
	}
	if code, loc, _ := w.post(t, "/workspaces", "/logout", nil); code != http.StatusSeeOther || loc != "/login" {
		t.Fatalf("logout: %d %s", code, loc)
	}
	if code, _, _ := w.get(t, "/workspaces"); code != http.StatusSeeOther {
		t.Fatalf("after logout: %d", code)
	}
	if n := g.count(t, `SELECT COUNT(*) FROM browser_sessions WHERE user_id IS NOT NULL`); n != 0 {
		t.Fatalf("%d signed-in sessions after sign-out", n)
	}
	if code, _, body := w.get(t, "/api/v1/nope"); code != 404 || !strings.Contains(body, `"error"`) {
		t.Fatalf("API 404 stays JSON: %d %s", code, body)
	}
	if code, _, body := w.get(t, "/static/style.css"); code != 200 || !strings.Contains(body, "max-width: 700px") {
		t.Fatalf("stylesheet: %d", code)
	}
}

// oauth runs a sign-in round trip in browser w without JavaScript: post the
// start form, follow the provider's approve link for who (the stand-in's
// authorize page), and open the callback. It returns the callback's answer.
func (w *webClient) oauth(t *testing.T, start string, form url.Values, approve func(authorize *url.URL) string) (int, string, string) {
	t.Helper()
	code, loc, body := w.post(t, "/login", start, form)
	u, err := url.Parse(loc)
	if code != http.StatusSeeOther || err != nil || u.Query().Get("state") == "" {
		t.Fatalf("%s = %d %s %s", start, code, loc, body)
	}
	code, callback, _ := w.get(t, approve(u))
	if code != http.StatusFound || !strings.HasPrefix(callback, w.base) {
		t.Fatalf("approve = %d %s", code, callback)
	}
	return w.get(t, callback)
}

func githubApprove(login string) func(*url.URL) string {
	return func(u *url.URL) string {
		q := u.Query()
		v := url.Values{"login": {login}, "redirect_uri": {q.Get("redirect_uri")}, "state": {q.Get("state")},
			"code_challenge": {q.Get("code_challenge")}, "code_challenge_method": {q.Get("code_challenge_method")}}
		return u.Scheme + "://" + u.Host + "/login/oauth/authorize/approve?" + v.Encode()
	}
}

// Sign-in edges: Linear finds the user by the account's email; a GitHub
// account linked to nobody signs nobody in; from an invitation, GitHub
// creates only a user that does not exist yet, and a linked user joins as
// themselves; the session cookie is HttpOnly, SameSite=Lax, and Secure on
// https.
func TestWebSignInEdges(t *testing.T) {
	t.Parallel()
	fake := lineartest.New("never-used", appUser, linOrg)
	t.Cleanup(fake.Close)
	g, orgID := browserGateway(t, map[string]string{"LINEAR_CLIENT_ID": "lin-client", "LINEAR_CLIENT_SECRET": "lin-secret", "LINEAR_API_URL": fake.URL})
	ctx := context.Background()
	fake.SetEmail("lin-ada", "Ada@Example.com")
	fake.SetEmail("lin-stranger", "stranger@nowhere.example")
	linearApprove := func(user string) func(*url.URL) string {
		return func(u *url.URL) string {
			q := u.Query()
			if q.Get("actor") != "user" || q.Get("scope") != "read" {
				t.Errorf("Linear sign-in authorize URL %s", u)
			}
			return fake.URL + "/oauth/authorize/approve?" + url.Values{"user": {user}, "redirect_uri": {q.Get("redirect_uri")}, "state": {q.Get("state")}}.Encode()
		}
	}

	w := newWebClient(t, g.url)
	code, loc, _ := w.oauth(t, "/login/linear", url.Values{"next": {"/workspaces?from=linear"}}, linearApprove("lin-ada"))
	if code != http.StatusSeeOther || loc != "/workspaces?from=linear" {
		t.Fatalf("Linear sign-in = %d %s", code, loc)
	}
	if code, _, body := w.get(t, "/workspaces"); code != 200 || !strings.Contains(body, "ada@example.com") {
		t.Fatalf("after Linear sign-in: %d", code)
	}

	cases := []struct {
		name, start string
		form        url.Values
		approve     func(*url.URL) string
		status      int
		code        string
	}{
		{"Linear account of no user", "/login/linear", nil, linearApprove("lin-stranger"), 404, "linear_user_unknown"},
		{"GitHub account linked to nobody", "/login/github", nil, githubApprove("drifter"), 404, "github_not_linked"},
	}
	g.github.AddUser(githubtest.User{ID: 7007, Login: "drifter"}, "")
	g.github.AddUser(githubtest.User{ID: 21031067, Login: "Codertocat"}, "")
	// An invitation for an existing user's email: GitHub does not create or
	// link anything; that person signs in first.
	adminToken, _, err := g.app.identity.IssueToken(ctx, g.app.db, orgID, adminOf(t, g, orgID), adminOf(t, g, orgID))
	if err != nil {
		t.Fatal(err)
	}
	invite := func(org, token, email string) string {
		code, ans := post2(t, "POST", g.url+"/api/v1/orgs/"+org+"/members", map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json"},
			`{"email":"`+email+`","role":"member"}`)
		if code != 201 {
			t.Fatalf("invite %s = %d %v", email, code, ans)
		}
		_, tok, _ := strings.Cut(fmt.Sprint(ans["url"]), "/invitations/")
		return tok
	}
	if _, err := g.app.identity.EnsureUser(ctx, g.app.db, "existing@example.com", ""); err != nil {
		t.Fatal(err)
	}
	existing := invite(orgID, adminToken, "existing@example.com")
	cases = append(cases, struct {
		name, start string
		form        url.Values
		approve     func(*url.URL) string
		status      int
		code        string
	}{"invitation of an existing user, unlinked GitHub account", "/login/github", url.Values{"invitation": {existing}}, githubApprove("drifter"), 401, "sign_in_required"})
	for _, c := range cases {
		other := newWebClient(t, g.url)
		code, _, body := other.oauth(t, c.start, c.form, c.approve)
		if code != c.status || !strings.Contains(body, "<code>"+c.code+"</code>") {
			t.Errorf("%s: %d %s", c.name, code, body)
		}
		if code, _, _ := other.get(t, "/workspaces"); code != http.StatusSeeOther {
			t.Errorf("%s: signed in anyway (%d)", c.name, code)
		}
	}
	if n := g.count(t, `SELECT COUNT(*) FROM github_identities WHERE github_id = 7007`); n != 0 {
		t.Fatalf("drifter got linked")
	}

	// A GitHub account linked to Ada, from an invitation of another org:
	// Ada joins it as herself.
	beta, _, betaToken, err := g.app.identity.Bootstrap(ctx, g.app.db, "beta", "eve@beta.example", "")
	if err != nil {
		t.Fatal(err)
	}
	inv := invite(beta.ID, betaToken, "ada.work@example.com")
	joiner := newWebClient(t, g.url)
	if code, loc, body := joiner.oauth(t, "/login/github", url.Values{"invitation": {inv}}, githubApprove("Codertocat")); code != http.StatusSeeOther || loc != "/workspaces" {
		t.Fatalf("sign-in from an invitation = %d %s %s", code, loc, body)
	}
	adaUser, _ := g.app.identity.UserByEmail(ctx, g.app.db, "ada@example.com")
	if m, err := g.app.identity.Member(ctx, g.app.db, beta.ID, adaUser.ID); err != nil || m.Role != identity.RoleMember {
		t.Fatalf("ada in beta = %+v, %v", m, err)
	}
	if _, err := g.app.identity.UserByEmail(ctx, g.app.db, "ada.work@example.com"); err == nil {
		t.Fatal("the invited email became a second user")
	}

	// Cookie attributes.
	resp, err := http.Get(g.url + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if c := resp.Header.Get("Set-Cookie"); !strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Lax") || strings.Contains(c, "Secure") {
		t.Fatalf("http cookie: %s", c)
	}
	secure := startGateway(t, map[string]string{"REPLICAS_PUBLIC_URL": "https://gw.example"})
	resp, err = http.Get(secure.url + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if c := resp.Header.Get("Set-Cookie"); !strings.Contains(c, "replicas_session=rps_") || !strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Lax") || !strings.Contains(c, "Secure") {
		t.Fatalf("https cookie: %s", c)
	}
}
