// Resolution of the credential chain: the user's methods in chain
// order, then the org's; unusable credentials skipped; the agent chosen by the
// user's preference, the org's default, then the first agent with a chain.

package credstore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/tryreplicas/gateway/gateway/sqldb"
)

// ChainLink is one credential of a resolved chain, without its secret.
type ChainLink struct {
	CredentialID string `json:"credential_id"`
	Scope        string `json:"scope"`
	Method       Method `json:"method"`
	Status       string `json:"status"`
	Hint         string `json:"hint"`
}

// Resolution is the chosen agent and its chain (usable credentials in the
// order a workspace tries them). Skipped lists unusable ones, for display.
type Resolution struct {
	Agent   Agent       `json:"agent"`
	Chain   []ChainLink `json:"chain"`
	Skipped []ChainLink `json:"skipped,omitempty"`
}

func sortChain(cs []Credential) {
	rank := func(c Credential) int {
		scope := 0
		if c.Scope == ScopeOrg {
			scope = 1
		}
		agent := slices.Index(agents, c.Agent)
		return agent*100 + scope*10 + slices.Index(methods[c.Agent], c.Method)
	}
	slices.SortStableFunc(cs, func(a, b Credential) int { return rank(a) - rank(b) })
}

// Resolve returns the chain for userID in orgID. With agent "" the agent is
// chosen (user preference, org default, claude, codex); an empty result is
// ErrNoCredentials.
func (s *Store) Resolve(ctx context.Context, q sqldb.Querier, orgID, userID string, agent Agent) (Resolution, error) {
	rows, err := q.Query(ctx, `SELECT `+credCols+` FROM credentials WHERE (scope = 'user' AND owner_id = $1) OR (scope = 'org' AND owner_id = $2)`, userID, orgID)
	if err != nil {
		return Resolution{}, fmt.Errorf("resolve credentials: %w", err)
	}
	all, err := sqldb.Collect(rows, func(r sqldb.Rows) (Credential, error) { return scanCred(r) })
	if err != nil {
		return Resolution{}, fmt.Errorf("resolve credentials: %w", err)
	}
	sortChain(all)
	chainOf := func(agent Agent) Resolution {
		res := Resolution{Agent: agent, Chain: []ChainLink{}}
		for _, c := range all {
			if c.Agent != agent {
				continue
			}
			link := ChainLink{CredentialID: c.ID, Scope: c.Scope, Method: c.Method, Status: c.Status, Hint: c.Hint}
			if c.Status == StatusActive {
				res.Chain = append(res.Chain, link)
			} else {
				res.Skipped = append(res.Skipped, link)
			}
		}
		return res
	}
	if agent != "" {
		if _, err := ParseAgent(string(agent)); err != nil {
			return Resolution{}, err
		}
		if res := chainOf(agent); len(res.Chain) > 0 {
			return res, nil
		}
		return Resolution{}, ErrNoCredentials
	}
	var candidates []Agent
	for _, owner := range []Owner{{ScopeUser, userID}, {ScopeOrg, orgID}} {
		pref, err := s.Preference(ctx, q, owner)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return Resolution{}, err
		}
		if pref != "" {
			candidates = append(candidates, pref)
		}
	}
	for _, a := range append(candidates, agents...) {
		if res := chainOf(a); len(res.Chain) > 0 {
			return res, nil
		}
	}
	return Resolution{}, ErrNoCredentials
}

// Preference returns the preferred agent of a user (scope user) or the
// default agent of an org (scope org), or ErrNotFound.
func (s *Store) Preference(ctx context.Context, q sqldb.Querier, o Owner) (Agent, error) {
	var agent Agent
	err := q.QueryRow(ctx, `SELECT agent FROM agent_preferences WHERE owner_kind = $1 AND owner_id = $2`, o.Scope, o.ID).Scan(&agent)
	return agent, sqldb.NoRowsAs(err, ErrNotFound, "get agent preference")
}

// SetPreference sets it; an empty agent clears it.
func (s *Store) SetPreference(ctx context.Context, q sqldb.Querier, o Owner, agent Agent, by Change) error {
	if agent == "" {
		if _, err := q.Exec(ctx, `DELETE FROM agent_preferences WHERE owner_kind = $1 AND owner_id = $2`, o.Scope, o.ID); err != nil {
			return fmt.Errorf("clear agent preference: %w", err)
		}
	} else {
		if _, err := ParseAgent(string(agent)); err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `INSERT INTO agent_preferences (owner_kind, owner_id, agent, updated_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (owner_kind, owner_id) DO UPDATE SET agent = excluded.agent, updated_at = excluded.updated_at`, o.Scope, o.ID, agent, s.now()); err != nil {
			return fmt.Errorf("set agent preference: %w", err)
		}
	}
	org := by.OrgID
	return s.audit.Audit(ctx, q, identityEntry(org, by.ActorID, "preference.set", o.ID, map[string]any{"scope": o.Scope, "agent": agent}))
}
