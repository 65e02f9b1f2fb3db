package githubtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v4"
)

// Call is one recorded write.
type Call struct {
	Kind string // "reaction", "comment", "comment_edit", "check_run" or "check_run_update"
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
	// HeadRef and HeadSHA are what GET /repos/{o}/{r}/pulls/{n} answers
	// (HeadSHA defaults to DefaultHeadSHA).
	HeadRef string
	HeadSHA string
	// RefuseChecks answers check run writes 403, as GitHub does for an App
	// without the checks: write permission.
	RefuseChecks bool
	nextID       int64
	changed      chan struct{}

	// Accounts for the OAuth and org-connect endpoints.
	users         map[string]User // login → account
	codes         map[string]code // OAuth code → what it was minted for
	installations map[string][]Installation
	memberships   map[string]map[string]Membership // login → lower-case org login → membership
	orgMembers    []string
	hooks         []HookDelivery
	redelivered   []int64
	repositories  map[int64][]string // installation id → full names it accesses
	n             int                // codes minted by the authorize page
	scoped        map[string]ScopedToken
	gitRepos      map[string]string // lower-case owner/name → bare repository directory
	gitRequests   []GitRequest
}

// ScopedToken is an installation token minted for named repositories.
type ScopedToken struct {
	Token          string
	InstallationID int64
	Repositories   []string          // names, as asked
	Permissions    map[string]string // as asked
}

// GitRequest is one request to a served repository.
type GitRequest struct {
	Repository string
	Path       string
	Authorized bool
}

// TokenRequests lists the repository-scoped tokens minted so far.
func (s *Server) TokenRequests() []ScopedToken {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ScopedToken
	for _, t := range s.scoped {
		out = append(out, t)
	}
	return out
}

// GitRequests lists the requests to served repositories.
func (s *Server) GitRequests() []GitRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]GitRequest(nil), s.gitRequests...)
}

// ServeGit serves the bare repository in dir (its name ending in .git) at /{owner}/{name}.git over
// smart HTTP (git http-backend), as github.com does. Every request must
// carry, as its Basic password, an installation token minted for exactly
// that repository (any user name, as git sends "x-access-token").
func (s *Server) ServeGit(fullName, dir string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gitRepos[strings.ToLower(fullName)] = dir
}

