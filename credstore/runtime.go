// The workspace credential runtime: the first usable credential
// of a workspace's chain with the agent's real environment, refreshed when
// within 5 minutes of expiry; force-rotation on rejection; fallback only when
// the refresh itself is rejected; the exhausted answer.

package credstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/tryreplicas/gateway/credstore/oauthrefresh"
	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
)

// RefreshMargin: tokens closer than this to expiry are refreshed first.
const RefreshMargin = 5 * time.Minute

// ErrRefreshUnavailable: the token endpoint is down or the outcome unknown;
// the workspace should retry, the credential stays usable.
var ErrRefreshUnavailable = errs.New(errs.ErrUnavailable, "refresh_unavailable", "the token endpoint is unavailable; retry shortly")

// ErrVersionRequired: a rejection must name the version the provider refused,
// or a stale report could not be told from a fresh one.
var ErrVersionRequired = errs.New(errs.ErrInvalid, "version_required", "version is required: the version of the credential the provider rejected (1 or more)")

// ExhaustedError is the answer when a chain has nothing usable left.
func ExhaustedError(agent Agent) error {
	return errs.New(errs.ErrConflict, "auth_exhausted", "Couldn't authenticate with %s after multiple attempts", agent.DisplayName())
}

// Issued is what a workspace gets: one credential and its variables.
type Issued struct {
	CredentialID string            `json:"credential_id"`
	Version      int64             `json:"version"`
	Scope        string            `json:"scope"`
	Agent        Agent             `json:"agent"`
	Method       Method            `json:"method"`
	ExpiresAt    *time.Time        `json:"expires_at"`
	Env          map[string]string `json:"env"`
	Files        map[string]string `json:"files,omitempty"`
}

// Chain is a workspace's resolved chain: its org (for the audit log), the
// workspace and its owner (whose reports about shared credentials count
// once), its agent and the credential ids in order.
type Chain struct {
	OrgID       string
	WorkspaceID string
	UserID      string
	Agent       Agent
	IDs         []string
}

// RejectionQuorum is how many different people's workspaces must report a
// shared API key or Bedrock credential (same version) as refused before it
// leaves every chain. Fewer reports take it out of the reporting
// workspaces' chains only, so one member cannot switch off the org's key for
// everyone. OAuth credentials need no quorum: the provider's own answer to a
// refresh decides.
const RejectionQuorum = 2

// Runtime hands credentials to running workspaces.
type Runtime struct {
	db        *sqldb.DB
	store     *Store
	endpoints map[Agent]oauthrefresh.Endpoint
	flight    singleflight.Group
	log       *slog.Logger
	now       func() time.Time
}

// NewRuntime builds the runtime with the agents' token endpoints.
func NewRuntime(db *sqldb.DB, store *Store, endpoints map[Agent]oauthrefresh.Endpoint, log *slog.Logger) *Runtime {
	return &Runtime{db: db, store: store, endpoints: endpoints, log: log, now: func() time.Time { return time.Now().UTC() }}
}

// Current returns the first usable credential of chain (credential ids in
// order), refreshing an OAuth token that is about to expire.
func (r *Runtime) Current(ctx context.Context, ch Chain) (Issued, error) {
	refused, err := r.store.RejectedBy(ctx, r.db, ch.WorkspaceID)
	if err != nil {
		return Issued{}, err
	}
	for _, id := range ch.IDs {
		c, sec, err := r.store.Open(ctx, r.db, id)
		if errors.Is(err, ErrNotFound) {
			continue // removed while the workspace ran
		}
		if err != nil {
			return Issued{}, err
		}
		if c.Status != StatusActive || c.Agent != ch.Agent || refused[Refusal{c.ID, c.Version}] {
			continue
		}
		if c.Method == MethodOAuth && r.now().Add(RefreshMargin).After(sec.ExpiresAt) {
			c, sec, err = r.refresh(ctx, ch, c, false)
			if oauthrefresh.IsRejected(err) {
				continue // marked unusable; fall back
			}
			if err != nil {
				return Issued{}, err
			}
		}
		return issue(c, sec), nil
	}
	return Issued{}, ExhaustedError(ch.Agent)
}

