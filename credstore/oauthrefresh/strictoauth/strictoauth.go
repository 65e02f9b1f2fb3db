package strictoauth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/storage"
)

// ClientID is the public client the tests use.
const ClientID = "agent-cli"

// Server is the strict token endpoint.
type Server struct {
	*httptest.Server
	provider  fosite.OAuth2Provider
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

// New starts the server.
func New() *Server {
	store := storage.NewMemoryStore()
	store.Clients[ClientID] = &fosite.DefaultClient{
		ID: ClientID, Public: true,
		GrantTypes: []string{"password", "refresh_token"}, ResponseTypes: []string{"token"},
		Scopes: []string{"offline", "offline_access"},
	}
	store.Users["peter"] = storage.MemoryUserRelation{Username: "peter", Password: "secret"}
	cfg := &fosite.Config{
		AccessTokenLifespan:  time.Hour,
		RefreshTokenLifespan: 24 * time.Hour,
		GlobalSecret:         []byte("a-32-byte-global-secret-for-hmac"),
		ScopeStrategy:        fosite.HierarchicScopeStrategy,
	}
	s := &Server{provider: compose.ComposeAllEnabled(cfg, store, nil)}
	s.Server = httptest.NewServer(http.HandlerFunc(s.token))
	return s
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
	if err := r.ParseForm(); err == nil && r.PostForm.Get("grant_type") == "refresh_token" {
		s.refreshes.Add(1)
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
	session := &fosite.DefaultSession{Subject: "peter"}
	ar, err := s.provider.NewAccessRequest(ctx, r, session)
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
