package lineartest

import (
	"encoding/json"
	"fmt"
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
	emails   map[string]string   // Linear user id → email
	attached map[string][]string // issue id → attachment URLs
	comments []string
	acts     []string
	lookups  int
	changed  chan struct{}

	valid     map[string]bool // accepted Authorization headers besides Auth
	codes     map[string]bool // OAuth codes not yet used
	refreshes int
	rotation  map[string]string // live refresh token → its access token
	n         int
	userCodes map[string]string // OAuth code of a user authorization → Linear user id
	viewers   map[string]string // Authorization header of a user token → Linear user id
}

// AddCode makes code exchangeable once at POST /oauth/token.
func (s *Server) AddCode(code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = true
}

// Refreshes counts refresh grants.
func (s *Server) Refreshes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshes
}

// token answers the OAuth token endpoint: codes and refresh tokens are
// single-use, and a refresh revokes the access token it replaces.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	s.mu.Lock()
	defer s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	issue := func() {
		s.n++
		access, refresh := fmt.Sprintf("lin_oauth_access_%d", s.n), fmt.Sprintf("lin_refresh_%d", s.n)
		if user, ok := s.userCodes[r.PostForm.Get("code")]; ok && r.PostForm.Get("grant_type") == "authorization_code" {
			delete(s.userCodes, r.PostForm.Get("code"))
			s.viewers["Bearer "+access] = user
		}
		s.valid["Bearer "+access] = true
		s.rotation[refresh] = access
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": access, "refresh_token": refresh, "token_type": "Bearer", "expires_in": 86399, "scope": "read,write"})
	}
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		if !s.codes[r.PostForm.Get("code")] && s.userCodes[r.PostForm.Get("code")] == "" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		delete(s.codes, r.PostForm.Get("code"))
		issue()
	case "refresh_token":
		s.refreshes++
		old, ok := s.rotation[r.PostForm.Get("refresh_token")]
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		delete(s.rotation, r.PostForm.Get("refresh_token"))
		delete(s.valid, "Bearer "+old)
		issue()
	default:
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"unsupported_grant_type"}`))
	}
}

// New starts a fake Linear that accepts the Authorization header auth.
func New(auth, appUserID, organizationID string) *Server {
	s := &Server{Auth: auth, AppUserID: appUserID, OrganizationID: organizationID, emails: map[string]string{}, attached: map[string][]string{}, changed: make(chan struct{}, 1000),
		valid: map[string]bool{}, codes: map[string]bool{}, rotation: map[string]string{}, userCodes: map[string]string{}, viewers: map[string]string{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// SetEmail makes user(id:) answer email for id.
func (s *Server) SetEmail(id, email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.emails[id] = email
}

// SetAttachments makes the issue's attachments the given URLs.
func (s *Server) SetAttachments(issueID string, urls ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attached[issueID] = urls
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
	if s.serveAuthorize(w, r) {
		return
	}
	if r.URL.Path == "/oauth/token" {
		s.token(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	s.mu.Lock()
	ok := r.Header.Get("Authorization") == s.Auth || s.valid[r.Header.Get("Authorization")]
	s.mu.Unlock()
	if !ok {
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
		id := s.AppUserID
		if user, ok := s.viewers[r.Header.Get("Authorization")]; ok {
			id = user
		}
		data = map[string]any{"viewer": map[string]any{"id": id, "organization": map[string]any{"id": s.OrganizationID}}}
	case "UserEmail":
		s.lookups++
		id, _ := vars["id"].(string)
		data = map[string]any{"user": map[string]any{"id": id, "email": s.emails[id], "name": "User " + id}}
	case "IssueAttachments":
		id, _ := vars["id"].(string)
		nodes := []map[string]any{}
		for _, u := range s.attached[id] {
			nodes = append(nodes, map[string]any{"url": u, "sourceType": "github"})
		}
		data = map[string]any{"issue": map[string]any{"id": id, "attachments": map[string]any{"nodes": nodes}}}
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