// Rejected handles a workspace's report that credential id at version was
// refused by the provider, and returns what to use now. Versions start at 1.
func (r *Runtime) Rejected(ctx context.Context, ch Chain, id string, version int64) (Issued, error) {
	if version < 1 {
		return Issued{}, ErrVersionRequired
	}
	inChain := false
	for _, c := range ch.IDs {
		inChain = inChain || c == id
	}
	if !inChain {
		return Issued{}, errs.New(errs.ErrNotFound, "not_found", "credential %s is not in this workspace's chain", id)
	}
	c, sec, err := r.store.Open(ctx, r.db, id)
	if errors.Is(err, ErrNotFound) {
		return r.Current(ctx, ch)
	}
	if err != nil {
		return Issued{}, err
	}
	switch {
	case c.Status != StatusActive:
		// Already marked unusable by another workspace: fall back.
	case c.Version > version:
		return issue(c, sec), nil // someone rotated it since: use that
	case c.Method == MethodOAuth:
		c, sec, err = r.refresh(ctx, ch, c, true)
		if err == nil {
			return issue(c, sec), nil
		}
		if !oauthrefresh.IsRejected(err) {
			return Issued{}, err
		}
	case c.Scope == ScopeUser:
		// The owner's own key, reported by the owner's own workspace.
		if err := r.store.MarkUnusable(ctx, r.db, id, "rejected by the provider: replace it", Change{ActorID: "system", OrgID: ch.OrgID}); err != nil {
			return Issued{}, err
		}
	default:
		if err := r.rejectShared(ctx, ch, c); err != nil {
			return Issued{}, err
		}
	}
	return r.Current(ctx, ch)
}

// rejectShared records a workspace's report about an org credential and
// ends the credential once RejectionQuorum people have reported it.
func (r *Runtime) rejectShared(ctx context.Context, ch Chain, c Credential) error {
	if ch.WorkspaceID == "" || ch.UserID == "" {
		return errs.New(errs.ErrInvalid, "workspace_required", "a rejection of a shared credential must come from a workspace")
	}
	people, err := r.store.Reject(ctx, r.db, c.ID, c.Version, ch.WorkspaceID, ch.UserID, r.now())
	if err != nil {
		return err
	}
	if people < RejectionQuorum {
		r.log.Warn("shared credential refused in one workspace; skipped there", "credential_id", c.ID, "workspace_id", ch.WorkspaceID, "reports", people)
		return nil
	}
	return r.store.MarkUnusable(ctx, r.db, c.ID, fmt.Sprintf("rejected by the provider in workspaces of %d people: replace it", people), Change{ActorID: "system", OrgID: ch.OrgID})
}

// refreshTimeout bounds one refresh: waiting for the credential's lock, the
// token request and storing the result.
const refreshTimeout = time.Minute

// refresh rotates an OAuth credential, one refresh per credential at a time
// across goroutines (single-flight, keyed by the version seen and by force,
// so a forced rotation never shares a flight that may hand back the token it
// reported) and processes (a named database lock held across the token
// request), re-checking after taking the lock so that waiters use the token
// the winner obtained. The refresh runs detached from the caller with its
// own timeout: once the provider has rotated the token, the new tokens are
// stored even when the workspace that asked has gone. The caller stops
// waiting when its context ends.
func (r *Runtime) refresh(ctx context.Context, ch Chain, seen Credential, force bool) (Credential, Secret, error) {
	key := fmt.Sprintf("%s@%d force=%t", seen.ID, seen.Version, force)
	done := r.flight.DoChan(key, func() (any, error) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
		defer cancel()
		return r.rotate(rctx, ch, seen, force)
	})
	select {
	case <-ctx.Done():
		return Credential{}, Secret{}, ctx.Err()
	case res := <-done:
		if res.Err != nil {
			return Credential{}, Secret{}, res.Err
		}
		o := res.Val.(opened)
		return o.c, o.sec, nil
	}
}

