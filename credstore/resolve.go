// Resolution of the credential chain: the user's methods in chain
// order, then the org's; unusable credentials skipped; the agent chosen by the
// user's preference, the org's default, then the first agent with a chain.

package credstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

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
	var prefs []Agent
	if agent == "" {
		for _, owner := range []Owner{{ScopeUser, userID}, {ScopeOrg, orgID}} {
			pref, err := s.Preference(ctx, q, owner)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return Resolution{}, err
			}
			if pref != "" {
				prefs = append(prefs, pref)
			}
		}
	}
	return choose(all, prefs, agent)
}

// choose resolves from the credentials of one user and their org: the chain
// of agent, or with agent "" of the first of prefs (the user's preference,
// then the org's default) and then the agents in order that has one.
func choose(all []Credential, prefs []Agent, agent Agent) (Resolution, error) {
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
	for _, a := range append(prefs, agents...) {
		if res := chainOf(a); len(res.Chain) > 0 {
			return res, nil
		}
	}
	return Resolution{}, ErrNoCredentials
}

// ResolveAll is the chosen agent's chain of each of userIDs in orgID, read
// in two queries whatever their number (the credentials, the preferences).
// A user with nothing usable has no entry.
func (s *Store) ResolveAll(ctx context.Context, q sqldb.Querier, orgID string, userIDs []string) (map[string]Resolution, error) {
	out := map[string]Resolution{}
	if len(userIDs) == 0 {
		return out, nil
	}
	args := []any{orgID}
	marks := make([]string, len(userIDs))
	for i, id := range userIDs {
		args = append(args, id)
		marks[i] = "$" + strconv.Itoa(i+2)
	}
	in := strings.Join(marks, ", ")
	rows, err := q.Query(ctx, `SELECT `+credCols+` FROM credentials WHERE (scope = 'org' AND owner_id = $1) OR (scope = 'user' AND owner_id IN (`+in+`))`, args...)
	if err != nil {
		return nil, fmt.Errorf("resolve members' credentials: %w", err)
	}
	all, err := sqldb.Collect(rows, func(r sqldb.Rows) (Credential, error) { return scanCred(r) })
	if err != nil {
		return nil, fmt.Errorf("resolve members' credentials: %w", err)
	}
	rows, err = q.Query(ctx, `SELECT owner_kind, owner_id, agent FROM agent_preferences
		WHERE (owner_kind = 'org' AND owner_id = $1) OR (owner_kind = 'user' AND owner_id IN (`+in+`))`, args...)
	if err != nil {
		return nil, fmt.Errorf("resolve members' preferences: %w", err)
	}
	type pref struct {
		owner Owner
		agent Agent
	}
	prefs, err := sqldb.Collect(rows, func(r sqldb.Rows) (pref, error) {
		var p pref
		return p, r.Scan(&p.owner.Scope, &p.owner.ID, &p.agent)
	})
	if err != nil {
		return nil, fmt.Errorf("resolve members' preferences: %w", err)
	}
	var orgDefault Agent
	userPref := map[string]Agent{}
	for _, p := range prefs {
		if p.owner.Scope == ScopeOrg {
			orgDefault = p.agent
		} else {
			userPref[p.owner.ID] = p.agent
		}
	}
	for _, id := range userIDs {
		var mine []Credential
		for _, c := range all {
			if c.Scope == ScopeOrg || c.Scope == ScopeUser && c.OwnerID == id {
				mine = append(mine, c)
			}
		}
		var order []Agent
		for _, a := range []Agent{userPref[id], orgDefault} {
			if a != "" {
				order = append(order, a)
			}
		}
		res, err := choose(mine, order, "")
		switch {
		case err == nil:
			out[id] = res
		case !errors.Is(err, ErrNoCredentials):
			return nil, err
		}
	}
	return out, nil
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
