package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/linear/lineartest"
)

// demote makes userID a member of orgID (no longer its admin), as another
// admin would while the first one's browser still holds a connect state.
func demote(t *testing.T, g *gw, orgID, userID string) {
	t.Helper()
	if _, err := g.app.db.Exec(context.Background(), `UPDATE memberships SET role = 'member' WHERE org_id = $1 AND user_id = $2`, orgID, userID); err != nil {
		t.Fatal(err)
	}
}

// An admin who starts Connect GitHub and is then demoted (or removed)
// binds nothing with the state their browser still holds: not at the setup
// redirect with a code, not at one without, and not when the installation
// webhook completes a connect left pending while they were an admin.
func TestConnectGitHubByDemotedAdminBindsNothing(t *testing.T) {
	t.Parallel()
	f := newConnectFixture(t)
	ctx := context.Background()
	if _, err := f.g.app.identity.LinkGitHub(ctx, f.g.app.db, identity.LinkRequest{UserID: f.adminID, GitHubID: 500, Login: "boss", Via: identity.LinkedViaOAuth, ActorID: f.adminID}); err != nil {
		t.Fatal(err)
	}
	// Left pending while an admin; the webhook comes after the demotion.
	if code, ans := f.setup(t, 79, f.connectState(t), ""); code != 200 || ans["pending"] != true {
		t.Fatalf("redirect before webhook = %d %v", code, ans)
	}
	withCode, withoutCode := f.connectState(t), f.connectState(t)
	demote(t, f.g, f.orgID, f.adminID)
	if code, ans := f.setup(t, 77, withCode, "code-boss"); code != http.StatusForbidden || ans["bound"] == true {
		t.Errorf("setup with a code by a demoted admin = %d %v", code, ans)
	}
	if code, ans := f.setup(t, 78, withoutCode, ""); code != http.StatusForbidden || ans["pending"] == true {
		t.Errorf("setup without a code by a demoted admin = %d %v", code, ans)
	}
	f.installationWebhook(t, 78, 500, "boss")
	f.installationWebhook(t, 79, 500, "boss")
	f.g.idle(t)
	for _, id := range []int64{77, 78, 79} {
		if org := f.boundOrg(t, id); org != "" {
			t.Errorf("installation %d bound to %s by a demoted admin", id, org)
		}
	}
}

// The same for Connect Linear: the callback of a connect started by an
// admin who is no longer one connects nothing.
func TestConnectLinearByDemotedAdminConnectsNothing(t *testing.T) {
	t.Parallel()
	fake := lineartest.New("never-used", appUser, linOrg)
	t.Cleanup(fake.Close)
	env := pgEnv(t)
	env["LINEAR_WEBHOOK_SECRET"], env["LINEAR_API_URL"] = "lin-secret", fake.URL
	env["LINEAR_CLIENT_ID"], env["LINEAR_CLIENT_SECRET"] = "lin-client", "lin-client-secret"
	g := startGateway(t, env)
	seed(t, g, true)
	w := newWebClient(t, g.url)
	w.signIn(t, g, "admin@example.com")
	code, link, body := w.post(t, "/workspaces", "/settings/integrations/linear/connect", nil)
	u, err := url.Parse(link)
	if code != http.StatusSeeOther || err != nil {
		t.Fatalf("connect = %d %s %s", code, link, body)
	}
	org := orgIDOf(t, g, "acme")
	demote(t, g, org, adminOf(t, g, org))
	fake.AddCode("lin-code")
	code, _, body = w.get(t, "/oauth/linear/callback?"+url.Values{"state": {u.Query().Get("state")}, "code": {"lin-code"}}.Encode())
	if code != http.StatusForbidden || strings.Contains(body, "is connected") {
		t.Errorf("callback of a demoted admin = %d %s", code, body)
	}
	if _, err := g.app.linear.Store().ByOrg(context.Background(), g.app.db, org); err == nil {
		t.Error("a demoted admin's callback connected Linear")
	}
}

