// Package githubtest is a small GitHub API for tests and the demo: it checks
// the App JWT (RS256, issuer = app id) on the installation-token exchange and
// the installation token on every other call, and records the reactions and
// comments it receives.
package githubtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v4"
)

// Call is one recorded write.
type Call struct {
	Kind string // "reaction" or "comment"
	Path string
	Body string
}

// Server is the fake GitHub.
type Server struct {
	*httptest.Server
	AppID      int64
	PrivateKey []byte // PEM, for the gateway's GITHUB_APP_PRIVATE_KEY
	key        *rsa.PrivateKey
	token      string

	mu    sync.Mutex
	calls []Call
	// HeadRef is what GET /repos/{o}/{r}/pulls/{n} answers.
	HeadRef string
	changed chan struct{}
}

// New starts a fake GitHub for app id appID.
func New(appID int64) (*Server, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("githubtest: key: %w", err)
	}
	s := &Server{AppID: appID, key: key, token: "ghs_fake_installation_token", HeadRef: "feature-branch", changed: make(chan struct{}, 1000)}
	s.PrivateKey = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s, nil
}

// Calls returns the writes received so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Changed is signalled after every recorded write.
func (s *Server) Changed() <-chan struct{} { return s.changed }

func (s *Server) fail(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	if strings.HasPrefix(r.URL.Path, "/app/installations/") && strings.HasSuffix(r.URL.Path, "/access_tokens") {
		if err := s.checkJWT(strings.TrimPrefix(auth, "Bearer ")); err != nil {
			s.fail(w, http.StatusUnauthorized, "bad App JWT: "+err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"token": s.token, "expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
		return
	}
	if auth != "token "+s.token && auth != "Bearer "+s.token {
		s.fail(w, http.StatusUnauthorized, "bad installation token")
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodGet && len(parts) == 5 && parts[0] == "repos" && parts[3] == "pulls":
		n, _ := strconv.Atoi(parts[4])
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"number": n, "head": map[string]any{"ref": s.HeadRef}})
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/reactions"):
		s.record(w, r, "reaction", map[string]any{"id": 1, "content": "eyes"})
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/comments"):
		s.record(w, r, "comment", map[string]any{"id": 2})
	default:
		s.fail(w, http.StatusNotFound, "Not Found")
	}
}

func (s *Server) record(w http.ResponseWriter, r *http.Request, kind string, answer map[string]any) {
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	text, _ := body["body"].(string)
	if kind == "reaction" {
		text, _ = body["content"].(string)
	}
	s.mu.Lock()
	s.calls = append(s.calls, Call{Kind: kind, Path: r.URL.Path, Body: text})
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(answer)
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

func (s *Server) checkJWT(raw string) error {
	tok, err := jwt.Parse(raw, func(t *jwt.Token) (any, error) {
		if t.Method != jwt.SigningMethodRS256 {
			return nil, fmt.Errorf("unexpected signing method %v", t.Header["alg"])
		}
		return &s.key.PublicKey, nil
	})
	if err != nil {
		return err
	}
	claims, _ := tok.Claims.(jwt.MapClaims)
	if iss := fmt.Sprint(claims["iss"]); iss != strconv.FormatInt(s.AppID, 10) {
		return fmt.Errorf("iss %q is not the app id", iss)
	}
	return nil
}
