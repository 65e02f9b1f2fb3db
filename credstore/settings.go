// What the settings pages show of a member's credentials: the org's and
// their own, the preferences, and the chain each agent would resolve to.

package credstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/tryreplicas/gateway/gateway/sqldb"
)

// Settings is a member's view of the credentials that apply to them in an
// org, without secrets. Hints of org credentials are for admins only.
type Settings struct {
	Org        []Credential // the org's credentials
	Mine       []Credential // the member's personal credentials
	Preference Agent        // the member's preferred agent, or ""
	OrgDefault Agent        // the org's default agent, or ""
	// Chains is, per agent in the order Agents lists them, the chain a
	// workspace of the member would get (possibly empty, Skipped showing
	// the unusable credentials).
	Chains []Resolution
	// Chosen is the agent a workspace of the member would run ("" when no
	// agent has a credential).
	Chosen Agent
}

// Settings reads what the settings pages show userID in orgID; a user
// outside the org is identity.ErrNotFound. admin says whether the viewer
// administers the org (only admins see the hints of org credentials).
func (s *Service) Settings(ctx context.Context, orgID, userID string, admin bool) (Settings, error) {
	if _, err := s.members.Member(ctx, s.db, orgID, userID); err != nil {
		return Settings{}, err
	}
	var out Settings
	var err error
	if out.Org, err = s.store.List(ctx, s.db, Owner{ScopeOrg, orgID}); err != nil {
		return Settings{}, err
	}
	if !admin {
		for i := range out.Org {
			out.Org[i].Hint = ""
		}
	}
	if out.Mine, err = s.store.List(ctx, s.db, Owner{ScopeUser, userID}); err != nil {
		return Settings{}, err
	}
	for _, p := range []struct {
		o  Owner
		to *Agent
	}{{Owner{ScopeUser, userID}, &out.Preference}, {Owner{ScopeOrg, orgID}, &out.OrgDefault}} {
		if *p.to, err = s.store.Preference(ctx, s.db, p.o); err != nil && !errors.Is(err, ErrNotFound) {
			return Settings{}, err
		}
	}
	for _, a := range agents {
		res, err := s.store.Resolve(ctx, s.db, orgID, userID, a)
		if errors.Is(err, ErrNoCredentials) {
			res = Resolution{Agent: a, Chain: []ChainLink{}}
			res.Skipped, err = s.skipped(ctx, orgID, userID, a)
		}
		if err != nil {
			return Settings{}, err
		}
		out.Chains = append(out.Chains, res)
	}
	chosen, err := s.store.Resolve(ctx, s.db, orgID, userID, "")
	switch {
	case err == nil:
		out.Chosen = chosen.Agent
	case !errors.Is(err, ErrNoCredentials):
		return Settings{}, err
	}
	return out, nil
}

// skipped lists the unusable credentials of an agent whose chain is empty.
func (s *Service) skipped(ctx context.Context, orgID, userID string, agent Agent) ([]ChainLink, error) {
	rows, err := s.db.Query(ctx, `SELECT `+credCols+` FROM credentials WHERE agent = $1 AND status <> $2 AND ((scope = 'user' AND owner_id = $3) OR (scope = 'org' AND owner_id = $4))`,
		agent, StatusActive, userID, orgID)
	if err != nil {
		return nil, fmt.Errorf("unusable credentials: %w", err)
	}
	all, err := sqldb.Collect(rows, func(r sqldb.Rows) (Credential, error) { return scanCred(r) })
	if err != nil {
		return nil, fmt.Errorf("unusable credentials: %w", err)
	}
	sortChain(all)
	out := []ChainLink{}
	for _, c := range all {
		out = append(out, ChainLink{CredentialID: c.ID, Scope: c.Scope, Method: c.Method, Status: c.Status, Hint: c.Hint})
	}
	return out, nil
}
