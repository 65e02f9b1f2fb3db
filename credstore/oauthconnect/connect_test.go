package oauthconnect_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/credstore"
	"github.com/tryreplicas/gateway/credstore/oauthconnect"
	"github.com/tryreplicas/gateway/credstore/oauthrefresh"
	"github.com/tryreplicas/gateway/credstore/oauthrefresh/strictoauth"
	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/oauthstate"
)

type fixture struct {
	db     *sqldb.DB
	store  *credstore.Store
	svc    *oauthconnect.Service
	oauth  *strictoauth.Server
	org    string
	admin  string
	member string
}

func newFixture(t *testing.T, db *sqldb.DB) fixture {
	t.Helper()
	ctx := context.Background()
	ids := identity.NewStore()
	org, admin, _, err := ids.Bootstrap(ctx, db, "acme", "admin@example.com", "")
	if err != nil {
		t.Fatal(err)
	}
	member, err := ids.EnsureUser(ctx, db, "member@example.com", "Member")
	if err != nil {
		t.Fatal(err)
	}
	if err := ids.AddMember(ctx, db, org.ID, member.ID, identity.RoleMember); err != nil {
		t.Fatal(err)
	}
	keys, err := credstore.NewKeyring([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	oauth := strictoauth.New()
	t.Cleanup(oauth.Close)
	store := credstore.NewStore(keys, ids)
	claude := oauthconnect.Provider{Agent: credstore.AgentClaude, AuthorizeURL: oauth.AuthorizeURL(), TokenURL: oauth.URL + "/v1/oauth/token",
		ClientID: strictoauth.ClientID, RedirectURL: oauth.CodePageURL(), Scopes: []string{"org:create_api_key", "user:profile", "user:inference"}}
	codex := oauthconnect.Provider{Agent: credstore.AgentCodex, AuthorizeURL: oauth.AuthorizeURL(), TokenURL: oauth.URL + "/oauth/token",
		ClientID: strictoauth.ClientID, RedirectURL: oauth.RedirectURL(), Scopes: []string{"openid", "profile", "email", "offline_access"}}
	svc := oauthconnect.New(db, oauthstate.New([]byte("state-key")), store, ids, claude, codex)
	return fixture{db: db, store: store, svc: svc, oauth: oauth, org: org.ID, admin: admin.ID, member: member.ID}
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// authorize opens the authorization address as a browser would and returns
// what the person pastes: the code page's text (Claude) or the address the
// browser was sent to (OpenAI).
func authorize(t *testing.T, agent credstore.Agent, authURL string) string {
	t.Helper()
	resp, err := noRedirect.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode/100 != 3 || loc == "" {
		t.Fatalf("authorize answered %d %s", resp.StatusCode, body)
	}
	if agent == credstore.AgentCodex {
		return loc
	}
	resp, err = http.Get(loc)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`<code id=code>([^<]*)</code>`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("code page: %s", page)
	}
	return string(m[1])
}

func TestConnect(t *testing.T) {
	sqldbtest.Each(t, []sqldb.Set{credstore.Migrations, oauthstate.Migrations}, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		for _, tc := range []struct {
			agent credstore.Agent
			scope string
			user  string
		}{
			{credstore.AgentClaude, credstore.ScopeUser, f.member},
			{credstore.AgentCodex, credstore.ScopeUser, f.member},
			{credstore.AgentClaude, credstore.ScopeOrg, f.admin},
			{credstore.AgentCodex, credstore.ScopeOrg, f.admin},
		} {
			t.Run(string(tc.agent)+"/"+tc.scope, func(t *testing.T) {
				req := oauthconnect.Request{Agent: tc.agent, Scope: tc.scope, OrgID: f.org, UserID: tc.user, Session: "sess-" + tc.user}
				authURL, err := f.svc.Start(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				u, _ := url.Parse(authURL)
				q := u.Query()
				if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("response_type") != "code" {
					t.Fatalf("authorization address lacks PKCE S256: %s", authURL)
				}
				if (q.Get("code") == "true") != (tc.agent == credstore.AgentClaude) {
					t.Fatalf("code=true only for Claude: %s", authURL)
				}
				pasted := authorize(t, tc.agent, authURL)
				codes := f.oauth.Codes()
				cred, err := f.svc.Finish(ctx, req, pasted)
				if err != nil {
					t.Fatal(err)
				}
				if f.oauth.Codes() != codes+1 {
					t.Fatalf("code exchanges: %d, want %d", f.oauth.Codes(), codes+1)
				}
				if cred.Method != credstore.MethodOAuth || cred.Scope != tc.scope || cred.Status != credstore.StatusActive || cred.ExpiresAt == nil || cred.ExpiresAt.Before(time.Now().Add(50*time.Minute)) {
					t.Fatalf("credential %+v", cred)
				}
				_, sec, err := f.store.Open(ctx, db, cred.ID)
				if err != nil {
					t.Fatal(err)
				}
				if tc.agent == credstore.AgentCodex && (sec.AccountID != strictoauth.AccountID || sec.IDToken == "") {
					t.Fatalf("codex secret without the account from the id token: account %q", sec.AccountID)
				}
				if cred.Hint != sec.AccessToken[len(sec.AccessToken)-4:] {
					t.Fatalf("hint %q is not the access token's end", cred.Hint)
				}
				// The stored refresh token is a live one of the provider's family.
				tok, err := oauthrefresh.Endpoint{URL: f.oauth.URL, ClientID: strictoauth.ClientID}.Refresh(ctx, sec.RefreshToken)
				if err != nil || tok.AccessToken == sec.AccessToken {
					t.Fatalf("refresh with the stored token: %v", err)
				}
				// The paste works once.
				if _, err := f.svc.Finish(ctx, req, pasted); !errors.Is(err, oauthstate.ErrBad) {
					t.Fatalf("second finish: %v, want a bad state", err)
				}
			})
		}
	})
}

func TestConnectRefused(t *testing.T) {
	sqldbtest.Each(t, []sqldb.Set{credstore.Migrations, oauthstate.Migrations}, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		mine := oauthconnect.Request{Agent: credstore.AgentClaude, Scope: credstore.ScopeUser, OrgID: f.org, UserID: f.member, Session: "sess-a"}
		start := func(t *testing.T, r oauthconnect.Request) string {
			t.Helper()
			authURL, err := f.svc.Start(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			return authorize(t, r.Agent, authURL)
		}
		for _, tc := range []struct {
			name   string
			finish func(t *testing.T) error
			want   error
		}{
			{"another session", func(t *testing.T) error {
				other := mine
				other.Session = "sess-b"
				_, err := f.svc.Finish(ctx, other, start(t, mine))
				return err
			}, oauthstate.ErrBad},
			{"another user in the same session", func(t *testing.T) error {
				other := mine
				other.UserID = f.admin
				_, err := f.svc.Finish(ctx, other, start(t, mine))
				return err
			}, oauthstate.ErrBad},
			{"another scope", func(t *testing.T) error {
				byAdmin := mine
				byAdmin.UserID = f.admin
				org := byAdmin
				org.Scope = credstore.ScopeOrg
				_, err := f.svc.Finish(ctx, org, start(t, byAdmin))
				return err
			}, oauthstate.ErrBad},
			{"another agent", func(t *testing.T) error {
				codex := mine
				codex.Agent = credstore.AgentCodex
				authURL, err := f.svc.Start(ctx, mine)
				if err != nil {
					t.Fatal(err)
				}
				resp, err := noRedirect.Get(authURL)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				_, err = f.svc.Finish(ctx, codex, resp.Header.Get("Location"))
				return err
			}, oauthstate.ErrBad},
			{"org scope by a member", func(t *testing.T) error {
				org := mine
				org.Scope = credstore.ScopeOrg
				_, err := f.svc.Start(ctx, org)
				return err
			}, errs.ErrForbidden},
			{"no session", func(t *testing.T) error {
				none := mine
				none.Session = ""
				_, err := f.svc.Start(ctx, none)
				return err
			}, errs.ErrUnauthorized},
			{"forged state", func(t *testing.T) error {
				code, _, _ := strings.Cut(start(t, mine), "#")
				_, err := f.svc.Finish(ctx, mine, code+"#st_forged.00")
				return err
			}, oauthstate.ErrBad},
			{"a code for another verifier", func(t *testing.T) error {
				// The person pastes the code of flow 1 with the state of flow 2:
				// the state is valid, but its verifier does not match the code.
				code1, _, _ := strings.Cut(start(t, mine), "#")
				_, state2, _ := strings.Cut(start(t, mine), "#")
				_, err := f.svc.Finish(ctx, mine, code1+"#"+state2)
				return err
			}, oauthconnect.ErrCodeRejected},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := tc.finish(t)
				if !errors.Is(err, tc.want) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
				if creds, _ := f.store.List(ctx, db, credstore.Owner{Scope: credstore.ScopeOrg, ID: f.org}); len(creds) != 0 {
					t.Fatalf("org credentials stored: %+v", creds)
				}
				if creds, _ := f.store.List(ctx, db, credstore.Owner{Scope: credstore.ScopeUser, ID: f.member}); len(creds) != 0 {
					t.Fatalf("member credentials stored: %+v", creds)
				}
			})
		}
	})
}

// TestStandInEnforcesPKCE: the stand-in refuses an authorization without a
// challenge or with the plain method, so the flows above prove S256.
func TestStandInEnforcesPKCE(t *testing.T) {
	oauth := strictoauth.New()
	defer oauth.Close()
	base := url.Values{"response_type": {"code"}, "client_id": {strictoauth.ClientID}, "redirect_uri": {oauth.CodePageURL()},
		"scope": {"user:profile"}, "state": {"a-long-enough-state"}}
	for name, extra := range map[string]url.Values{
		"no challenge":     {},
		"plain challenge":  {"code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"plain"}},
		"unknown redirect": {"code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"S256"}, "redirect_uri": {"https://evil.example/cb"}},
	} {
		t.Run(name, func(t *testing.T) {
			q := url.Values{}
			for k, v := range base {
				q[k] = v
			}
			for k, v := range extra {
				q[k] = v
			}
			resp, err := noRedirect.Get(oauth.AuthorizeURL() + "?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if loc != nil && loc.Query().Get("code") != "" {
				t.Fatalf("authorized: %s", loc)
			}
		})
	}
}
