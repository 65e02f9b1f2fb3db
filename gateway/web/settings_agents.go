// Coding Agents settings (the org's credentials; admins edit, members see
// what is configured) and the personal credentials of User settings: API
// keys, Bedrock, and Connect Claude / Connect OpenAI, at org or user scope.

package web

import (
	"github.com/tryreplicas/gateway/credstore"
	"github.com/tryreplicas/gateway/credstore/oauthconnect"
	"github.com/tryreplicas/gateway/gateway/errs"
)

// credScope is where a credential form acts: the org's settings page or the
// user's.
type credScope struct {
	scope string // credstore.ScopeOrg or ScopeUser
	base  string // the forms' path prefix
	page  string // where to come back to
}

var (
	orgCreds  = credScope{credstore.ScopeOrg, "/settings/agents", "/settings/agents"}
	userCreds = credScope{credstore.ScopeUser, "/settings/user/credentials", "/settings/user"}
)

func (c credScope) owner(p *Page) credstore.Owner {
	if c.scope == credstore.ScopeOrg {
		return credstore.Owner{Scope: credstore.ScopeOrg, ID: p.Principal.OrgID}
	}
	return credstore.Owner{Scope: credstore.ScopeUser, ID: p.Principal.UserID}
}

func (s *Server) agentRoutes() {
	s.handle("GET /settings/agents", Member, s.agentsPage)
	s.handle("POST /settings/agents/default", Admin, s.setOrgDefault)
	s.credentialRoutes(orgCreds, Admin)
	s.credentialRoutes(userCreds, Member)
}

func (s *Server) credentialRoutes(c credScope, access Access) {
	s.handle("POST "+c.base+"/{agent}/{method}", access, func(p *Page) error { return s.saveCredential(p, c) })
	s.handle("POST "+c.base+"/{agent}/{method}/delete", access, func(p *Page) error { return s.deleteCredential(p, c) })
	if s.Connect != nil {
		s.handle("POST "+c.base+"/{agent}/connect", access, func(p *Page) error { return s.connectStart(p, c) })
		s.handle("POST "+c.base+"/{agent}/connect/finish", access, func(p *Page) error { return s.connectFinish(p, c) })
	}
}

// The labels of the agents and their methods, as the product page names them.
var (
	agentNames   = map[credstore.Agent]string{credstore.AgentClaude: "Claude Code", credstore.AgentCodex: "Codex"}
	connectNames = map[credstore.Agent]string{credstore.AgentClaude: "Connect Claude", credstore.AgentCodex: "Connect OpenAI"}
	methodLabels = map[credstore.Agent]map[credstore.Method]string{
		credstore.AgentClaude: {credstore.MethodOAuth: "Claude OAuth", credstore.MethodAPIKey: "Anthropic API key", credstore.MethodBedrock: "AWS Bedrock"},
		credstore.AgentCodex:  {credstore.MethodOAuth: "OpenAI OAuth", credstore.MethodAPIKey: "OpenAI API key"},
	}
	keyPrefixes = map[credstore.Agent]string{credstore.AgentClaude: "sk-ant-", credstore.AgentCodex: "sk-"}
	pasteLabels = map[credstore.Agent]string{
		credstore.AgentClaude: "Come back here and paste the code Claude shows after you authorize (it looks like code#state)",
		credstore.AgentCodex:  "Your browser then goes to an address starting with http://localhost:1455/auth/callback that does not load: copy that whole address, come back here and paste it",
	}
)

type methodView struct {
	Agent  credstore.Agent
	Method credstore.Method
	Label  string
	Cred   *credstore.Credential
}

type agentView struct {
	Agent        credstore.Agent
	Name         string
	Chain        string
	ConnectLabel string
	KeyLabel     string
	KeyPrefix    string
	PasteLabel   string
	Bedrock      bool
	Methods      []methodView
}

// credentialsView is one scope's credentials as cards, one per agent.
type credentialsView struct {
	Scope    string // org or user (element ids)
	Base     string
	Editable bool
	Connect  bool
	CSRF     string
	Agents   []agentView
}

func credentialCards(p *Page, c credScope, st credstore.Settings, creds []credstore.Credential, editable, connect bool) credentialsView {
	v := credentialsView{Scope: c.scope, Base: c.base, Editable: editable, Connect: connect, CSRF: p.CSRF()}
	for _, res := range st.Chains {
		a := res.Agent
		av := agentView{Agent: a, Name: agentNames[a], Chain: ChainWords(res), ConnectLabel: connectNames[a],
			KeyLabel: methodLabels[a][credstore.MethodAPIKey], KeyPrefix: keyPrefixes[a], PasteLabel: pasteLabels[a]}
		for _, m := range a.Methods() {
			mv := methodView{Agent: a, Method: m, Label: methodLabels[a][m]}
			for i := range creds {
				if creds[i].Agent == a && creds[i].Method == m {
					mv.Cred = &creds[i]
				}
			}
			if m == credstore.MethodBedrock {
				av.Bedrock = true
			}
			av.Methods = append(av.Methods, mv)
		}
		v.Agents = append(v.Agents, av)
	}
	return v
}

