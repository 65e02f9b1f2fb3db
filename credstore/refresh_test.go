package credstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/credstore"
	"github.com/tryreplicas/gateway/credstore/oauthrefresh"
	"github.com/tryreplicas/gateway/credstore/oauthrefresh/strictoauth"
	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
)

// holdFirstRefresh makes srv hold the answer to its first refresh (already
// rotated) until release is closed; rotated is closed when it is held.
func holdFirstRefresh(srv *strictoauth.Server) (rotated, release chan struct{}) {
	rotated, release = make(chan struct{}), make(chan struct{})
	var once sync.Once
	srv.Intercept(func(a strictoauth.Answer) bool {
		if a.Grant == "refresh_token" {
			once.Do(func() {
				close(rotated)
				<-release
			})
		}
		return true
	})
	return rotated, release
}

func accessToken(t *testing.T, f fixture, id string) credstore.Secret {
	t.Helper()
	_, sec, err := f.store.Open(context.Background(), f.db, id)
	if err != nil {
		t.Fatal(err)
	}
	return sec
}

// familyAlive reports whether the stored refresh token still works at srv.
// rotatedOnce checks that the provider rotated the credential exactly once,
// that it is active and settled, and that its token family still works.
func rotatedOnce(t *testing.T, f fixture, srv *strictoauth.Server, db *sqldb.DB, id string) {
	t.Helper()
	if c, _ := f.store.Get(context.Background(), db, id); c.Status != credstore.StatusActive || c.RefreshState != credstore.RefreshSettled {
		t.Fatalf("credential after the rotation = %+v, want active and settled", c)
	}
	if n := srv.Refreshes(); n != 1 {
		t.Fatalf("provider saw %d refreshes, want 1", n)
	}
	if err := familyAlive(t, f, srv, id); err != nil {
		t.Fatalf("token family revoked: %v", err)
	}
}

func familyAlive(t *testing.T, f fixture, srv *strictoauth.Server, id string) error {
	t.Helper()
	srv.Intercept(nil)
	ep := oauthrefresh.Endpoint{URL: srv.URL, ClientID: strictoauth.ClientID}
	_, err := ep.Refresh(context.Background(), accessToken(t, f, id).RefreshToken)
	return err
}

// The provider rotates, then the workspace that asked goes away before the
// answer arrives: the rotation is stored anyway, the next fetch gets the new
// token without another refresh, and the token family is still valid.
func TestRotationStoredAfterCallerLeaves(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		srv := strictoauth.New()
		defer srv.Close()
		f := newFixture(t, db)
		cred := putOAuth(t, f, srv, time.Minute)
		before := accessToken(t, f, cred.ID)
		chain := credstore.Chain{OrgID: f.org, Agent: "claude", IDs: []string{cred.ID}}
		rt := runtimeFor(db, f.store, srv.URL)
		rotated, release := holdFirstRefresh(srv)

		ctx, leave := context.WithCancel(context.Background())
		left := make(chan error, 1)
		go func() {
			_, err := rt.Current(ctx, chain)
			left <- err
		}()
		<-rotated // the provider has rotated the family; its answer is on hold
		leave()
		if err := <-left; err == nil {
			t.Fatal("the workspace that left got an answer")
		}
		close(release)

		got, err := rt.Current(context.Background(), chain)
		if err != nil {
			t.Fatalf("next fetch: %v", err)
		}
		if tok := got.Env["CLAUDE_CODE_OAUTH_TOKEN"]; tok == "" || tok == before.AccessToken || got.Version != cred.Version+1 {
			t.Fatalf("next fetch = version %d, new token %v; want version %d and the rotated token", got.Version, tok != before.AccessToken, cred.Version+1)
		}
		rotatedOnce(t, f, srv, db, cred.ID)
	})
}

