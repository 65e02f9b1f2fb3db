// Package lineartest is a small Linear GraphQL API for tests and the demo. It
// checks the Authorization header (OAuth tokens as "Bearer …", personal API
// keys bare), answers the gateway's operations and records the comments and
// agent activities it receives.
package lineartest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// Server is the fake Linear API.
type Server struct {
	*httptest.Server
	// Auth is the exact Authorization header expected.
	Auth           string
	AppUserID      string
	OrganizationID string

	mu       sync.Mutex
	emails   map[string]string // Linear user id → email
	comments []string
	acts     []string
	lookups  int
	changed  chan struct{}
}

// New starts a fake Linear that accepts the Authorization header auth.
func New(auth, appUserID, organizationID string) *Server {
	s := &Server{Auth: auth, AppUserID: appUserID, OrganizationID: organizationID, emails: map[string]string{}, changed: make(chan struct{}, 1000)}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// SetEmail makes user(id:) answer email for id.
func (s *Server) SetEmail(id, email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.emails[id] = email
}

// Comments returns the bodies of the comments created so far.
func (s *Server) Comments() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.comments...)
}

// Activities returns "type: body" of the agent activities created so far.
func (s *Server) Activities() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.acts...)
}

// Lookups counts user(id:) queries.
func (s *Server) Lookups() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lookups
}

// Changed is signalled after every recorded mutation.
func (s *Server) Changed() <-chan struct{} { return s.changed }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("Authorization") != s.Auth {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"errors":[{"message":"Authentication required"}]}`))
		return
	}
	var req struct {
		OperationName string          `json:"operationName"`
		Query         string          `json:"query"`
		Variables     json.RawMessage `json:"variables"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var vars map[string]any
	_ = json.Unmarshal(req.Variables, &vars)
	var data any
	s.mu.Lock()
	switch req.OperationName {
	case "Viewer":
		data = map[string]any{"viewer": map[string]any{"id": s.AppUserID, "organization": map[string]any{"id": s.OrganizationID}}}
	case "UserEmail":
		s.lookups++
		id, _ := vars["id"].(string)
		data = map[string]any{"user": map[string]any{"id": id, "email": s.emails[id], "name": "User " + id}}
	case "CommentCreate":
		body, _ := vars["body"].(string)
		s.comments = append(s.comments, body)
		data = map[string]any{"commentCreate": map[string]any{"success": true}}
	case "AgentActivityCreate":
		content, _ := vars["content"].(map[string]any)
		s.acts = append(s.acts, strings.TrimSpace(toString(content["type"])+": "+toString(content["body"])))
		data = map[string]any{"agentActivityCreate": map[string]any{"success": true}}
	default:
		s.mu.Unlock()
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"errors":[{"message":"unknown operation"}]}`))
		return
	}
	s.mu.Unlock()
	_ = json.NewEncoder(w).Encode(map[string]any{"data": data})
	if strings.HasSuffix(req.OperationName, "Create") {
		select {
		case s.changed <- struct{}{}:
		default:
		}
	}
}

func toString(v any) string {
	s, _ := v.(string)
	return s
}
