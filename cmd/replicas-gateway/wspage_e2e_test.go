package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// launchWithToken mentions the bot as Ada on a gateway whose http launcher
// is prov, and returns the launched workspace's id and token.
func launchWithToken(t *testing.T, g *gw, prov *provisioner) (id, token string) {
	t.Helper()
	if code, ans := g.mention(t, ada, "gh-secret"); code != 200 {
		t.Fatalf("mention answered %d %v", code, ans)
	}
	g.waitFor(t, "the launch", func() bool {
		_ = g.app.db.QueryRow(context.Background(), `SELECT id FROM workspaces WHERE status = 'launched'`).Scan(&id)
		return id != "" && prov.token(id) != ""
	})
	return id, prov.token(id)
}

// workspacePost is a call of the workspace with its token (activities,
// events); it must succeed.
func workspacePost(t *testing.T, g *gw, token, path, body string) {
	t.Helper()
	if code, ans := post(t, g.url+"/api/v1/workspace/"+path, map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json"}, []byte(body)); code/100 != 2 {
		t.Fatalf("%s %s = %d %v", path, body, code, ans)
	}
}

// The workspace page without a browser: the owner sees the task (message
// 1) and what the workspace reported, escaped, long texts folded; a
// follow-up sent from the page is message 2 for the workspace; a forged
// CSRF token changes nothing; another member gets 404 for the page and its
// forms; an admin sees the conversation without the follow-up form, cannot
// send, and stops the workspace, after which the page offers neither.
func TestWebWorkspaceConversation(t *testing.T) {
	t.Parallel()
	onEachDatabase(t, func(t *testing.T, env map[string]string) {
		prov := &provisioner{tokens: map[string]string{}}
		provSrv := httptest.NewServer(prov)
		t.Cleanup(provSrv.Close)
		env["REPLICAS_LAUNCHER"], env["REPLICAS_LAUNCHER_URL"], env["REPLICAS_LAUNCHER_SECRET"] = "http", provSrv.URL, "launch-secret"
		g := startGateway(t, env)
		orgID, _ := seed(t, g, true)
		addMember(t, g, orgID, "bob@example.com")
		id, token := launchWithToken(t, g, prov)
		page := "/workspaces/" + id
		long := strings.Repeat("All forty tests pass. ", 60) + "THE-END"
		workspacePost(t, g, token, "activities", `{"type":"thought","body":"Reading <cart.go> first"}`)
		workspacePost(t, g, token, "activities", `{"type":"action","action":"Run","parameter":"go test ./...","result":"FAIL: TestCart"}`)
		workspacePost(t, g, token, "activities", fmt.Sprintf(`{"type":"response","body":%q}`, long))
		messages := func() []any {
			t.Helper()
			code, ans := getJSON(t, g.url+"/api/v1/workspace/messages?after=0", token)
			list, _ := ans["messages"].([]any)
			if code != 200 {
				t.Fatalf("messages = %d %v", code, ans)
			}
			return list
		}
		status := func() string {
			var s string
			if err := g.app.db.QueryRow(context.Background(), `SELECT status FROM workspaces WHERE id = $1`, id).Scan(&s); err != nil {
				t.Fatal(err)
			}
			return s
		}

		owner := newWebClient(t, g.url)
		owner.signIn(t, g, "ada@example.com")
		code, _, body := owner.get(t, page)
		if code != 200 {
			t.Fatalf("owner's page = %d", code)
		}
		for _, want := range []string{`id="m1"`, "Message 1", "@Codertocat", "please fix the test", `id="a1"`, "Reading &lt;cart.go&gt; first",
			`id="a2"`, "<strong>Run</strong> <code>go test ./...</code>", "FAIL: TestCart", `id="a3"`, "Show the rest", "THE-END",
			`id="follow-up"`, `id="stop-workspace"`} {
			if !strings.Contains(body, want) {
				t.Fatalf("owner's page lacks %q: %s", want, body)
			}
		}
		if strings.Contains(body, "<cart.go>") || strings.Index(body, `id="m1"`) > strings.Index(body, `id="a1"`) || strings.Index(body, `id="a2"`) > strings.Index(body, `id="a3"`) {
			t.Fatalf("unescaped, or out of order: %s", body)
		}

		code, loc, _ := owner.post(t, page, page+"/messages", url.Values{"body": {"Also update the <changelog>.\r\nThanks."}})
		if code != http.StatusSeeOther || loc != page+"#m2" {
			t.Fatalf("follow-up = %d %s", code, loc)
		}
		if _, _, body := owner.get(t, page); !strings.Contains(body, "Message 2 sent to the workspace.") || !strings.Contains(body, `id="m2"`) || !strings.Contains(body, "Also update the &lt;changelog&gt;.") {
			t.Fatalf("after the follow-up: %s", body)
		}
		list := messages()
		if len(list) != 2 {
			t.Fatalf("messages = %v", list)
		}
		m2 := list[1].(map[string]any)
		if m2["seq"] != float64(2) || m2["kind"] != "prompt" || m2["body"] != "Also update the <changelog>.\nThanks." || m2["author"].(map[string]any)["email"] != "ada@example.com" {
			t.Fatalf("message 2 = %v", m2)
		}

		// A forged CSRF token changes nothing.
		for _, path := range []string{page + "/messages", page + "/stop"} {
			if code, _, _ := owner.post(t, page, path, url.Values{"csrf": {"forged"}, "body": {"forged"}}); code != http.StatusForbidden {
				t.Fatalf("forged %s = %d", path, code)
			}
		}
		if n := len(messages()); n != 2 || status() != "launched" {
			t.Fatalf("after forged posts: %d messages, %s", n, status())
		}

		// Another member: as if it did not exist.
		bob := newWebClient(t, g.url)
		bob.signIn(t, g, "bob@example.com")
		if code, _, body := bob.get(t, page); code != http.StatusNotFound || strings.Contains(body, "Codertocat") || strings.Contains(body, "cart.go") {
			t.Fatalf("another member's page = %d %s", code, body)
		}
		for _, path := range []string{page + "/messages", page + "/stop"} {
			if code, _, _ := bob.post(t, "/workspaces", path, url.Values{"body": {"hijack"}}); code != http.StatusNotFound {
				t.Fatalf("another member's %s = %d", path, code)
			}
		}
		if n := len(messages()); n != 2 || status() != "launched" {
			t.Fatalf("after another member's posts: %d messages, %s", n, status())
		}

		// An admin sees the conversation, does not speak for the owner, and
		// may stop it.
		admin := newWebClient(t, g.url)
		admin.signIn(t, g, "admin@example.com")
		code, _, body = admin.get(t, page)
		if code != 200 || !strings.Contains(body, "Also update the &lt;changelog&gt;.") || !strings.Contains(body, "Reading &lt;cart.go&gt; first") ||
			strings.Contains(body, `id="follow-up"`) || !strings.Contains(body, `id="stop-workspace"`) {
			t.Fatalf("admin's page = %d %s", code, body)
		}
		if code, _, _ := admin.post(t, page, page+"/messages", url.Values{"body": {"as the admin"}}); code != http.StatusNotFound || len(messages()) != 2 {
			t.Fatalf("admin's follow-up = %d", code)
		}
		code, loc, _ = admin.post(t, page, page+"/stop", nil)
		if code != http.StatusSeeOther || loc != page || status() != "cancelled" {
			t.Fatalf("admin's stop = %d %s, %s", code, loc, status())
		}
		if _, _, body := admin.get(t, page); !strings.Contains(body, "The workspace is stopped (cancelled)") || strings.Contains(body, `id="stop-workspace"`) {
			t.Fatalf("after the stop: %s", body)
		}
		if code, ans := getJSON(t, g.url+"/api/v1/workspace/messages?after=0", token); code != http.StatusUnauthorized {
			t.Fatalf("the token after the stop: %d %v", code, ans)
		}
		if _, _, body := owner.get(t, page); strings.Contains(body, `id="follow-up"`) || strings.Contains(body, `id="stop-workspace"`) || !strings.Contains(body, `id="m2"`) {
			t.Fatalf("owner's page after the stop: %s", body)
		}
		if code, _, _ := owner.post(t, page, page+"/messages", url.Values{"body": {"too late"}}); code != http.StatusConflict {
			t.Fatalf("a follow-up after the stop = %d", code)
		}
		if code, _, _ := owner.post(t, page, page+"/stop", nil); code != http.StatusConflict {
			t.Fatalf("a second stop = %d", code)
		}
	})
}