// The provider rotates, then the connection drops before its answer: the
// outcome is recorded as unknown (one 503), the token is re-sent once, and
// the provider's reuse answer (or a second lost answer) ends the credential:
// the chain falls back to the API key, with no further refresh and no 503.
func TestLostRotationFallsBackCleanly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		drop func(refresh int64) bool // whether the answer to the n-th refresh is lost
	}{
		{"first answer lost, reuse refused", func(n int64) bool { return n == 1 }},
		{"every answer lost", func(int64) bool { return true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
				ctx := context.Background()
				srv := strictoauth.New()
				defer srv.Close()
				srv.Intercept(func(a strictoauth.Answer) bool {
					return a.Grant != "refresh_token" || !tc.drop(srv.Refreshes())
				})
				f := newFixture(t, db)
				cred := putOAuth(t, f, srv, time.Minute)
				key := f.put(t, "org", "claude", "api_key")
				chain := credstore.Chain{OrgID: f.org, Agent: "claude", IDs: []string{cred.ID, key.ID}}
				rt := runtimeFor(db, f.store, srv.URL)

				if _, err := rt.Current(ctx, chain); !errors.Is(err, errs.ErrUnavailable) {
					t.Fatalf("first fetch = %v, want 503 (outcome unknown)", err)
				}
				if c, _ := f.store.Get(ctx, db, cred.ID); c.Status != credstore.StatusActive || c.RefreshState != credstore.RefreshUnknown || c.Version != cred.Version {
					t.Fatalf("after the lost answer: %+v, want active, refresh state unknown, same version", c)
				}
				for i := 0; i < 4; i++ {
					got, err := rt.Current(ctx, chain)
					if err != nil || got.Method != "api_key" || got.CredentialID != key.ID {
						t.Fatalf("fetch %d = %+v, %v; want the API key", i+2, got, err)
					}
				}
				if n := srv.Refreshes(); n != 2 {
					t.Fatalf("%d refreshes, want 2 (the send and one re-send)", n)
				}
				if c, _ := f.store.Get(ctx, db, cred.ID); c.Status != credstore.StatusUnusable || c.StatusReason == "" {
					t.Fatalf("oauth credential = %+v, want unusable with a reason", c)
				}
			})
		})
	}
}

// A proxy in front of the provider times out before forwarding: the outcome
// is unknown, and the one re-send of the same token rotates normally.
func TestUnknownOutcomeResentOnce(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		srv := strictoauth.New()
		defer srv.Close()
		target, _ := url.Parse(srv.URL)
		proxy := httputil.NewSingleHostReverseProxy(target)
		var calls atomic.Int64
		front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) == 1 {
				_, _ = io.ReadAll(r.Body)
				w.WriteHeader(http.StatusGatewayTimeout)
				return
			}
			proxy.ServeHTTP(w, r)
		}))
		defer front.Close()
		f := newFixture(t, db)
		cred := putOAuth(t, f, srv, time.Minute)
		before := accessToken(t, f, cred.ID)
		chain := credstore.Chain{OrgID: f.org, Agent: "claude", IDs: []string{cred.ID}}
		rt := runtimeFor(db, f.store, front.URL)

		if _, err := rt.Current(ctx, chain); !errors.Is(err, errs.ErrUnavailable) {
			t.Fatalf("first fetch = %v, want 503", err)
		}
		got, err := rt.Current(ctx, chain)
		if err != nil || got.Method != "oauth" || got.Env["CLAUDE_CODE_OAUTH_TOKEN"] == before.AccessToken || got.Version != cred.Version+1 {
			t.Fatalf("after the re-send = %+v, %v", got, err)
		}
		rotatedOnce(t, f, srv, db, cred.ID)
	})
}

// A workspace reports the OAuth token rejected while another workspace's
// fetch is refreshing it for being near expiry: exactly one rotation, and
// the rejecting workspace gets the new token, whether or not the fetching
// workspace stays to read its answer.
func TestForcedRejectionDuringExpiryRefresh(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		fetcherLeaves bool
	}{
		{"fetching workspace stays", false},
		{"fetching workspace leaves", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
				srv := strictoauth.New()
				defer srv.Close()
				f := newFixture(t, db)
				cred := putOAuth(t, f, srv, time.Minute)
				key := f.put(t, "org", "claude", "api_key")
				before := accessToken(t, f, cred.ID)
				chain := credstore.Chain{OrgID: f.org, Agent: "claude", IDs: []string{cred.ID, key.ID}}
				rt := runtimeFor(db, f.store, srv.URL)
				rotated, release := holdFirstRefresh(srv)

				type result struct {
					got credstore.Issued
					err error
				}
				fetchCtx, leave := context.WithCancel(context.Background())
				defer leave()
				fetched, rejected := make(chan result, 1), make(chan result, 1)
				go func() {
					got, err := rt.Current(fetchCtx, chain)
					fetched <- result{got, err}
				}()
				<-rotated
				go func() {
					got, err := rt.Rejected(context.Background(), chain, cred.ID, cred.Version)
					rejected <- result{got, err}
				}()
				if tc.fetcherLeaves {
					leave()
					if r := <-fetched; r.err == nil {
						t.Fatal("the workspace that left got an answer")
					}
				}
				close(release)

				r := <-rejected
				if r.err != nil || r.got.Method != "oauth" || r.got.Version != cred.Version+1 ||
					r.got.Env["CLAUDE_CODE_OAUTH_TOKEN"] == "" || r.got.Env["CLAUDE_CODE_OAUTH_TOKEN"] == before.AccessToken {
					t.Fatalf("rejecting workspace got %s v%d (%v); want the rotated OAuth token at v%d", r.got.Method, r.got.Version, r.err, cred.Version+1)
				}
				if !tc.fetcherLeaves {
					if fr := <-fetched; fr.err != nil || fr.got.Env["CLAUDE_CODE_OAUTH_TOKEN"] != r.got.Env["CLAUDE_CODE_OAUTH_TOKEN"] {
						t.Fatalf("fetching workspace got %+v, %v; want the same rotated token", fr.got, fr.err)
					}
				}
				if n := srv.Refreshes(); n != 1 {
					t.Fatalf("%d rotations, want exactly 1", n)
				}
				if err := familyAlive(t, f, srv, cred.ID); err != nil {
					t.Fatalf("token family revoked: %v", err)
				}
			})
		})
	}
}

