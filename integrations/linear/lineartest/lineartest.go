package lineartest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
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
	log      []Activity
	links    map[string]string // session id → external link
	states   map[string]string // issue id → its state's type
	moves    []string          // "issue id → state id"
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
		valid: map[string]bool{}, codes: map[string]bool{}, rotation: map[string]string{}, links: map[string]string{}, states: map[string]string{}, userCodes: map[string]string{}, viewers: map[string]string{}}
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

// Activity is one agentActivityCreate call as received.
type Activity struct {
	SessionID string
	Content   map[string]any
	Ephemeral bool
	Signal    string
	Options   []string // the values of signalMetadata.options
	At        time.Time
}

// ActivityLog returns every agent activity created so far, in order.
func (s *Server) ActivityLog() []Activity {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Activity(nil), s.log...)
}

// SessionLink is the external link set on a session ("" when none).
func (s *Server) SessionLink(sessionID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.links[sessionID]
}

// SetIssueState sets the type of an issue's workflow state (default
// "unstarted"). Every team has the started states StateInProgress (the
// first) and StateInReview.
func (s *Server) SetIssueState(issueID, typ string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.states[issueID] = typ
}

// Started states of every team.
const (
	StateInProgress = "state-in-progress"
	StateInReview   = "state-in-review"
)

// Moves lists the issue state changes, as "issue id → state id".
func (s *Server) Moves() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.moves...)
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
		text := toString(content["body"])
		if toString(content["type"]) == "action" {
			text = strings.TrimSpace(toString(content["action"]) + " " + toString(content["parameter"]) + " " + toString(content["result"]))
		}
		s.acts = append(s.acts, strings.TrimSpace(toString(content["type"])+": "+text))
		a := Activity{SessionID: toString(vars["sessionId"]), Content: content, Signal: toString(vars["signal"]), At: time.Now()}
		a.Ephemeral, _ = vars["ephemeral"].(bool)
		if meta, ok := vars["signalMetadata"].(map[string]any); ok {
			opts, _ := meta["options"].([]any)
			for _, o := range opts {
				if m, ok := o.(map[string]any); ok {
					a.Options = append(a.Options, toString(m["value"]))
				}
			}
		}
		s.log = append(s.log, a)
		data = map[string]any{"agentActivityCreate": map[string]any{"success": true}}
	case "AgentSessionSetLink":
		id := toString(vars["id"])
		s.links[id] = toString(vars["link"])
		data = map[string]any{"agentSessionUpdate": map[string]any{"success": true}}
	case "IssueWorkflow":
		id := toString(vars["id"])
		typ := s.states[id]
		if typ == "" {
			typ = "unstarted"
		}
		data = map[string]any{"issue": map[string]any{"id": id, "state": map[string]any{"id": "state-" + typ, "type": typ},
			"team": map[string]any{"id": "team-1", "states": map[string]any{"nodes": []map[string]any{
				{"id": StateInReview, "type": "started", "position": 3.0}, {"id": StateInProgress, "type": "started", "position": 2.0}}}}}}
	case "IssueSetState":
		id := toString(vars["id"])
		s.moves = append(s.moves, id+" → "+toString(vars["stateId"]))
		s.states[id] = "started"
		data = map[string]any{"issueUpdate": map[string]any{"success": true}}
	default:
		s.mu.Unlock()
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"errors":[{"message":"unknown operation"}]}`))
		return
	}
	s.mu.Unlock()
	_ = json.NewEncoder(w).Encode(map[string]any{"data": data})
	if strings.HasSuffix(req.OperationName, "Create") || req.OperationName == "AgentSessionSetLink" || req.OperationName == "IssueSetState" {
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
