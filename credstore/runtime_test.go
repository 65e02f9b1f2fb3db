package credstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/credstore"
	"github.com/tryreplicas/gateway/credstore/oauthrefresh"
	"github.com/tryreplicas/gateway/credstore/oauthrefresh/strictoauth"
	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/identity"
)

func runtimeFor(db *sqldb.DB, store *credstore.Store, tokenURL string) *credstore.Runtime {
	ep := oauthrefresh.Endpoint{URL: tokenURL, ClientID: strictoauth.ClientID, HTTP: &http.Client{Timeout: 2 * time.Second}}
	return credstore.NewRuntime(db, store, map[credstore.Agent]oauthrefresh.Endpoint{"claude": ep, "codex": ep}, sqldbtest.Logger())
}

// putOAuth stores a Claude OAuth credential from a fresh strict-server login
// that expires in expiresIn.
func putOAuth(t *testing.T, f fixture, srv *strictoauth.Server, expiresIn time.Duration) credstore.Credential {
	t.Helper()
	tok, err := srv.Login(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.store.Put(context.Background(), f.db, credstore.Owner{Scope: "user", ID: f.user}, "claude", "oauth",
		credstore.Secret{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, ExpiresAt: time.Now().Add(expiresIn)}, f.by)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// 500 workspaces on 3 gateway instances cross the expiry threshold together:
// one refresh, everyone gets the new token, and the token family survives.
func TestRefreshStormAcrossInstances(t *testing.T) {
	t.Parallel()
	srv := strictoauth.New()
	defer srv.Close()
	db := sqldbtest.New(t, sqldb.Postgres, sets...)
	f := newFixture(t, db)
	cred := putOAuth(t, f, srv, time.Minute) // inside the 5-minute margin
	_, before, _ := f.store.Open(context.Background(), db, cred.ID)

	var runtimes []*credstore.Runtime
	for i := 0; i < 3; i++ {
		inst := db
		if i > 0 { // separate pools, as separate processes would have
			inst = reopen(t, db)
		}
		runtimes = append(runtimes, runtimeFor(inst, credstore.NewStore(keyring(t, 'a'), identity.NewStore()), srv.URL))
	}
	const n = 500
	start := make(chan struct{})
	tokens := make(chan string, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(rt *credstore.Runtime) {
			defer wg.Done()
			<-start
			got, err := rt.Current(context.Background(), credstore.Chain{OrgID: f.org, Agent: "claude", IDs: []string{cred.ID}})
			if err != nil {
				t.Error(err)
				return
			}
			tokens <- got.Env["CLAUDE_CODE_OAUTH_TOKEN"]
		}(runtimes[i%3])
	}
	close(start)
	wg.Wait()
	close(tokens)
	seen := map[string]int{}
	for tok := range tokens {
		seen[tok]++
	}
	if srv.Refreshes() != 1 {
		t.Fatalf("%d calls to the token endpoint, want exactly 1", srv.Refreshes())
	}
	if len(seen) != 1 || seen[before.AccessToken] != 0 {
		t.Fatalf("workspaces got %d distinct tokens (old one %d times), want 1 new token for all", len(seen), seen[before.AccessToken])
	}
	_, after, err := f.store.Open(context.Background(), db, cred.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The family is intact: the newest refresh token still works.
	ep := oauthrefresh.Endpoint{URL: srv.URL, ClientID: strictoauth.ClientID}
	if _, err := ep.Refresh(context.Background(), after.RefreshToken); err != nil {
		t.Fatalf("token family revoked after the storm: %v", err)
	}
	// And the strict server really revokes on reuse: the first token is dead.
	if _, err := ep.Refresh(context.Background(), before.RefreshToken); !oauthrefresh.IsRejected(err) {
		t.Fatalf("reused refresh token was accepted: %v", err)
	}
}

func reopen(t testing.TB, db *sqldb.DB) *sqldb.DB {
	t.Helper()
	cfg := db.Pool().Config()
	schema := cfg.ConnConfig.RuntimeParams["search_path"]
	other, err := sqldb.OpenPostgres(context.Background(), sqldbtest.URL(t), schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Close)
	return other
}

// OAuth → refresh rejected → API key → rejected → Bedrock → rejected → 409.
func TestFallbackWalk(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		srv := strictoauth.New()
		defer srv.Close()
		f := newFixture(t, db)
		oauth := putOAuth(t, f, srv, time.Hour)
		key := f.put(t, "user", "claude", "api_key")
		bedrock := f.put(t, "org", "claude", "bedrock")
		chain := credstore.Chain{OrgID: f.org, WorkspaceID: "ws_walk", UserID: f.user, Agent: "claude", IDs: []string{oauth.ID, key.ID, bedrock.ID}}
		rt := runtimeFor(db, f.store, srv.URL)

		got, err := rt.Current(ctx, chain)
		if err != nil || got.Method != "oauth" || got.Env["CLAUDE_CODE_OAUTH_TOKEN"] == "" || len(got.Env) != 1 {
			t.Fatalf("first = %+v, %v", got, err)
		}
		// A rejected OAuth token is force-rotated first (the grant is alive).
		rotated, err := rt.Rejected(ctx, chain, oauth.ID, got.Version)
		if err != nil || rotated.Method != "oauth" || rotated.Version != got.Version+1 || rotated.Env["CLAUDE_CODE_OAUTH_TOKEN"] == got.Env["CLAUDE_CODE_OAUTH_TOKEN"] {
			t.Fatalf("force-rotate = %+v, %v", rotated, err)
		}
		// A stale report (someone rotated since) hands out the current one, no refresh.
		again, err := rt.Rejected(ctx, chain, oauth.ID, got.Version)
		if err != nil || again.Version != rotated.Version || srv.Refreshes() != 1 {
			t.Fatalf("stale rejection = %+v, %v, %d refreshes", again, err, srv.Refreshes())
		}
		// Kill the grant upstream by reusing the first refresh token (family revoked).
		ep := oauthrefresh.Endpoint{URL: srv.URL, ClientID: strictoauth.ClientID}
		if err := revokeFamily(ctx, ep, f, oauth.ID); err != nil {
			t.Fatal(err)
		}
		next, err := rt.Rejected(ctx, chain, oauth.ID, rotated.Version+1)
		if err != nil || next.Method != "api_key" || next.Env["ANTHROPIC_API_KEY"] == "" || len(next.Env) != 1 {
			t.Fatalf("after rejected refresh = %+v, %v", next, err)
		}
		if c, _ := f.store.Get(ctx, db, oauth.ID); c.Status != "unusable" || c.StatusReason == "" {
			t.Fatalf("oauth credential = %+v", c)
		}
		bed, err := rt.Rejected(ctx, chain, key.ID, next.Version)
		if err != nil || bed.Method != "bedrock" || bed.Env["CLAUDE_CODE_USE_BEDROCK"] != "1" || bed.Env["AWS_REGION"] != "us-east-1" || bed.Env["ANTHROPIC_API_KEY"] != "" {
			t.Fatalf("after rejected key = %+v, %v", bed, err)
		}
		_, err = rt.Rejected(ctx, chain, bedrock.ID, bed.Version)
		var e *errs.Error
		if !errors.As(err, &e) || e.Code != "auth_exhausted" || e.Message != "Couldn't authenticate with Claude after multiple attempts" || !errors.Is(err, errs.ErrConflict) {
			t.Fatalf("exhausted = %v", err)
		}
		// The org's Bedrock credential is shared: one person's report takes
		// it out of that workspace's chain only.
		if c, _ := f.store.Get(ctx, db, bedrock.ID); c.Status != "active" {
			t.Fatalf("one report ended the shared credential: %+v", c)
		}
		if n := unusableEntries(t, db, f.org); n != 2 {
			t.Fatalf("%d unusable audit entries, want 2", n)
		}
		assertReporting(ctx, t, rt, f, bedrock)
	})
}

// assertReporting walks the quorum for a shared credential that f.user's
// workspace already reported: more reports from the same person change
// nothing elsewhere, a second person's report ends it for everyone.
func assertReporting(ctx context.Context, t *testing.T, rt *credstore.Runtime, f fixture, shared credstore.Credential) {
	t.Helper()
	only := func(ws, user string) credstore.Chain {
		return credstore.Chain{OrgID: f.org, WorkspaceID: ws, UserID: user, Agent: shared.Agent, IDs: []string{shared.ID}}
	}
	if _, err := rt.Rejected(ctx, only("ws_same_person", f.user), shared.ID, shared.Version); !isExhausted(err) {
		t.Fatalf("same person's second workspace after its report = %v", err)
	}
	if got, err := rt.Current(ctx, only("ws_other_person", "usr_other")); err != nil || got.CredentialID != shared.ID {
		t.Fatalf("another person's workspace before the quorum = %+v, %v", got, err)
	}
	if _, err := rt.Rejected(ctx, only("ws_other_person", "usr_other"), shared.ID, shared.Version); !isExhausted(err) {
		t.Fatalf("second person's report = %v", err)
	}
	if c, _ := f.store.Get(ctx, f.db, shared.ID); c.Status != "unusable" {
		t.Fatalf("two people's reports left the shared credential %+v", c)
	}
	if _, err := rt.Current(ctx, only("ws_third", "usr_third")); !isExhausted(err) {
		t.Fatalf("a third workspace after the quorum = %v", err)
	}
	if n := unusableEntries(t, f.db, f.org); n != 3 {
		t.Fatalf("%d unusable audit entries, want 3", n)
	}
}

func isExhausted(err error) bool {
	var e *errs.Error
	return errors.As(err, &e) && e.Code == "auth_exhausted"
}

func unusableEntries(t *testing.T, db *sqldb.DB, org string) int {
	t.Helper()
	log, err := identity.NewStore().AuditLog(context.Background(), db, org, 50)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, entry := range log {
		if entry.Action == "credential.unusable" {
			n++
		}
	}
	return n
}

// revokeFamily presents an already used refresh token of the credential's
// family, so the strict server revokes the whole family (as a provider does
// when a token leaks).
func revokeFamily(ctx context.Context, ep oauthrefresh.Endpoint, f fixture, id string) error {
	_, sec, err := f.store.Open(ctx, f.db, id)
	if err != nil {
		return err
	}
	if _, err := ep.Refresh(ctx, sec.RefreshToken); err != nil { // rotates: sec.RefreshToken is now used
		return err
	}
	if _, err := ep.Refresh(ctx, sec.RefreshToken); !oauthrefresh.IsRejected(err) { // reuse → family revoked
		return errors.New("reuse was not rejected")
	}
	return nil
}

// A token endpoint outage is not a rejection: 503, and the credential stays.
func TestRefreshOutageKeepsCredential(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"500", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }},
		{"timeout", func(w http.ResponseWriter, r *http.Request) { time.Sleep(3 * time.Second) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			db := sqldbtest.New(t, sqldb.SQLite, sets...)
			f := newFixture(t, db)
			c, err := f.store.Put(context.Background(), db, credstore.Owner{Scope: "user", ID: f.user}, "claude", "oauth",
				credstore.Secret{AccessToken: "at-1", RefreshToken: "rt-1", ExpiresAt: time.Now().Add(time.Minute)}, f.by)
			if err != nil {
				t.Fatal(err)
			}
			rt := runtimeFor(db, f.store, srv.URL)
			_, err = rt.Current(context.Background(), credstore.Chain{OrgID: f.org, Agent: "claude", IDs: []string{c.ID}})
			if !errors.Is(err, errs.ErrUnavailable) {
				t.Fatalf("outage answered %v, want unavailable (503)", err)
			}
			if got, _ := f.store.Get(context.Background(), db, c.ID); got.Status != "active" || got.Version != c.Version {
				t.Fatalf("credential changed by an outage: %+v", got)
			}
		})
	}
}

