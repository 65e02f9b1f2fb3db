// The service: start a connection, finish it with the paste.

package oauthconnect

import (
	"context"
	"errors"
	"time"

	"golang.org/x/oauth2"

	"github.com/tryreplicas/gateway/credstore"
	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/oauthstate"
)

// States keeps a flow's state between its start and the paste, bound to the
// browser session that started it (State.SessionID): Consume with another
// session, or of another kind, fails with oauthstate.ErrBad
// (oauthstate.Store).
type States interface {
	Issue(ctx context.Context, q sqldb.Querier, kind string, st oauthstate.State) (string, error)
	Consume(ctx context.Context, q sqldb.Querier, signed, kind, sessionID string) (oauthstate.State, error)
}

// Credentials stores the credential (credstore.Store).
type Credentials interface {
	Put(ctx context.Context, q sqldb.Querier, o credstore.Owner, agent credstore.Agent, method credstore.Method, in credstore.Secret, by credstore.Change) (credstore.Credential, error)
}

// Members answers who belongs to an org and in which role (identity.Store).
type Members interface {
	Member(ctx context.Context, q sqldb.Querier, orgID, userID string) (identity.Member, error)
}

// Service runs the Connect Claude and Connect OpenAI flows.
type Service struct {
	db        *sqldb.DB
	states    States
	creds     Credentials
	members   Members
	providers map[credstore.Agent]Provider
	now       func() time.Time
}

// New returns the service for providers (one per agent with OAuth).
func New(db *sqldb.DB, states States, creds Credentials, members Members, providers ...Provider) *Service {
	s := &Service{db: db, states: states, creds: creds, members: members, providers: map[credstore.Agent]Provider{},
		now: func() time.Time { return time.Now().UTC() }}
	for _, p := range providers {
		s.providers[p.Agent] = p
	}
	return s
}

// Request names a connection: whose credential (the user's own, or the
// org's at org scope), made by whom, from which browser session.
type Request struct {
	Agent   credstore.Agent
	Scope   string // credstore.ScopeUser or credstore.ScopeOrg
	OrgID   string // the org the person acts in; the owner at org scope
	UserID  string // the person connecting
	Session string // the browser session's binding
}

func (r Request) kind() string { return "connect_" + string(r.Agent) + "_" + r.Scope }

func (r Request) owner() credstore.Owner {
	if r.Scope == credstore.ScopeOrg {
		return credstore.Owner{Scope: credstore.ScopeOrg, ID: r.OrgID}
	}
	return credstore.Owner{Scope: credstore.ScopeUser, ID: r.UserID}
}

// check refuses an unknown agent or scope, a session-less request, someone
// outside the org, and a member who is not an admin at org scope.
func (s *Service) check(ctx context.Context, q sqldb.Querier, r Request) (Provider, error) {
	p, ok := s.providers[r.Agent]
	if !ok {
		return Provider{}, errs.New(errs.ErrNotFound, "not_found", "no OAuth connection for agent %q", r.Agent)
	}
	if r.Scope != credstore.ScopeUser && r.Scope != credstore.ScopeOrg {
		return Provider{}, errs.Invalid("scope must be user or org")
	}
	if r.Session == "" || r.UserID == "" || r.OrgID == "" {
		return Provider{}, errs.New(errs.ErrUnauthorized, "sign_in_required", "sign in to connect an account")
	}
	m, err := s.members.Member(ctx, q, r.OrgID, r.UserID)
	if errors.Is(err, identity.ErrNotFound) {
		return Provider{}, errs.Forbidden("you are not a member of this org")
	}
	if err != nil {
		return Provider{}, err
	}
	if r.Scope == credstore.ScopeOrg && m.Role != identity.RoleAdmin {
		return Provider{}, errs.Forbidden("only an org admin manages the org's credentials")
	}
	return p, nil
}

// Start begins a connection and returns the provider's authorization
// address for the person to open. The state it carries holds the PKCE
// verifier for 30 minutes, once.
func (s *Service) Start(ctx context.Context, r Request) (string, error) {
	p, err := s.check(ctx, s.db, r)
	if err != nil {
		return "", err
	}
	verifier := oauth2.GenerateVerifier()
	state, err := s.states.Issue(ctx, s.db, r.kind(), oauthstate.State{OrgID: r.OrgID, UserID: r.UserID, Verifier: verifier, SessionID: r.Session})
	if err != nil {
		return "", err
	}
	return p.authURL(state, verifier), nil
}

// Finish reads the paste, uses the state up, exchanges the code and stores
// the tokens as the owner's OAuth credential, which it returns (with its
// status). A state of another session, user, org, agent or scope is
// oauthstate.ErrBad and stores nothing. The exchange and the store finish
// even if the caller leaves: the code is spent once sent.
func (s *Service) Finish(ctx context.Context, r Request, pasted string) (credstore.Credential, error) {
	p, err := s.check(ctx, s.db, r)
	if err != nil {
		return credstore.Credential{}, err
	}
	in, err := p.parse(pasted)
	if err != nil {
		return credstore.Credential{}, err
	}
	st, err := s.states.Consume(ctx, s.db, in.State, r.kind(), r.Session)
	if err != nil {
		return credstore.Credential{}, err
	}
	if st.UserID != r.UserID || st.OrgID != r.OrgID {
		return credstore.Credential{}, oauthstate.ErrBad
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	sec, err := p.exchange(ctx, in, st.Verifier, s.now())
	if err != nil {
		return credstore.Credential{}, err
	}
	var cred credstore.Credential
	err = s.db.InTx(ctx, func(tx sqldb.Tx) error {
		if _, err := s.check(ctx, tx, r); err != nil {
			return err
		}
		cred, err = s.creds.Put(ctx, tx, r.owner(), r.Agent, credstore.MethodOAuth, sec, credstore.Change{ActorID: r.UserID, OrgID: r.OrgID})
		return err
	})
	return cred, err
}