// A provider that does not rotate refresh tokens answers without one: the
// old refresh token is kept and sent again next time.
func TestAnswerWithoutRefreshTokenKeepsTheOld(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		var mu sync.Mutex
		var sent []string
		var n int
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var body map[string]string
			_ = json.NewDecoder(r.Body).Decode(&body)
			mu.Lock()
			sent = append(sent, body["refresh_token"])
			n++
			access := "sk-ant-oat01-ROTATED-" + string(rune('0'+n))
			mu.Unlock()
			_ = json.NewEncoder(w).Encode(map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": 3600})
		}))
		defer srv.Close()
		f := newFixture(t, db)
		cred := f.put(t, "user", "claude", "oauth")
		original := accessToken(t, f, cred.ID).RefreshToken
		chain := credstore.Chain{OrgID: f.org, Agent: "claude", IDs: []string{cred.ID}}
		rt := runtimeFor(db, f.store, srv.URL)

		first, err := rt.Rejected(ctx, chain, cred.ID, cred.Version)
		if err != nil || first.Env["CLAUDE_CODE_OAUTH_TOKEN"] != "sk-ant-oat01-ROTATED-1" {
			t.Fatalf("first rotation = %+v, %v", first, err)
		}
		second, err := rt.Rejected(ctx, chain, cred.ID, first.Version)
		if err != nil || second.Env["CLAUDE_CODE_OAUTH_TOKEN"] != "sk-ant-oat01-ROTATED-2" || second.Version != cred.Version+2 {
			t.Fatalf("second rotation = %+v, %v", second, err)
		}
		if sec := accessToken(t, f, cred.ID); sec.RefreshToken != original {
			t.Fatalf("stored refresh token %q, want the original kept", sec.RefreshToken)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(sent) != 2 || sent[0] != original || sent[1] != original {
			t.Fatalf("refresh tokens sent = %q, want the original twice", sent)
		}
	})
}

// Codex over ChatGPT sign-in: a rejection force-rotates the OAuth tokens
// (auth.json carries the new ones, the id token and account are kept); once
// the grant is dead the next rejection falls back to the org's API key.
func TestCodexForceRotateThenAPIKey(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		srv := strictoauth.New()
		defer srv.Close()
		f := newFixture(t, db)
		login, err := srv.Login(ctx)
		if err != nil {
			t.Fatal(err)
		}
		oauth, err := f.store.Put(ctx, db, credstore.Owner{Scope: "user", ID: f.user}, "codex", "oauth", credstore.Secret{
			AccessToken: login.AccessToken, RefreshToken: login.RefreshToken, IDToken: "CODEX-ID-MARKER-8888", AccountID: "acct-1",
			ExpiresAt: time.Now().Add(time.Hour)}, f.by)
		if err != nil {
			t.Fatal(err)
		}
		key := f.put(t, "org", "codex", "api_key")
		chain := credstore.Chain{OrgID: f.org, Agent: "codex", IDs: []string{oauth.ID, key.ID}}
		rt := runtimeFor(db, f.store, srv.URL)

		rotated, err := rt.Rejected(ctx, chain, oauth.ID, oauth.Version)
		if err != nil || rotated.Method != "oauth" || rotated.Version != oauth.Version+1 || len(rotated.Env) != 0 {
			t.Fatalf("force-rotate = %+v, %v", rotated, err)
		}
		var auth struct {
			AuthMode string            `json:"auth_mode"`
			APIKey   *string           `json:"OPENAI_API_KEY"`
			Tokens   map[string]string `json:"tokens"`
		}
		if err := json.Unmarshal([]byte(rotated.Files[".codex/auth.json"]), &auth); err != nil {
			t.Fatal(err)
		}
		if auth.AuthMode != "chatgpt" || auth.APIKey != nil || auth.Tokens["access_token"] == login.AccessToken || auth.Tokens["access_token"] == "" ||
			auth.Tokens["refresh_token"] == login.RefreshToken || auth.Tokens["id_token"] != "CODEX-ID-MARKER-8888" || auth.Tokens["account_id"] != "acct-1" {
			t.Fatalf("rotated auth.json = %+v", auth)
		}
		if n := srv.Refreshes(); n != 1 {
			t.Fatalf("%d refreshes, want 1", n)
		}
		ep := oauthrefresh.Endpoint{URL: srv.URL, ClientID: strictoauth.ClientID}
		if err := revokeFamily(ctx, ep, f, oauth.ID); err != nil {
			t.Fatal(err)
		}
		next, err := rt.Rejected(ctx, chain, oauth.ID, rotated.Version)
		if err != nil || next.Method != "api_key" || next.CredentialID != key.ID {
			t.Fatalf("after the grant died = %+v, %v", next, err)
		}
		if next.Env["OPENAI_API_KEY"] != "sk-proj-CODEXKEY-MARKER-9999" || next.Env["CODEX_API_KEY"] != "sk-proj-CODEXKEY-MARKER-9999" || len(next.Env) != 2 {
			t.Fatalf("api key env = %v", next.Env)
		}
		auth.Tokens = nil
		if err := json.Unmarshal([]byte(next.Files[".codex/auth.json"]), &auth); err != nil || auth.AuthMode != "apikey" || auth.Tokens != nil {
			t.Fatalf("api key auth.json = %s (%v)", next.Files[".codex/auth.json"], err)
		}
		if c, _ := f.store.Get(ctx, db, oauth.ID); c.Status != credstore.StatusUnusable {
			t.Fatalf("codex oauth = %+v, want unusable", c)
		}
	})
}