// rotate holds the credential's lock across one refresh-token grant. The
// send is recorded before it leaves (refresh state "unknown"), so an answer
// that never arrives (or a crash) is known afterwards. A token whose last
// send has an unknown outcome is sent once more ("resent"): if the provider
// never got it, that works; if it had rotated it, the provider answers with
// a reuse or invalid_grant rejection. A re-send whose outcome is unknown too
// ends the credential: it is marked unusable and the chain falls back.
func (r *Runtime) rotate(ctx context.Context, ch Chain, seen Credential, force bool) (opened, error) {
	unlock, err := r.db.Lock(ctx, "credential:"+seen.ID)
	if err != nil {
		return opened{}, fmt.Errorf("%w: %v", ErrRefreshUnavailable, err)
	}
	defer unlock()
	c, sec, err := r.store.Open(ctx, r.db, seen.ID)
	if err != nil {
		return opened{}, err
	}
	if c.Status != StatusActive {
		return opened{}, &oauthrefresh.RejectedError{Code: "credential unusable"}
	}
	fresh := r.now().Add(RefreshMargin).Before(sec.ExpiresAt)
	if c.Version > seen.Version || (!force && fresh) {
		return opened{c, sec}, nil // another request (or process) refreshed it meanwhile
	}
	ep, ok := r.endpoints[c.Agent]
	if !ok {
		return opened{}, fmt.Errorf("no token endpoint for %s", c.Agent)
	}
	sending := RefreshUnknown
	switch c.RefreshState {
	case RefreshUnknown:
		sending = RefreshResent
		r.log.Warn("re-sending an OAuth refresh token once after an unknown outcome", "credential_id", c.ID, "agent", c.Agent)
	case RefreshResent: // a crash during the re-send
		return opened{}, r.giveUp(ctx, ch, c)
	}
	if err := r.store.SetRefreshState(ctx, r.db, c.ID, c.Version, sending); err != nil {
		return opened{}, fmt.Errorf("%w: %v", ErrRefreshUnavailable, err)
	}
	tok, err := ep.Refresh(ctx, sec.RefreshToken)
	switch {
	case oauthrefresh.IsRejected(err):
		r.log.Warn("oauth refresh rejected; credential marked unusable", "credential_id", c.ID, "agent", c.Agent, "scope", c.Scope, "err", err)
		if merr := r.markUnusable(ctx, ch, c, "OAuth refresh rejected by the provider: reconnect it"); merr != nil {
			return opened{}, merr
		}
		return opened{}, err
	case errors.Is(err, oauthrefresh.ErrOutcomeUnknown) && sending == RefreshResent:
		return opened{}, r.giveUp(ctx, ch, c)
	case errors.Is(err, oauthrefresh.ErrOutcomeUnknown):
		r.log.Warn("oauth refresh outcome unknown; the token will be re-sent once", "credential_id", c.ID, "err", err)
		return opened{}, fmt.Errorf("%w: %v", ErrRefreshUnavailable, err)
	case err != nil:
		// The provider did not take the token: the state before this send holds.
		r.log.Warn("oauth refresh failed; credential kept", "credential_id", c.ID, "err", err)
		if serr := r.store.SetRefreshState(ctx, r.db, c.ID, c.Version, c.RefreshState); serr != nil {
			return opened{}, fmt.Errorf("%w: %v", ErrRefreshUnavailable, serr)
		}
		return opened{}, fmt.Errorf("%w: %v", ErrRefreshUnavailable, err)
	}
	sec.AccessToken, sec.RefreshToken, sec.ExpiresAt = tok.AccessToken, tok.RefreshToken, tok.Expiry
	if id, _ := tok.Extra("id_token").(string); id != "" {
		sec.IDToken = id
	}
	if sec.ExpiresAt.IsZero() {
		sec.ExpiresAt = r.now().Add(time.Hour)
	}
	c, err = r.store.UpdateSecret(ctx, r.db, c.ID, c.Version, sec)
	if err != nil {
		return opened{}, fmt.Errorf("store refreshed token: %w", err)
	}
	return opened{c, sec}, nil
}

