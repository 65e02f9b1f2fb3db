package web

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tryreplicas/gateway/integrations/conversation"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// A workspace's links come from outside (the webhook's pull request or
// issue URL, the result URL a runner reports): only an absolute http(s)
// address without user information becomes a link; javascript:, data:,
// protocol-relative and credential-carrying addresses render as text or not
// at all.
func TestWorkspaceLinksOnlyWebAddresses(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		url  string
		link bool
	}{
		{"https://github.com/acme/web/pull/7", true},
		{"http://linear.example/issue/ENG-1", true},
		{"javascript:alert(document.cookie)", false},
		{"JavaScript:alert(1)", false},
		{"data:text/html,<script>alert(1)</script>", false},
		{"//evil.example/phish", false},
		{"/settings/user", false},
		{"https://user:hunter2@evil.example/", false},
	} {
		w := launch.Workspace{ID: "ws_1", Agent: "claude", Status: "finished", ResultURL: c.url}
		w.Source.Kind, w.Source.URL = "github", c.url
		var buf bytes.Buffer
		if err := pages["workspace"].ExecuteTemplate(&buf, "layout", view{Data: workspaceView(conversation.View{Workspace: w}, "")}); err != nil {
			t.Fatal(err)
		}
		body := buf.String()
		hrefs := strings.Count(body, `href="`+strings.ReplaceAll(c.url, "&", "&amp;")+`"`)
		switch {
		case c.link && hrefs != 2:
			t.Errorf("%q: %d links, want the source and the result: %s", c.url, hrefs, body)
		case !c.link && (hrefs != 0 || strings.Contains(body, "ZgotmplZ") || strings.Contains(body, "hunter2")):
			t.Errorf("%q became a link (or a neutralized one): %s", c.url, body)
		}
	}
}

// Page paths carry link tokens (/login/link/rpk_…, /invitations/rpi_…): a
// page that fails logs its route pattern, never its path.
func TestFailedPageLogsNoPath(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	s := New(Deps{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for _, path := range []string{"/login/link/rpk_secretlinktoken", "/invitations/rpi_secretinvitation"} {
		r := httptest.NewRequest("POST", path, nil)
		r.Pattern = "POST /login/link/{token}"
		p := &Page{W: httptest.NewRecorder(), R: r, s: s}
		s.renderError(p, errors.New("the database went away"))
	}
	if out := logs.String(); strings.Contains(out, "secret") || !strings.Contains(out, "the database went away") {
		t.Fatalf("log = %s", out)
	}
}
