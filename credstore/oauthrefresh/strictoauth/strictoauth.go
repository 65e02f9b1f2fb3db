package strictoauth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/storage"
)

// ClientID is the public client the tests use.
const ClientID = "agent-cli"

// AccountID is the ChatGPT account the id tokens of the authorization code
// grant name in their "https://api.openai.com/auth" claim.
const AccountID = "acct_strict_0001"

// Paths of the pages the authorization code flow uses, under the server's URL.
// The token endpoint answers on every other path.
const (
	AuthorizePath    = "/oauth/authorize"
	CodePagePath     = "/oauth/code/callback" // shows "code#state", as Claude's console page does
	RedirectPagePath = "/auth/callback"       // stands for the CLI's localhost listener; nothing answers there
)

// Server is the strict token endpoint.
type Server struct {
	*httptest.Server
	provider  fosite.OAuth2Provider
	codes     atomic.Int64
	refreshes atomic.Int64
	intercept atomic.Pointer[func(Answer) bool]
}

// Answer is a token answer the server has computed, after it committed the
// grant (for a refresh: the family has rotated), before it is sent.
type Answer struct {
	Grant  string // grant_type of the request
	Status int
}

// Intercept hands every answer to fn before it is sent: fn may block (the
// client waits, or gives up), and returns false to close the connection
// without answering. A nil fn sends answers at once.
func (s *Server) Intercept(fn func(Answer) bool) {
	if fn == nil {
		s.intercept.Store(nil)
		return
	}
	s.intercept.Store(&fn)
}

// New starts the server. Besides the password grant, its client may use the
// authorization code grant with PKCE (S256 only, required) at AuthorizePath,
// redirecting to CodePagePath or RedirectPagePath; the user is signed in and
// consents at once. A grant whose scopes include openid gets an id token
// carrying the OpenAI auth claim with AccountID. Every grant gets a refresh
// token.
func New() *Server {
	s := &Server{}
	s.Server = httptest.NewUnstartedServer(nil)
	base := "http://" + s.Listener.Addr().String()
	store := storage.NewMemoryStore()
	store.Clients[ClientID] = &fosite.DefaultClient{
		ID: ClientID, Public: true,
		RedirectURIs:  []string{base + CodePagePath, base + RedirectPagePath},
		GrantTypes:    []string{"password", "refresh_token", "authorization_code"},
		ResponseTypes: []string{"token", "code"},
		Scopes: []string{"offline", "offline_access", "openid", "profile", "email",
			"org:create_api_key", "user:profile", "user:inference"},
	}
	store.Users["peter"] = storage.MemoryUserRelation{Username: "peter", Password: "secret"}
	cfg := &fosite.Config{
		AccessTokenLifespan:   time.Hour,
		RefreshTokenLifespan:  24 * time.Hour,
		AuthorizeCodeLifespan: 10 * time.Minute,
		GlobalSecret:          []byte("a-32-byte-global-secret-for-hmac"),
		ScopeStrategy:         fosite.ExactScopeStrategy,
		RefreshTokenScopes:    []string{}, // every grant gets a refresh token, as Claude's do
		EnforcePKCE:           true,       // and only S256: plain stays disabled
		IDTokenIssuer:         base,
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(fmt.Sprintf("strictoauth: %v", err))
	}
	s.provider = compose.ComposeAllEnabled(cfg, store, key)
	mux := http.NewServeMux()
	mux.HandleFunc(AuthorizePath, s.authorize)
	mux.HandleFunc(CodePagePath, codePage)
	mux.HandleFunc(RedirectPagePath, redirectPage)
	mux.HandleFunc("/", s.token)
	s.Config.Handler = mux
	s.Start()
	return s
}

// AuthorizeURL is the authorization endpoint; CodePageURL and RedirectURL are
// the two registered redirect addresses.
func (s *Server) AuthorizeURL() string { return s.URL + AuthorizePath }

// CodePageURL is the redirect address whose page shows "code#state".
func (s *Server) CodePageURL() string { return s.URL + CodePagePath }

// RedirectURL is the redirect address standing for a CLI's local listener.
func (s *Server) RedirectURL() string { return s.URL + RedirectPagePath }