// giveUp ends a credential whose refresh token was sent twice without a
// known outcome: it is marked unusable and the caller falls back.
func (r *Runtime) giveUp(ctx context.Context, ch Chain, c Credential) error {
	r.log.Warn("oauth refresh outcome unknown twice; credential marked unusable", "credential_id", c.ID, "agent", c.Agent, "scope", c.Scope)
	if err := r.markUnusable(ctx, ch, c, "OAuth refresh outcome unknown twice: reconnect it"); err != nil {
		return err
	}
	return &oauthrefresh.RejectedError{Code: "outcome_unknown"}
}

func (r *Runtime) markUnusable(ctx context.Context, ch Chain, c Credential, reason string) error {
	return r.store.MarkUnusable(ctx, r.db, c.ID, reason, Change{ActorID: "system", OrgID: ch.OrgID})
}

type opened struct {
	c   Credential
	sec Secret
}

// pair is an agent with one of its methods.
type pair struct {
	agent  Agent
	method Method
}

// issue builds the answer: the agent's variables for exactly one credential.
func issue(c Credential, s Secret) Issued {
	out := Issued{CredentialID: c.ID, Version: c.Version, Scope: c.Scope, Agent: c.Agent, Method: c.Method, ExpiresAt: c.ExpiresAt, Env: map[string]string{}}
	switch (pair{c.Agent, c.Method}) {
	case pair{AgentClaude, MethodOAuth}:
		out.Env["CLAUDE_CODE_OAUTH_TOKEN"] = s.AccessToken
	case pair{AgentClaude, MethodAPIKey}:
		out.Env["ANTHROPIC_API_KEY"] = s.APIKey
	case pair{AgentClaude, MethodBedrock}:
		out.Env["CLAUDE_CODE_USE_BEDROCK"] = "1"
		out.Env["AWS_ACCESS_KEY_ID"] = s.AccessKeyID
		out.Env["AWS_SECRET_ACCESS_KEY"] = s.SecretAccessKey
		out.Env["AWS_REGION"] = s.Region
		if s.SessionToken != "" {
			out.Env["AWS_SESSION_TOKEN"] = s.SessionToken
		}
	case pair{AgentCodex, MethodAPIKey}:
		out.Env["OPENAI_API_KEY"] = s.APIKey
		out.Env["CODEX_API_KEY"] = s.APIKey
		out.Files = map[string]string{".codex/auth.json": codexAuth(map[string]any{"auth_mode": "apikey", "OPENAI_API_KEY": s.APIKey, "tokens": nil, "last_refresh": nil})}
	case pair{AgentCodex, MethodOAuth}:
		out.Files = map[string]string{".codex/auth.json": codexAuth(map[string]any{
			"auth_mode": "chatgpt", "OPENAI_API_KEY": nil,
			// No refresh token: the gateway alone rotates the family, so a
			// workspace can never log out the other holders of the grant.
			// last_refresh is now, so the CLI sees no reason to refresh.
			"tokens":       map[string]string{"id_token": s.IDToken, "access_token": s.AccessToken, "refresh_token": "", "account_id": s.AccountID},
			"last_refresh": time.Now().UTC().Format(time.RFC3339Nano),
		})}
	}
	return out
}

func codexAuth(v map[string]any) string {
	b, _ := json.MarshalIndent(v, "", "  ") // maps of strings always encode
	return string(b)
}