type agentsView struct {
	Creds      credentialsView
	Admin      bool
	OrgDefault credstore.Agent
	Chains     []string
}

func (s *Server) agentsPage(p *Page) error {
	st, err := s.Credentials.Settings(p.R.Context(), p.Principal.OrgID, p.Principal.UserID, p.Principal.IsAdmin())
	if err != nil {
		return err
	}
	return p.Render("settings_agents", "Coding Agents settings", agentsView{
		Creds: credentialCards(p, orgCreds, st, st.Org, p.Principal.IsAdmin(), s.Connect != nil),
		Admin: p.Principal.IsAdmin(), OrgDefault: st.OrgDefault, Chains: chainSummary(st)})
}

func (s *Server) change(p *Page) credstore.Change {
	return credstore.Change{ActorID: p.Principal.UserID, OrgID: p.Principal.OrgID}
}

func agentMethod(p *Page) (credstore.Agent, credstore.Method, error) {
	agent, err := credstore.ParseAgent(p.R.PathValue("agent"))
	if err != nil {
		return "", "", err
	}
	return agent, credstore.Method(p.R.PathValue("method")), nil
}

// saveCredential stores an API key or Bedrock keys from the form. The page
// it returns to shows only the hint.
func (s *Server) saveCredential(p *Page, c credScope) error {
	agent, method, err := agentMethod(p)
	if err != nil {
		return err
	}
	if method == credstore.MethodOAuth {
		return errs.Invalid("OAuth credentials are connected with %s, not typed in", connectNames[agent])
	}
	in := credstore.Secret{APIKey: p.Form("api_key"), AccessKeyID: p.Form("access_key_id"), SecretAccessKey: p.Form("secret_access_key"),
		Region: p.Form("region"), SessionToken: p.Form("session_token")}
	cred, err := s.Credentials.Put(p.R.Context(), c.owner(p), agent, method, in, s.change(p))
	if err != nil {
		return err
	}
	return p.RedirectFlash(c.page, "Saved the "+methodLabels[agent][method]+" ending in "+cred.Hint+".")
}

func (s *Server) deleteCredential(p *Page, c credScope) error {
	agent, method, err := agentMethod(p)
	if err != nil {
		return err
	}
	if err := s.Credentials.Delete(p.R.Context(), c.owner(p), agent, method, s.change(p)); err != nil {
		return err
	}
	return p.RedirectFlash(c.page, "Removed the "+methodLabels[agent][method]+".")
}

func (s *Server) setOrgDefault(p *Page) error {
	agent := credstore.Agent(p.Form("agent"))
	if err := s.Credentials.SetPreference(p.R.Context(), orgCreds.owner(p), agent, s.change(p)); err != nil {
		return err
	}
	return p.RedirectFlash("/settings/agents", "Saved the organization's default agent.")
}

func connectRequest(p *Page, c credScope) (oauthconnect.Request, error) {
	agent, err := credstore.ParseAgent(p.R.PathValue("agent"))
	if err != nil {
		return oauthconnect.Request{}, err
	}
	return oauthconnect.Request{Agent: agent, Scope: c.scope, OrgID: p.Principal.OrgID, UserID: p.Principal.UserID, Session: p.Session.ID}, nil
}

// connectStart begins Connect Claude / Connect OpenAI and sends the browser
// to the provider; the person comes back to the settings page and pastes
// what the provider gave them.
func (s *Server) connectStart(p *Page, c credScope) error {
	r, err := connectRequest(p, c)
	if err != nil {
		return err
	}
	authURL, err := s.Connect.Start(p.R.Context(), r)
	if err != nil {
		return err
	}
	return p.RedirectAway(authURL)
}

// connectFinish exchanges what the person pasted and reports the new
// credential's status.
func (s *Server) connectFinish(p *Page, c credScope) error {
	r, err := connectRequest(p, c)
	if err != nil {
		return err
	}
	cred, err := s.Connect.Finish(p.R.Context(), r, p.Form("pasted"))
	if err != nil {
		return err
	}
	return p.RedirectFlash(c.page, connectNames[r.Agent]+": the "+methodLabels[r.Agent][credstore.MethodOAuth]+" credential ending in "+cred.Hint+" is "+cred.Status+".")
}