// Codes counts authorization code grants received.
func (s *Server) Codes() int64 { return s.codes.Load() }

func newSession() *openid.DefaultSession {
	sess := openid.NewDefaultSession()
	sess.Subject, sess.Username = "peter", "peter"
	sess.Claims.Subject = "peter"
	return sess
}

// authorize signs peter in, grants every requested scope and redirects with
// a code, or redirects (or answers) with fosite's error.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ar, err := s.provider.NewAuthorizeRequest(ctx, r)
	if err != nil {
		s.provider.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	for _, scope := range ar.GetRequestedScopes() {
		ar.GrantScope(scope)
	}
	sess := newSession()
	sess.Claims.AuthTime = time.Now().UTC()
	if ar.GetGrantedScopes().Has("openid") {
		sess.Claims.Add("https://api.openai.com/auth", map[string]any{"chatgpt_account_id": AccountID, "chatgpt_plan_type": "plus"})
		sess.Claims.Add("email", "peter@example.com")
	}
	resp, err := s.provider.NewAuthorizeResponse(ctx, ar, sess)
	if err != nil {
		s.provider.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	s.provider.WriteAuthorizeResponse(ctx, w, ar, resp)
}

// codePage shows what Claude's console shows after an authorization: the
// code and the state joined by '#', for the person to paste.
func codePage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if e := q.Get("error"); e != "" {
		fmt.Fprintf(w, "<!doctype html><title>Error</title><p id=error>%s</p>", html.EscapeString(e))
		return
	}
	fmt.Fprintf(w, "<!doctype html><title>Authentication code</title><p>Paste this into Replicas:</p><code id=code>%s</code>",
		html.EscapeString(q.Get("code")+"#"+q.Get("state")))
}

// redirectPage stands for the CLI's local listener that is not running: the
// browser only keeps the address.
func redirectPage(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprint(w, "<!doctype html><title>Unable to connect</title><p>Nothing listens here. Copy this page's address.</p>")
}

// Refreshes counts refresh-token grants received.
func (s *Server) Refreshes() int64 { return s.refreshes.Load() }

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var fields map[string]string
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &fields); err != nil {
			http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
			return
		}
		form := url.Values{}
		for k, v := range fields {
			form.Set(k, v)
		}
		r.Body = io.NopCloser(bytes.NewBufferString(form.Encode()))
		r.ContentLength = int64(len(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if err := r.ParseForm(); err == nil {
		switch r.PostForm.Get("grant_type") {
		case "refresh_token":
			s.refreshes.Add(1)
		case "authorization_code":
			s.codes.Add(1)
		}
	}
	fn := s.intercept.Load()
	if fn == nil {
		s.answer(w, r)
		return
	}
	rec := httptest.NewRecorder()
	s.answer(rec, r)
	if !(*fn)(Answer{Grant: r.PostForm.Get("grant_type"), Status: rec.Code}) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
		}
		return
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// answer processes the grant and writes fosite's answer.
func (s *Server) answer(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ar, err := s.provider.NewAccessRequest(ctx, r, newSession())
	if err != nil {
		s.provider.WriteAccessError(ctx, w, ar, err)
		return
	}
	if ar.GetGrantTypes().ExactOne("password") {
		ar.GrantScope("offline")
	}
	resp, err := s.provider.NewAccessResponse(ctx, ar)
	if err != nil {
		s.provider.WriteAccessError(ctx, w, ar, err)
		return
	}
	s.provider.WriteAccessResponse(ctx, w, ar, resp)
}

// Tokens is a fresh grant.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
}

// Login starts a token family with the password grant.
func (s *Server) Login(ctx context.Context) (Tokens, error) {
	form := url.Values{"grant_type": {"password"}, "username": {"peter"}, "password": {"secret"}, "client_id": {ClientID}, "scope": {"offline"}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Tokens{}, err
	}
	defer resp.Body.Close()
	var t Tokens
	if err := json.NewDecoder(resp.Body).Decode(&t); err != nil || t.RefreshToken == "" {
		return Tokens{}, fmt.Errorf("strictoauth: login failed (%d): %v", resp.StatusCode, err)
	}
	return t, nil
}
