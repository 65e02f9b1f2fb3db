package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/credstore"
	"github.com/tryreplicas/gateway/credstore/oauthrefresh"
	"github.com/tryreplicas/gateway/credstore/oauthrefresh/strictoauth"
	"github.com/tryreplicas/gateway/credstore/workspaceclient"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// provisioner accepts launches and keeps the workspace tokens it receives.
type provisioner struct {
	mu     sync.Mutex
	tokens map[string]string
}

func (p *provisioner) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req launch.Request
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &req); err != nil {
		w.WriteHeader(400)
		return
	}
	p.mu.Lock()
	p.tokens[req.WorkspaceID] = req.WorkspaceToken
	p.mu.Unlock()
	w.WriteHeader(202)
}

func (p *provisioner) token(id string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tokens[id]
}

// A workspace replays its request across a rotation, falls back when the
// refresh is rejected, ends with the exact message, and re-resolves on wake.
func TestWorkspaceRuntimeEndToEnd(t *testing.T) {
	t.Parallel()
	oauth := strictoauth.New()
	defer oauth.Close()
	prov := &provisioner{tokens: map[string]string{}}
	provSrv := httptest.NewServer(prov)
	defer provSrv.Close()
	env := pgEnv(t)
	env["CLAUDE_OAUTH_TOKEN_URL"] = oauth.URL
	env["CLAUDE_OAUTH_CLIENT_ID"] = strictoauth.ClientID
	env["REPLICAS_LAUNCHER"], env["REPLICAS_LAUNCHER_URL"], env["REPLICAS_LAUNCHER_SECRET"] = "http", provSrv.URL, "launch-secret"
	g := startGateway(t, env)
	orgID, adaID := seed(t, g, true) // org Claude API key
	ctx := context.Background()
	login, err := oauth.Login(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.app.creds.Put(ctx, g.app.db, credstore.Owner{Scope: "user", ID: adaID}, "claude", "oauth",
		credstore.Secret{AccessToken: login.AccessToken, RefreshToken: login.RefreshToken, ExpiresAt: time.Now().Add(time.Hour)}, credstore.Change{ActorID: adaID}); err != nil {
		t.Fatal(err)
	}
	// A mention launches Ada's workspace; the provisioner receives its token.
	if code, _ := g.mention(t, ada, "gh-secret"); code != 200 {
		t.Fatal(code)
	}
	var wsID string
	g.waitFor(t, "the launch", func() bool {
		_ = g.app.db.QueryRow(ctx, `SELECT id FROM workspaces WHERE status = 'launched'`).Scan(&wsID)
		return wsID != "" && prov.token(wsID) != ""
	})
	var states []string
	client := &workspaceclient.Client{BaseURL: g.url, Token: prov.token(wsID), Backoff: time.Millisecond,
		OnState: func(s workspaceclient.State) { states = append(states, s.Label) }}

	first, err := client.Credential(ctx)
	if err != nil || first.Method != "oauth" || first.Scope != "user" || first.Env["CLAUDE_CODE_OAUTH_TOKEN"] != login.AccessToken {
		t.Fatalf("first credential = %+v, %v", first, err)
	}
	// A rejection must name the refused version: without one it is a 400,
	// not "someone rotated it already", and nothing is rotated or skipped.
	wsAuth := map[string]string{"Authorization": "Bearer " + prov.token(wsID)}
	for _, body := range []string{
		`{"credential_id":"` + first.CredentialID + `"}`,
		`{"credential_id":"` + first.CredentialID + `","version":null}`,
		`{"credential_id":"` + first.CredentialID + `","version":0}`,
	} {
		code, out := post(t, g.url+"/api/v1/workspace/credential/rejected", wsAuth, []byte(body))
		if code != http.StatusBadRequest || out["error"] != "version_required" || out["message"] == "" || oauth.Refreshes() != 0 {
			t.Fatalf("rejection %s = %d %v (%d refreshes), want 400 version_required", body, code, out, oauth.Refreshes())
		}
	}
	// The provider rejects the first access token once: rotate and replay.
	var used []string
	err = client.Run(ctx, func(_ context.Context, c workspaceclient.Credential) error {
		used = append(used, c.Method+":"+c.Env["CLAUDE_CODE_OAUTH_TOKEN"])
		if c.Env["CLAUDE_CODE_OAUTH_TOKEN"] == login.AccessToken {
			return fmt.Errorf("401 from the provider: %w", workspaceclient.ErrAuth)
		}
		return nil
	})
	if err != nil || len(used) != 2 || used[1] == used[0] || used[1][:6] != "oauth:" || oauth.Refreshes() != 1 {
		t.Fatalf("replay across rotation: err %v, used %v, refreshes %d", err, used, oauth.Refreshes())
	}
	if len(states) != 2 || states[0] != "Re-authenticating Claude" || states[1] != "" {
		t.Fatalf("states = %q", states)
	}
	// The grant dies upstream (a used refresh token is presented again, so the
	// provider revokes the family): the next rejection's refresh is refused,
	// the OAuth credential becomes unusable and the org API key serves.
	ep := oauthrefresh.Endpoint{URL: oauth.URL, ClientID: strictoauth.ClientID}
	if _, err := ep.Refresh(ctx, login.RefreshToken); !oauthrefresh.IsRejected(err) {
		t.Fatalf("reuse of a rotated refresh token was accepted: %v", err)
	}
	used = nil
	err = client.Run(ctx, func(_ context.Context, c workspaceclient.Credential) error {
		used = append(used, c.Scope+"/"+c.Method)
		if c.Method != "api_key" {
			return workspaceclient.ErrAuth
		}
		return nil
	})
	if err != nil || fmt.Sprint(used) != "[user/oauth org/api_key]" {
		t.Fatalf("fallback: err %v, used %v", err, used)
	}
	code, creds := getJSON(t, g.url+"/api/v1/me/credentials/claude/oauth", adaToken(t, g, orgID, adaID))
	if code != 200 || creds["status"] != "unusable" {
		t.Fatalf("owner does not see the unusable status: %d %v", code, creds)
	}
	// Everything is refused: the chain ends with the exact message.
	client.MaxAttempts = 20
	err = client.Run(ctx, func(context.Context, workspaceclient.Credential) error { return workspaceclient.ErrAuth })
	var exhausted *workspaceclient.ExhaustedError
	if !errors.As(err, &exhausted) || exhausted.Message != "Couldn't authenticate with Claude after multiple attempts" {
		t.Fatalf("exhausted = %v", err)
	}
	// While it sleeps, Ada replaces her OAuth credential; wake picks it up.
	fresh, err := oauth.Login(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.app.creds.Put(ctx, g.app.db, credstore.Owner{Scope: "user", ID: adaID}, "claude", "oauth",
		credstore.Secret{AccessToken: fresh.AccessToken, RefreshToken: fresh.RefreshToken, ExpiresAt: time.Now().Add(time.Hour)}, credstore.Change{ActorID: adaID}); err != nil {
		t.Fatal(err)
	}
	woke, err := client.Wake(ctx)
	if err != nil || woke.Env["CLAUDE_CODE_OAUTH_TOKEN"] != fresh.AccessToken {
		t.Fatalf("wake = %+v, %v", woke, err)
	}
	// Finishing revokes the workspace token.
	code, _ = post(t, g.url+"/api/v1/workspace/events", map[string]string{"Authorization": "Bearer " + prov.token(wsID)}, []byte(`{"status":"finished","summary":"done","url":"https://github.com/x/y/pull/2"}`))
	if code != 200 {
		t.Fatalf("finished event = %d", code)
	}
	if _, err := client.Credential(ctx); err == nil {
		t.Fatal("a finished workspace's token still works")
	}
	g.waitFor(t, "the finished report", func() bool {
		return calls(g, "comment_edit", "finished.\n\ndone\n\nResult: https://github.com/x/y/pull/2") >= 1
	})
	_ = orgID
}

func adaToken(t *testing.T, g *gw, orgID, userID string) string {
	t.Helper()
	tok, _, err := g.app.identity.IssueToken(context.Background(), g.app.db, orgID, userID, userID)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func getJSON(t *testing.T, url, token string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}
