package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
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
