// The refresh storm with real processes: three `replicas-gateway serve`
// processes on one PostgreSQL database, 500 workspace credential requests
// spread over them while the OAuth token crosses the refresh threshold →
// exactly one call to a strict token endpoint, everyone gets the new token,
// and the refresh-token family is still valid.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/credstore"
	"github.com/tryreplicas/gateway/credstore/oauthrefresh"
	"github.com/tryreplicas/gateway/credstore/oauthrefresh/strictoauth"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/integrations/launch"
)

func TestRefreshStormThreeProcesses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	oauth := strictoauth.New()
	defer oauth.Close()
	vars := pgEnv(t)
	vars["REPLICAS_DATA_DIR"] = filepath.Join(dir, "data")
	vars["CLAUDE_OAUTH_TOKEN_URL"], vars["CLAUDE_OAUTH_CLIENT_ID"] = oauth.URL, strictoauth.ClientID

	// Seed through the app itself: org, user, an OAuth credential 1 minute
	// from expiry, and a workspace whose token we read back.
	ctx := context.Background()
	a, err := openApp(ctx, mustConfig(t, func(k string) string { return vars[k] }), sqldbtest.Logger(), queueInsertOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	org, user, _, err := a.identity.Bootstrap(ctx, a.db, "storm", "storm@example.com", "")
	if err != nil {
		t.Fatal(err)
	}
	login, err := oauth.Login(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.creds.Put(ctx, a.db, credstore.Owner{Scope: "user", ID: user.ID}, "claude", "oauth",
		credstore.Secret{AccessToken: login.AccessToken, RefreshToken: login.RefreshToken, ExpiresAt: time.Now().Add(time.Minute)}, credstore.Change{ActorID: user.ID}); err != nil {
		t.Fatal(err)
	}
	var ws launch.Workspace
	if err := a.db.InTx(ctx, func(tx sqldb.Tx) (err error) {
		ws, err = a.launch.LaunchTx(ctx, tx, launch.Trigger{OrgID: org.ID, UserID: user.ID, Source: launch.Source{Kind: "api"}, Task: launch.Task{Title: "storm"}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var keyID string
	var sealed []byte
	if err := a.db.QueryRow(ctx, `SELECT token_key_id, token_sealed FROM workspaces WHERE id = $1`, ws.ID).Scan(&keyID, &sealed); err != nil {
		t.Fatal(err)
	}
	token, err := a.keys.Open(keyID, sealed, []byte(ws.ID))
	if err != nil {
		t.Fatal(err)
	}

	logFile, err := os.Create(filepath.Join(dir, "gateways.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	var bases []string
	for i := 0; i < 3; i++ {
		addr := freeAddr(t)
		env := []string{"PATH=" + os.Getenv("PATH"), "REPLICAS_ADDR=" + addr}
		for k, v := range vars {
			env = append(env, k+"="+v)
		}
		bases = append(bases, "http://"+addr)
		startProcess(t, bin, env, logFile, bases[i])
	}

	const n = 500
	start := make(chan struct{})
	results := make(chan string, n)
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 200}}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(base string) {
			defer wg.Done()
			<-start
			req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/workspace/credential", nil)
			req.Header.Set("Authorization", "Bearer "+string(token))
			resp, err := client.Do(req)
			if err != nil {
				results <- "error: " + err.Error()
				return
			}
			defer resp.Body.Close()
			var got struct {
				Env map[string]string `json:"env"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&got)
			results <- fmt.Sprint(resp.StatusCode, " ", got.Env["CLAUDE_CODE_OAUTH_TOKEN"])
		}(bases[i%3])
	}
	close(start)
	wg.Wait()
	close(results)
	seen := map[string]int{}
	for r := range results {
		seen[r]++
	}
	if len(seen) != 1 || oauth.Refreshes() != 1 {
		t.Fatalf("%d token-endpoint calls; answers %v", oauth.Refreshes(), seen)
	}
	for answer := range seen {
		if !strings.HasPrefix(answer, "200 ") || strings.HasSuffix(answer, login.AccessToken) {
			t.Fatalf("answer %q: want 200 with the new token", answer)
		}
	}
	_, sec, err := a.creds.Open(ctx, a.db, credIDOf(t, a, user.ID))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (oauthrefresh.Endpoint{URL: oauth.URL, ClientID: strictoauth.ClientID}).Refresh(ctx, sec.RefreshToken); err != nil {
		t.Fatalf("the token family did not survive the storm: %v", err)
	}
}

func credIDOf(t *testing.T, a *app, userID string) string {
	t.Helper()
	var id string
	if err := a.db.QueryRow(context.Background(), `SELECT id FROM credentials WHERE owner_id = $1`, userID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}