// A rejection without a version (or version 0, which no credential has) is
// refused rather than read as "already rotated".
func TestRejectedNeedsVersion(t *testing.T) {
	t.Parallel()
	db := sqldbtest.New(t, sqldb.SQLite, sets...)
	f := newFixture(t, db)
	key := f.put(t, "org", "claude", "api_key")
	rt := runtimeFor(db, f.store, "http://127.0.0.1:1")
	_, err := rt.Rejected(context.Background(), credstore.Chain{OrgID: f.org, Agent: "claude", IDs: []string{key.ID}}, key.ID, 0)
	var e *errs.Error
	if !errors.As(err, &e) || e.Code != "version_required" || !errors.Is(err, errs.ErrInvalid) {
		t.Fatalf("version 0 = %v, want 400 version_required", err)
	}
	if c, _ := f.store.Get(context.Background(), db, key.ID); c.Status != credstore.StatusActive {
		t.Fatalf("the key was marked %s by a rejection without version", c.Status)
	}
}

// The refresh state is recorded at a version, survives nothing but the
// secret it describes: a rotation or a replacement settles it.
func TestRefreshStateStorage(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		c := f.put(t, "user", "claude", "oauth")
		if c.RefreshState != credstore.RefreshSettled {
			t.Fatalf("new credential state %q", c.RefreshState)
		}
		if err := f.store.SetRefreshState(ctx, db, c.ID, c.Version, credstore.RefreshUnknown); err != nil {
			t.Fatal(err)
		}
		got, _ := f.store.Get(ctx, db, c.ID)
		if got.RefreshState != credstore.RefreshUnknown || got.Version != c.Version {
			t.Fatalf("after recording = %+v", got)
		}
		if err := f.store.SetRefreshState(ctx, db, c.ID, c.Version-1, credstore.RefreshResent); !errors.Is(err, errs.ErrConflict) {
			t.Fatalf("stale version = %v, want conflict", err)
		}
		sec := accessToken(t, f, c.ID)
		sec.AccessToken = "sk-ant-oat01-NEXT"
		rotated, err := f.store.UpdateSecret(ctx, db, c.ID, c.Version, sec)
		if err != nil || rotated.RefreshState != credstore.RefreshSettled || rotated.Version != c.Version+1 {
			t.Fatalf("rotation = %+v, %v", rotated, err)
		}
		if err := f.store.SetRefreshState(ctx, db, c.ID, rotated.Version, credstore.RefreshResent); err != nil {
			t.Fatal(err)
		}
		replaced := f.put(t, "user", "claude", "oauth")
		if replaced.RefreshState != credstore.RefreshSettled || replaced.ID != c.ID {
			t.Fatalf("replacement = %+v", replaced)
		}
		if err := f.store.MarkUnusable(ctx, db, c.ID, "test", f.by); err != nil {
			t.Fatal(err)
		}
		if err := f.store.SetRefreshState(ctx, db, c.ID, replaced.Version, credstore.RefreshUnknown); !errors.Is(err, errs.ErrConflict) {
			t.Fatalf("unusable credential = %v, want conflict", err)
		}
	})
}
