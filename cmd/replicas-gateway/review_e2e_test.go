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