// serveGit answers a request for a served repository; false when the path is
// not one.
func (s *Server) serveGit(w http.ResponseWriter, r *http.Request) bool {
	repo, rest, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), ".git/")
	if !ok {
		return false
	}
	s.mu.Lock()
	dir, served := s.gitRepos[strings.ToLower(repo)]
	_, password, _ := r.BasicAuth()
	tok, known := s.scoped[password]
	s.mu.Unlock()
	if !served {
		return false
	}
	_, name, _ := strings.Cut(repo, "/")
	authorized := known && len(tok.Repositories) == 1 && strings.EqualFold(tok.Repositories[0], name)
	s.mu.Lock()
	s.gitRequests = append(s.gitRequests, GitRequest{Repository: repo, Path: rest, Authorized: authorized})
	s.mu.Unlock()
	if !authorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="GitHub"`)
		http.Error(w, "Invalid username or token.", http.StatusUnauthorized)
		return true
	}
	// http-backend finds the repository by PATH_INFO under GIT_PROJECT_ROOT,
	// so the served path is the directory's own name.
	h := &cgi.Handler{Path: gitHTTPBackend(),
		Env: []string{"GIT_PROJECT_ROOT=" + filepath.Dir(dir), "GIT_HTTP_EXPORT_ALL=1", "REMOTE_USER=x-access-token"}}
	r2 := r.Clone(r.Context())
	r2.URL.Path = "/" + filepath.Base(dir) + "/" + rest
	h.ServeHTTP(w, r2)
	return true
}

// gitHTTPBackend is git's smart HTTP server program.
func gitHTTPBackend() string {
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return "git-http-backend"
	}
	return filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
}

// SetRepositories sets what GET /installation/repositories answers for an
// installation (each repository's id is derived from its name).
func (s *Server) SetRepositories(installationID int64, fullNames ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repositories[installationID] = fullNames
}

// RepositoryID is the id the fake gives a repository.
func RepositoryID(fullName string) int64 {
	var h int64 = 7
	for _, c := range strings.ToLower(fullName) {
		h = (h*31 + int64(c)) % 1_000_000_007
	}
	return h
}

// installationOf is the installation whose token auth carries.
func (s *Server) installationOf(auth string) (int64, bool) {
	auth = strings.TrimPrefix(strings.TrimPrefix(auth, "token "), "Bearer ")
	rest, ok := strings.CutPrefix(auth, s.token+"_")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	return id, err == nil
}

// HookDelivery is one entry of GET /app/hook/deliveries.
type HookDelivery struct {
	ID          int64
	GUID        string
	StatusCode  int
	DeliveredAt time.Time
}

// SetHookDeliveries sets the App's delivery log (newest first).
func (s *Server) SetHookDeliveries(d ...HookDelivery) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks = d
}

// Redelivered lists the delivery ids redelivery was asked for.
func (s *Server) Redelivered() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.redelivered...)
}

func (s *Server) hookDeliveries(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/attempts") {
		parts := strings.Split(r.URL.Path, "/")
		id, _ := strconv.ParseInt(parts[len(parts)-2], 10, 64)
		s.redelivered = append(s.redelivered, id)
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte("{}"))
		return
	}
	var list []map[string]any
	for _, d := range s.hooks {
		list = append(list, map[string]any{"id": d.ID, "guid": d.GUID, "status_code": d.StatusCode, "status": http.StatusText(d.StatusCode),
			"delivered_at": d.DeliveredAt.UTC().Format(time.RFC3339), "event": "issue_comment", "action": "created"})
	}
	_ = json.NewEncoder(w).Encode(list)
}

// User is a GitHub account of the fake.
type User struct {
	ID           int64
	Login        string
	Email        string   // public profile email
	DomainEmails []string // organization verified-domain emails
}

// Installation is what GET /user/installations lists.
type Installation struct {
	ID           int64
	AccountLogin string
	AccountID    int64
	AccountType  string
}

// code is an OAuth code: the account it signs in and the redirect_uri of the
// authorization that minted it ("" when the test does not care).
type code struct{ login, redirectURI, challenge string }

// Membership is a user's membership of a GitHub organization, as
// GET /user/memberships/orgs/{org} answers it.
type Membership struct {
	OrgLogin string
	OrgID    int64
	Role     string // "admin" or "member"
	State    string // "active" or "pending"
}

// AddUser registers an account; code, when set, is an OAuth code that
// exchanges for its user token; installs are the installations it can see.
func (s *Server) AddUser(u User, code string, installs ...Installation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.Login] = u
	if code != "" {
		s.addCode(code, u.Login, "")
	}
	s.installations[u.Login] = installs
}

// AddCode mints an OAuth code for login by an authorization whose
// redirect_uri was redirectURI. As on GitHub, an exchange that names another
// redirect_uri is refused (redirect_uri_mismatch); one that names none is not.
func (s *Server) AddCode(c, login, redirectURI string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addCode(c, login, redirectURI)
}

func (s *Server) addCode(c, login, redirectURI string) {
	s.codes[c] = code{login: login, redirectURI: redirectURI}
}

// SetMembership records login's membership of an organization.
func (s *Server) SetMembership(login string, m Membership) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.memberships[login] == nil {
		s.memberships[login] = map[string]Membership{}
	}
	s.memberships[login][strings.ToLower(m.OrgLogin)] = m
}

// SetOrgMembers sets the members of the (only) organization.
func (s *Server) SetOrgMembers(logins ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.orgMembers = logins
}

// New starts a fake GitHub for app id appID.
func New(appID int64) (*Server, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("githubtest: key: %w", err)
	}
	s := &Server{AppID: appID, key: key, token: "ghs_fake_installation_token", HeadRef: "feature-branch", changed: make(chan struct{}, 1000),
		users: map[string]User{}, codes: map[string]code{}, installations: map[string][]Installation{}, memberships: map[string]map[string]Membership{},
		repositories: map[int64][]string{}, scoped: map[string]ScopedToken{}, gitRepos: map[string]string{}}
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
	if s.serveAuthorize(w, r) {
		return
	}
	auth := r.Header.Get("Authorization")
	if strings.HasPrefix(r.URL.Path, "/app/hook/deliveries") {
		if err := s.checkJWT(strings.TrimPrefix(auth, "Bearer ")); err != nil {
			s.fail(w, http.StatusUnauthorized, "bad App JWT: "+err.Error())
			return
		}
		s.hookDeliveries(w, r)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/app/installations/") && strings.HasSuffix(r.URL.Path, "/access_tokens") {
		if err := s.checkJWT(strings.TrimPrefix(auth, "Bearer ")); err != nil {
			s.fail(w, http.StatusUnauthorized, "bad App JWT: "+err.Error())
			return
		}
		// Each installation gets its own token, so calls can be told apart.
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/app/installations/"), "/access_tokens")
		var ask struct {
			Repositories []string          `json:"repositories"`
			Permissions  map[string]string `json:"permissions"`
		}
		_ = json.NewDecoder(r.Body).Decode(&ask)
		if len(ask.Repositories) > 0 {
			// A token narrowed to repositories is unique per request.
			installation, _ := strconv.ParseInt(id, 10, 64)
			s.mu.Lock()
			tok := fmt.Sprintf("ghs_scoped%d_%d", installation, len(s.scoped)+1)
			s.scoped[tok] = ScopedToken{Token: tok, InstallationID: installation, Repositories: ask.Repositories, Permissions: ask.Permissions}
			s.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(map[string]any{"token": tok, "expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
				"permissions": ask.Permissions, "repository_selection": "selected"})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"token": s.token + "_" + id, "expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
		return
	}
	if s.serveAccounts(w, r) || s.serveGit(w, r) {
		return
	}
	installation, ok := s.installationOf(auth)
	if !ok {
		s.fail(w, http.StatusUnauthorized, "bad installation token")
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/installation/repositories":
		s.mu.Lock()
		names := append([]string(nil), s.repositories[installation]...)
		s.mu.Unlock()
		var list []map[string]any
		for _, n := range names {
			owner, name, _ := strings.Cut(n, "/")
			list = append(list, map[string]any{"id": RepositoryID(n), "name": name, "full_name": n, "owner": map[string]any{"login": owner}})
		}
		s.page(w, r, list)
	case r.Method == http.MethodGet && len(parts) == 5 && parts[0] == "repos" && parts[3] == "pulls":
		n, _ := strconv.Atoi(parts[4])
		w.Header().Set("Content-Type", "application/json")
		s.mu.Lock()
		sha := s.HeadSHA
		s.mu.Unlock()
		if sha == "" {
			sha = DefaultHeadSHA
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"number": n, "head": map[string]any{"ref": s.HeadRef, "sha": sha}})
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/reactions"):
		s.record(w, r, "reaction", map[string]any{"id": 1, "content": "eyes"})
	case r.Method == http.MethodGet && len(parts) == 3 && parts[0] == "orgs" && parts[2] == "members":
		s.mu.Lock()
		members := append([]string(nil), s.orgMembers...)
		s.mu.Unlock()
		var list []map[string]any
		for _, l := range members {
			list = append(list, map[string]any{"login": l, "id": s.userID(l)})
		}
		s.page(w, r, list)
	case r.Method == http.MethodPost && r.URL.Path == "/graphql":
		var q struct {
			Variables map[string]string `json:"variables"`
		}
		_ = json.NewDecoder(r.Body).Decode(&q)
		s.mu.Lock()
		emails := s.users[q.Variables["login"]].DomainEmails
		s.mu.Unlock()
		if emails == nil {
			emails = []string{}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"user": map[string]any{"organizationVerifiedDomainEmails": emails}}})
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/comments"):
		s.record(w, r, "comment", map[string]any{"id": s.newID()})
	case r.Method == http.MethodPatch && len(parts) == 6 && parts[0] == "repos" && parts[3] == "issues" && parts[4] == "comments":
		id, _ := strconv.ParseInt(parts[5], 10, 64)
		s.record(w, r, "comment_edit", map[string]any{"id": id})
	case r.Method == http.MethodPost && len(parts) == 4 && parts[0] == "repos" && parts[3] == "check-runs":
		s.recordCheckRun(w, r, "check_run", s.newID())
	case r.Method == http.MethodPatch && len(parts) == 5 && parts[0] == "repos" && parts[3] == "check-runs":
		id, _ := strconv.ParseInt(parts[4], 10, 64)
		s.recordCheckRun(w, r, "check_run_update", id)
	default:
		s.fail(w, http.StatusNotFound, "Not Found")
	}
}

// DefaultHeadSHA is the head commit of every pull request unless HeadSHA is set.
const DefaultHeadSHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"

func (s *Server) newID() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	return 1000 + s.nextID
}

// recordCheckRun records a check run write as "status conclusion
// details_url head_sha" (the fields absent from an update are empty).
func (s *Server) recordCheckRun(w http.ResponseWriter, r *http.Request, kind string, id int64) {
	s.mu.Lock()
	refuse := s.RefuseChecks
	s.mu.Unlock()
	if refuse {
		s.fail(w, http.StatusForbidden, "Resource not accessible by integration")
		return
	}
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	str := func(k string) string { v, _ := body[k].(string); return v }
	if str("name") == "" {
		s.fail(w, http.StatusUnprocessableEntity, "name is required")
		return
	}
	s.mu.Lock()
	s.calls = append(s.calls, Call{Kind: kind, Path: r.URL.Path, Body: strings.Join([]string{str("status"), str("conclusion"), str("details_url"), str("head_sha")}, " ")})
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{"id": id, "status": str("status")})
	select {
	case s.changed <- struct{}{}:
	default:
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

func (s *Server) userID(login string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.users[login].ID
}

func userJSON(u User) map[string]any {
	var email any
	if u.Email != "" {
		email = u.Email
	}
	return map[string]any{"login": u.Login, "id": u.ID, "type": "User", "email": email}
}

// page answers one item per page with Link headers, so clients must follow
// pagination.
func (s *Server) page(w http.ResponseWriter, r *http.Request, items []map[string]any) {
	n, _ := strconv.Atoi(r.URL.Query().Get("page"))
	if n < 1 {
		n = 1
	}
	out := []map[string]any{}
	if n <= len(items) {
		out = append(out, items[n-1])
	}
	if n < len(items) {
		next := *r.URL
		q := next.Query()
		q.Set("page", strconv.Itoa(n+1))
		next.RawQuery = q.Encode()
		w.Header().Set("Link", fmt.Sprintf(`<%s%s>; rel="next"`, s.URL, next.RequestURI()))
	}
	w.Header().Set("Content-Type", "application/json")
	if strings.HasSuffix(r.URL.Path, "/user/installations") {
		_ = json.NewEncoder(w).Encode(map[string]any{"total_count": len(items), "installations": out})
		return
	}
	if r.URL.Path == "/installation/repositories" {
		_ = json.NewEncoder(w).Encode(map[string]any{"total_count": len(items), "repositories": out})
		return
	}
	_ = json.NewEncoder(w).Encode(out)
}

// serveAccounts answers the OAuth token exchange, the user's own endpoints
// (user token "gho_<login>": the account, its installations, its org
// memberships) and public user look-ups.
func (s *Server) serveAccounts(w http.ResponseWriter, r *http.Request) bool {
	path := r.URL.Path
	switch {
	case r.Method == http.MethodPost && path == "/login/oauth/access_token":
		_ = r.ParseForm()
		s.mu.Lock()
		c, ok := s.codes[r.PostForm.Get("code")]
		delete(s.codes, r.PostForm.Get("code")) // codes are single-use
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "bad_verification_code"})
			return true
		}
		if c.challenge != "" && pkceS256(r.PostForm.Get("code_verifier")) != c.challenge {
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "bad_verification_code", "error_description": "The code_verifier does not match the code_challenge."})
			return true
		}
		if redirect := r.PostForm.Get("redirect_uri"); redirect != "" && c.redirectURI != "" && redirect != c.redirectURI {
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "redirect_uri_mismatch", "error_description": "The redirect_uri MUST match the registered callback URL for this application."})
			return true
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"access_token": "gho_" + c.login, "token_type": "bearer", "scope": ""})
		return true
	case r.Method == http.MethodGet && (path == "/user" || path == "/user/installations" || strings.HasPrefix(path, "/user/memberships/orgs/")):
		login := strings.TrimPrefix(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), "gho_")
		s.mu.Lock()
		u, ok := s.users[login]
		installs := s.installations[login]
		s.mu.Unlock()
		if !ok || !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer gho_") {
			s.fail(w, http.StatusUnauthorized, "Bad credentials")
			return true
		}
		if path == "/user" {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(userJSON(u))
			return true
		}
		if org, ok := strings.CutPrefix(path, "/user/memberships/orgs/"); ok {
			s.mu.Lock()
			m, ok := s.memberships[login][strings.ToLower(org)]
			s.mu.Unlock()
			if !ok {
				s.fail(w, http.StatusNotFound, "Not Found")
				return true
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"state": m.State, "role": m.Role, "user": userJSON(u),
				"organization": map[string]any{"login": m.OrgLogin, "id": m.OrgID}})
			return true
		}
		var list []map[string]any
		for _, in := range installs {
			list = append(list, map[string]any{"id": in.ID, "account": map[string]any{"login": in.AccountLogin, "id": in.AccountID, "type": in.AccountType}, "repository_selection": "all"})
		}
		s.page(w, r, list)
		return true
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/users/"):
		s.mu.Lock()
		u, ok := s.users[strings.TrimPrefix(path, "/users/")]
		s.mu.Unlock()
		if !ok {
			s.fail(w, http.StatusNotFound, "Not Found")
			return true
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(userJSON(u))
		return true
	}
	return false
}
