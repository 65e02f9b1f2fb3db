package credstore

import (
	"context"

	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/identity"
)

// Members tells whether a user belongs to an org (identity.Store).
type Members interface {
	Member(ctx context.Context, q sqldb.Querier, orgID, userID string) (identity.Member, error)
}

// Service is the Store bound to its database, for callers that act on one
// request at a time (the HTTP API): each method reads on its own or writes,
// with its audit entry, in one transaction it opens itself.
type Service struct {
	db      *sqldb.DB
	store   *Store
	members Members
}

// NewService binds store to db; members answers who belongs to an org.
func NewService(db *sqldb.DB, store *Store, members Members) *Service {
	return &Service{db: db, store: store, members: members}
}

// List is an owner's credentials, without secrets.
func (s *Service) List(ctx context.Context, o Owner) ([]Credential, error) {
	return s.store.List(ctx, s.db, o)
}

// Find is one of an owner's credentials, without its secret.
func (s *Service) Find(ctx context.Context, o Owner, agent Agent, method Method) (Credential, error) {
	return s.store.Find(ctx, s.db, o, agent, method)
}

// Put stores (or replaces) an owner's credential for agent and method.
func (s *Service) Put(ctx context.Context, o Owner, agent Agent, method Method, in Secret, by Change) (Credential, error) {
	var cred Credential
	err := s.db.InTx(ctx, func(tx sqldb.Tx) error {
		var err error
		cred, err = s.store.Put(ctx, tx, o, agent, method, in, by)
		return err
	})
	return cred, err
}

// Delete removes an owner's credential for agent and method.
func (s *Service) Delete(ctx context.Context, o Owner, agent Agent, method Method, by Change) error {
	return s.db.InTx(ctx, func(tx sqldb.Tx) error { return s.store.Delete(ctx, tx, o, agent, method, by) })
}

// SetPreference sets an owner's preferred agent; an empty agent clears it.
func (s *Service) SetPreference(ctx context.Context, o Owner, agent Agent, by Change) error {
	return s.db.InTx(ctx, func(tx sqldb.Tx) error { return s.store.SetPreference(ctx, tx, o, agent, by) })
}

// ResolveMember is the chain a workspace of userID in orgID would get for
// agent (empty: the preferred one); a user outside the org is
// identity.ErrNotFound. Personal credentials are the user's own: for anyone
// but the user (callerID) their links show the method and status only, not
// the credential id or hint.
func (s *Service) ResolveMember(ctx context.Context, orgID, userID, callerID string, agent Agent) (Resolution, error) {
	if _, err := s.members.Member(ctx, s.db, orgID, userID); err != nil {
		return Resolution{}, err
	}
	res, err := s.store.Resolve(ctx, s.db, orgID, userID, agent)
	if err != nil || callerID == userID {
		return res, err
	}
	return redactPersonal(res), nil
}

// ResolveMembers is the chain a workspace of each of userIDs (members of
// orgID) would get for their chosen agent, read at once; a user with nothing
// usable has no entry. As with ResolveMember, personal credentials of anyone
// but callerID show their method and status only.
func (s *Service) ResolveMembers(ctx context.Context, orgID string, userIDs []string, callerID string) (map[string]Resolution, error) {
	all, err := s.store.ResolveAll(ctx, s.db, orgID, userIDs)
	if err != nil {
		return nil, err
	}
	for id, res := range all {
		if id != callerID {
			all[id] = redactPersonal(res)
		}
	}
	return all, nil
}

// redactPersonal drops the id and hint of personal credentials from res.
func redactPersonal(res Resolution) Resolution {
	for _, links := range [][]ChainLink{res.Chain, res.Skipped} {
		for i := range links {
			if links[i].Scope == ScopeUser {
				links[i].CredentialID, links[i].Hint = "", ""
			}
		}
	}
	return res
}
