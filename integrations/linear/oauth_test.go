package linear

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/integrations/oauthstate"
)

// oauthEnv is an env whose org installed the app through OAuth.
func oauthEnv(t *testing.T, db *sqldb.DB) *env {
	t.Helper()
	ctx := context.Background()
	e := newEnv(t, db, oauthToken)
	e.app.cfg.ClientID, e.app.cfg.ClientSecret = "client", "client-secret"
	e.app.cfg.AuthorizeURL = e.fake.URL + "/oauth/authorize"
	e.app.states = oauthstate.New([]byte("state-key"))
	// Ada connects as an admin; a connect binds only while its starter is one.
	if _, err := e.db.Exec(ctx, `UPDATE memberships SET role = 'admin' WHERE org_id = $1 AND user_id = $2`, e.orgID, e.ada.ID); err != nil {
		t.Fatal(err)
	}
	link, err := e.app.ConnectURL(ctx, e.orgID, e.ada.ID, "ses_browser")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if !strings.HasPrefix(link, e.fake.URL+"/oauth/authorize?") || q.Get("actor") != "app" || q.Get("scope") != Scopes ||
		!strings.Contains(link, "scope="+Scopes) || q.Get("redirect_uri") != "https://gw.example/oauth/linear/callback" || q.Get("client_id") != "client" || q.Get("state") == "" {
		t.Fatalf("authorize URL %s", link)
	}
	e.fake.AddCode("code-1")
	// Another browser session cannot complete it, and leaves it usable.
	if _, err := e.app.Callback(ctx, q.Get("state"), "code-1", "ses_other"); !errors.Is(err, oauthstate.ErrBad) {
		t.Fatalf("callback in another session: %v", err)
	}
	c, err := e.app.Callback(ctx, q.Get("state"), "code-1", "ses_browser")
	if err != nil || c.AppUserID != appUserID || c.OrganizationID != linearOrg || c.TokenKind != "oauth" {
		t.Fatalf("callback %+v, %v", c, err)
	}
	e.fake.AddCode("code-2")
	if _, err := e.app.Callback(ctx, q.Get("state"), "code-2", "ses_browser"); err == nil {
		t.Fatal("a used state was accepted again")
	}
	return e
}

// expireSoon moves the stored expiry into the refresh margin.
func expireSoon(t *testing.T, e *env) Connection {
	t.Helper()
	ctx := context.Background()
	if _, err := e.db.Exec(ctx, `UPDATE linear_connections SET expires_at = $1 WHERE org_id = $2`, time.Now().UTC().Add(time.Minute), e.orgID); err != nil {
		t.Fatal(err)
	}
	c, err := e.app.store.ByOrg(ctx, e.db, e.orgID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Ten concurrent calls with a token about to expire refresh it once (the
// refresh token rotates), and all of them use the new token.
func TestRefreshOnceUnderConcurrency(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		e := oauthEnv(t, db)
		e.fake.SetEmail(adaID, "ada@example.com")
		stale := expireSoon(t, e)
		var wg sync.WaitGroup
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				client, err := e.app.client(context.Background(), stale)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := UserEmail(context.Background(), client, adaID); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if n := e.fake.Refreshes(); n != 1 {
			t.Fatalf("%d refreshes, want 1", n)
		}
		c, _ := e.app.store.ByOrg(context.Background(), db, e.orgID)
		if c.RefreshState != "" || c.ExpiresAt.Before(time.Now().Add(time.Hour)) || c.refresh == stale.refresh || c.token == stale.token {
			t.Fatalf("after refresh %+v", c)
		}
	})
}

// A refresh whose outcome is unknown (the connection drops) or that Linear
// refuses is never retried with the same refresh token: the current token
// serves until it expires, then the connection asks to be reconnected.
func TestRefreshNeverReplays(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		serve func(w http.ResponseWriter)
		state string
	}{
		{"connection dropped", func(w http.ResponseWriter) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
		}, "in_flight"},
		{"server error", func(w http.ResponseWriter) { w.WriteHeader(http.StatusBadGateway) }, "in_flight"},
		{"refused", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_grant"}`))
		}, "rejected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := sqldbtest.New(t, sqldb.SQLite, sets...)
			e := oauthEnv(t, db)
			var hits atomic.Int32
			tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				tc.serve(w)
			}))
			t.Cleanup(tokens.Close)
			e.app.cfg.TokenURL = tokens.URL
			e.fake.SetEmail(adaID, "ada@example.com")
			stale := expireSoon(t, e)
			ctx := context.Background()
			for i := 0; i < 3; i++ {
				client, err := e.app.client(ctx, stale)
				if err != nil {
					t.Fatalf("call %d while the token is valid: %v", i, err)
				}
				if _, err := UserEmail(ctx, client, adaID); err != nil {
					t.Fatalf("call %d with the current token: %v", i, err)
				}
			}
			if hits.Load() != 1 {
				t.Fatalf("token endpoint called %d times, want 1", hits.Load())
			}
			c, _ := e.app.store.ByOrg(ctx, db, e.orgID)
			if c.RefreshState != tc.state || c.refresh != stale.refresh {
				t.Fatalf("state %q, want %q", c.RefreshState, tc.state)
			}
			e.app.now = func() time.Time { return time.Now().Add(2 * time.Minute) } // the token has expired
			if _, err := e.app.client(ctx, c); !errors.Is(err, ErrReconnect) || !errors.Is(err, errs.ErrUnprocessable) {
				t.Fatalf("expired without refresh: %v", err)
			}
			if hits.Load() != 1 {
				t.Fatal("the refresh token was sent again")
			}
			// Reconnecting makes it usable again.
			if _, err := e.app.ConnectToken(ctx, e.orgID, "", oauthToken, "", "system"); err != nil {
				t.Fatal(err)
			}
			if c, _ := e.app.store.ByOrg(ctx, db, e.orgID); c.RefreshState != "" {
				t.Fatalf("state after reconnect %q", c.RefreshState)
			}
		})
	}
}