func TestCodexEnvAndFiles(t *testing.T) {
	t.Parallel()
	db := sqldbtest.New(t, sqldb.SQLite, sets...)
	f := newFixture(t, db)
	oauth := f.put(t, "user", "codex", "oauth")
	key := f.put(t, "org", "codex", "api_key")
	rt := runtimeFor(db, f.store, "http://127.0.0.1:1")
	got, err := rt.Current(context.Background(), credstore.Chain{OrgID: f.org, Agent: "codex", IDs: []string{oauth.ID, key.ID}})
	if err != nil {
		t.Fatal(err)
	}
	var auth struct {
		AuthMode string            `json:"auth_mode"`
		APIKey   *string           `json:"OPENAI_API_KEY"`
		Tokens   map[string]string `json:"tokens"`
		Last     string            `json:"last_refresh"`
	}
	if err := json.Unmarshal([]byte(got.Files[".codex/auth.json"]), &auth); err != nil {
		t.Fatal(err)
	}
	if len(got.Env) != 0 || auth.AuthMode != "chatgpt" || auth.APIKey != nil || auth.Tokens["id_token"] != "CODEX-ID-MARKER-8888" || auth.Tokens["account_id"] != "acct-1" || auth.Last == "" {
		t.Fatalf("codex oauth = %+v / %+v", got, auth)
	}
	if auth.Tokens["refresh_token"] != "" || auth.Tokens["access_token"] != "CODEX-ACCESS-MARKER-6666" || strings.Contains(got.Files[".codex/auth.json"], "CODEX-REFRESH-MARKER") {
		t.Fatalf("the workspace's auth.json carries the refresh token: %s", got.Files[".codex/auth.json"])
	}
	_, err = rt.Rejected(context.Background(), credstore.Chain{OrgID: f.org, WorkspaceID: "ws_codex", UserID: f.user, Agent: "codex", IDs: []string{key.ID}}, key.ID, key.Version)
	if err == nil || !strings.Contains(err.Error(), "Couldn't authenticate with Codex after multiple attempts") {
		t.Fatalf("codex exhausted = %v", err)
	}
}