// Every page action names its target by id in the path or a form field; an
// admin of another org, a member, a foreign session's CSRF token and a
// removed member's still-open session change nothing with any of them.
func TestPageActionsStayInTheirOrg(t *testing.T) {
	t.Parallel()
	g := startGateway(t, pgEnv(t))
	ctx := context.Background()
	acmeID, adaID := seed(t, g, true)
	acmeAdmin := identity.Principal{UserID: adminOf(t, g, acmeID), OrgID: acmeID, Role: identity.RoleAdmin}
	inv, err := g.app.identity.Invite(ctx, g.app.db, acmeAdmin, "carol@example.com", "", identity.RoleMember)
	if err != nil {
		t.Fatal(err)
	}
	var adminTokenID string
	if err := g.app.db.QueryRow(ctx, `SELECT id FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL`, acmeAdmin.UserID).Scan(&adminTokenID); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := g.app.identity.Bootstrap(ctx, g.app.db, "beta", "eve@beta.example", "Eve"); err != nil {
		t.Fatal(err)
	}
	eve := newWebClient(t, g.url)
	eve.signIn(t, g, "eve@beta.example")
	for _, c := range []struct {
		path string
		form url.Values
	}{
		{"/settings/members/" + adaID + "/remove", nil},
		{"/settings/members/" + adaID + "/role", url.Values{"role": {"admin"}}},
		{"/settings/members/" + acmeAdmin.UserID + "/role", url.Values{"role": {"member"}}},
		{"/settings/members/invitations/" + inv.ID + "/revoke", nil},
		{"/settings/user/tokens/" + adminTokenID + "/revoke", nil},
		{"/session/org", url.Values{"org": {acmeID}}},
		{"/session/org", url.Values{"org": {"acme"}}},
		{"/settings/user/orgs/" + acmeID + "/leave", nil},
	} {
		if code, _, body := eve.post(t, "/workspaces", c.path, c.form); code != http.StatusNotFound && code != http.StatusForbidden {
			t.Errorf("beta's admin posts %s %v = %d %s", c.path, c.form, code, body)
		}
	}
	if _, _, body := eve.get(t, "/settings/members"); strings.Contains(body, "ada@example.com") || strings.Contains(body, "carol@example.com") {
		t.Error("beta's admin sees acme's members")
	}

	// Ada, a member of acme: admin actions are refused, and another
	// session's CSRF token (Eve's) is no token of hers.
	ada := newWebClient(t, g.url)
	ada.signIn(t, g, "ada@example.com")
	for _, c := range []struct {
		path string
		form url.Values
		want int
	}{
		{"/settings/agents/claude/api_key/delete", nil, http.StatusForbidden},
		{"/settings/agents/default", url.Values{"agent": {"codex"}}, http.StatusForbidden},
		{"/settings/members/" + adaID + "/role", url.Values{"role": {"admin"}}, http.StatusForbidden},
		{"/settings/members/invitations/" + inv.ID + "/revoke", nil, http.StatusForbidden},
		{"/settings/user/tokens/" + adminTokenID + "/revoke", nil, http.StatusNotFound},
		{"/settings/user/tokens", url.Values{"csrf": {eve.csrf(t, "/workspaces")}}, http.StatusForbidden},
		{"/settings/user/credentials/claude/api_key", url.Values{"csrf": {"x"}, "api_key": {"sk-ant-api03-forged"}}, http.StatusForbidden},
	} {
		if code, _, body := ada.post(t, "/workspaces", c.path, c.form); code != c.want {
			t.Errorf("ada posts %s = %d, want %d: %s", c.path, code, c.want, body)
		}
	}
	if m, err := g.app.identity.Member(ctx, g.app.db, acmeID, adaID); err != nil || m.Role != identity.RoleMember {
		t.Errorf("ada = %+v, %v", m, err)
	}
	if m, err := g.app.identity.Member(ctx, g.app.db, acmeID, acmeAdmin.UserID); err != nil || m.Role != identity.RoleAdmin {
		t.Errorf("acme's admin = %+v, %v", m, err)
	}
	if n := g.count(t, `SELECT COUNT(*) FROM invitations WHERE id = $1 AND revoked_at IS NULL`, inv.ID); n != 1 {
		t.Error("the invitation was withdrawn")
	}
	if n := g.count(t, `SELECT COUNT(*) FROM api_tokens WHERE id = $1 AND revoked_at IS NULL`, adminTokenID); n != 1 {
		t.Error("the admin's token was revoked")
	}
	if n := g.count(t, `SELECT COUNT(*) FROM credentials WHERE scope = 'user'`); n != 0 {
		t.Errorf("%d personal credentials stored by a forged post", n)
	}

	// Removed, Ada's open session has no org left: no member page, no token.
	if err := g.app.identity.RemoveMember(ctx, g.app.db, acmeAdmin, adaID); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := ada.get(t, "/workspaces"); code != http.StatusForbidden {
		t.Errorf("a removed member's workspaces page = %d", code)
	}
	if code, _, _ := ada.post(t, "/workspaces", "/settings/user/tokens", nil); code != http.StatusForbidden {
		t.Errorf("a removed member creates a token: %d", code)
	}
	if n := g.count(t, `SELECT COUNT(*) FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL`, adaID); n != 0 {
		t.Errorf("a removed member holds %d live tokens", n)
	}
}
