package credstore

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/identity"
)

//go:embed migrations
var migrations embed.FS

// Migrations is this package's schema.
var Migrations = sqldb.Set{Name: "credstore", FS: sqldb.MustSub(migrations, "migrations"), Needs: []sqldb.Set{identity.Migrations}}

// ErrNotFound is a missing credential.
var ErrNotFound = fmt.Errorf("credstore: %w", errs.ErrNotFound)

// ErrNoCredentials: no agent has a usable credential for this user and org.
var ErrNoCredentials = errs.New(errs.ErrUnprocessable, "no_credentials", "at least one coding agent must be configured")

// Scopes.
const (
	ScopeOrg  = "org"
	ScopeUser = "user"
)

// Statuses.
const (
	StatusActive   = "active"
	StatusUnusable = "unusable"
)

// Refresh states of an OAuth credential: what is known about the last send
// of its refresh token.
const (
	RefreshSettled = ""        // no send without an answer
	RefreshUnknown = "unknown" // sent and no answer known: the provider may have rotated it
	RefreshResent  = "resent"  // sent once more after an unknown outcome, still no answer
)

// Credential is a credential without its secret: what the API shows.
type Credential struct {
	ID           string     `json:"id"`
	Scope        string     `json:"scope"`
	OwnerID      string     `json:"-"`
	Agent        Agent      `json:"agent"`
	Method       Method     `json:"method"`
	Hint         string     `json:"hint"`
	Status       string     `json:"status"`
	StatusReason string     `json:"status_reason,omitempty"`
	Version      int64      `json:"version"`
	RefreshState string     `json:"refresh_state,omitempty"`
	ExpiresAt    *time.Time `json:"expires_at,omitempty"`
	UpdatedAt    time.Time  `json:"updated_at"`
	keyID        string
	sealed       []byte
}

// Auditor records changes (identity.Store implements it).
type Auditor interface {
	Audit(ctx context.Context, q sqldb.Querier, e identity.AuditEntry) error
}

// Store reads and writes credentials.
type Store struct {
	keys  *Keyring
	audit Auditor
	now   func() time.Time
}

// NewStore returns a store sealing with keys and auditing through audit.
func NewStore(keys *Keyring, audit Auditor) *Store {
	return &Store{keys: keys, audit: audit, now: func() time.Time { return time.Now().UTC() }}
}

const credCols = `id, scope, owner_id, agent, method, hint, status, status_reason, version, refresh_state, expires_at, updated_at, key_id, sealed`

func scanCred(r sqldb.Row) (Credential, error) {
	var c Credential
	err := r.Scan(&c.ID, &c.Scope, &c.OwnerID, &c.Agent, &c.Method, &c.Hint, &c.Status, &c.StatusReason, &c.Version, &c.RefreshState, &c.ExpiresAt, &c.UpdatedAt, &c.keyID, &c.sealed)
	return c, err
}

// Owner names whose credential it is: an org (admins manage) or a user.
type Owner struct {
	Scope string // ScopeOrg or ScopeUser
	ID    string // org id or user id
}

// Change is who changes a credential, for the audit log.
type Change struct {
	ActorID string
	OrgID   string // the org the change was made through
}

// Put validates and stores (or replaces) the owner's credential for agent and
// method. Replacing a credential makes it usable again and bumps its version.
func (s *Store) Put(ctx context.Context, q sqldb.Querier, o Owner, agent Agent, method Method, in Secret, by Change) (Credential, error) {
	sec, err := validate(agent, method, in)
	if err != nil {
		return Credential{}, err
	}
	now := s.now()
	existing, err := s.find(ctx, q, o, agent, method)
	id := existing.ID
	switch {
	case errors.Is(err, ErrNotFound):
		id = sqldb.NewID("cred")
	case err != nil:
		return Credential{}, err
	}
	keyID, sealed, err := s.seal(id, sec)
	if err != nil {
		return Credential{}, err
	}
	var expires *time.Time
	if method == MethodOAuth {
		expires = &sec.ExpiresAt
	}
	if _, err := q.Exec(ctx, `INSERT INTO credentials (id, scope, owner_id, agent, method, key_id, sealed, hint, status, status_reason, version, expires_at, created_by, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', '', 1, $9, $10, $11, $11)
		ON CONFLICT (scope, owner_id, agent, method) DO UPDATE SET key_id = excluded.key_id, sealed = excluded.sealed, hint = excluded.hint,
			status = 'active', status_reason = '', version = credentials.version + 1, refresh_state = '', expires_at = excluded.expires_at, updated_at = excluded.updated_at`,
		id, o.Scope, o.ID, agent, method, keyID, sealed, hint(method, sec), expires, by.ActorID, now); err != nil {
		return Credential{}, fmt.Errorf("put credential: %w", err)
	}
	c, err := s.find(ctx, q, o, agent, method)
	if err != nil {
		return Credential{}, err
	}
	return c, s.record(ctx, q, by, "credential.put", c, nil)
}

func (s *Store) seal(id string, sec Secret) (string, []byte, error) {
	pt, err := json.Marshal(sec)
	if err != nil {
		return "", nil, fmt.Errorf("encode secret: %w", err)
	}
	return s.keys.Seal(pt, []byte(id))
}

func (s *Store) find(ctx context.Context, q sqldb.Querier, o Owner, agent Agent, method Method) (Credential, error) {
	c, err := scanCred(q.QueryRow(ctx, `SELECT `+credCols+` FROM credentials WHERE scope = $1 AND owner_id = $2 AND agent = $3 AND method = $4`,
		o.Scope, o.ID, agent, method))
	return c, sqldb.NoRowsAs(err, ErrNotFound, "get credential")
}

// Find returns the owner's credential for agent and method.
func (s *Store) Find(ctx context.Context, q sqldb.Querier, o Owner, agent Agent, method Method) (Credential, error) {
	if err := checkAgentMethod(agent, method); err != nil {
		return Credential{}, err
	}
	return s.find(ctx, q, o, agent, method)
}

// Get returns a credential by id.
func (s *Store) Get(ctx context.Context, q sqldb.Querier, id string) (Credential, error) {
	c, err := scanCred(q.QueryRow(ctx, `SELECT `+credCols+` FROM credentials WHERE id = $1`, id))
	return c, sqldb.NoRowsAs(err, ErrNotFound, "get credential")
}

// List returns the owner's credentials in agent and chain order.
func (s *Store) List(ctx context.Context, q sqldb.Querier, o Owner) ([]Credential, error) {
	rows, err := q.Query(ctx, `SELECT `+credCols+` FROM credentials WHERE scope = $1 AND owner_id = $2`, o.Scope, o.ID)
	if err != nil {
		return nil, fmt.Errorf("list credentials: %w", err)
	}
	cs, err := sqldb.Collect(rows, func(r sqldb.Rows) (Credential, error) { return scanCred(r) })
	if err != nil {
		return nil, fmt.Errorf("list credentials: %w", err)
	}
	sortChain(cs)
	return cs, nil
}

// Delete removes the owner's credential for agent and method.
func (s *Store) Delete(ctx context.Context, q sqldb.Querier, o Owner, agent Agent, method Method, by Change) error {
	c, err := s.Find(ctx, q, o, agent, method)
	if err != nil {
		return err
	}
	if _, err := q.Exec(ctx, `DELETE FROM credentials WHERE id = $1`, c.ID); err != nil {
		return fmt.Errorf("delete credential: %w", err)
	}
	return s.record(ctx, q, by, "credential.delete", c, nil)
}

// Open returns a credential with its decrypted secret.
func (s *Store) Open(ctx context.Context, q sqldb.Querier, id string) (Credential, Secret, error) {
	c, err := s.Get(ctx, q, id)
	if err != nil {
		return Credential{}, Secret{}, err
	}
	sec, err := s.open(c)
	return c, sec, err
}

func (s *Store) open(c Credential) (Secret, error) {
	pt, err := s.keys.Open(c.keyID, c.sealed, []byte(c.ID))
	if err != nil {
		return Secret{}, fmt.Errorf("open credential %s: %w", c.ID, err)
	}
	var sec Secret
	if err := json.Unmarshal(pt, &sec); err != nil {
		return Secret{}, fmt.Errorf("decode credential %s: %w", c.ID, err)
	}
	return sec, nil
}

// MarkUnusable takes a credential out of every chain until its owner
// replaces it, and records why.
func (s *Store) MarkUnusable(ctx context.Context, q sqldb.Querier, id, reason string, by Change) error {
	c, err := s.Get(ctx, q, id)
	if err != nil {
		return err
	}
	if _, err := q.Exec(ctx, `UPDATE credentials SET status = 'unusable', status_reason = $1, updated_at = $2 WHERE id = $3`, reason, s.now(), id); err != nil {
		return fmt.Errorf("mark credential unusable: %w", err)
	}
	return s.record(ctx, q, by, "credential.unusable", c, map[string]any{"reason": reason})
}

// Refusal is one version of a credential that a workspace reported as
// refused by the provider.
type Refusal struct {
	CredentialID string
	Version      int64
}

// Reject records that workspace (owned by user) saw the provider refuse
// version of a shared credential, and returns how many different people's
// workspaces have reported that version.
func (s *Store) Reject(ctx context.Context, q sqldb.Querier, id string, version int64, workspaceID, userID string, at time.Time) (int, error) {
	if _, err := q.Exec(ctx, `INSERT INTO credential_rejections (credential_id, version, workspace_id, user_id, created_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT DO NOTHING`, id, version, workspaceID, userID, at); err != nil {
		return 0, fmt.Errorf("record rejection: %w", err)
	}
	var people int
	if err := q.QueryRow(ctx, `SELECT COUNT(DISTINCT user_id) FROM credential_rejections WHERE credential_id = $1 AND version = $2`, id, version).Scan(&people); err != nil {
		return 0, fmt.Errorf("count rejections: %w", err)
	}
	return people, nil
}

// RejectedBy lists the credential versions that workspace reported as
// refused; none without a workspace.
func (s *Store) RejectedBy(ctx context.Context, q sqldb.Querier, workspaceID string) (map[Refusal]bool, error) {
	if workspaceID == "" {
		return nil, nil
	}
	rows, err := q.Query(ctx, `SELECT credential_id, version FROM credential_rejections WHERE workspace_id = $1`, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("list rejections: %w", err)
	}
	defer rows.Close()
	out := map[Refusal]bool{}
	for rows.Next() {
		var r Refusal
		if err := rows.Scan(&r.CredentialID, &r.Version); err != nil {
			return nil, fmt.Errorf("list rejections: %w", err)
		}
		out[r] = true
	}
	return out, rows.Err()
}

// UpdateSecret stores a rotated secret (new OAuth tokens) when the stored
// version is still expectedVersion, bumping the version and settling the
// refresh state; it returns the new credential, or errs.ErrConflict when
// someone else changed it first.
func (s *Store) UpdateSecret(ctx context.Context, q sqldb.Querier, id string, expectedVersion int64, sec Secret) (Credential, error) {
	keyID, sealed, err := s.seal(id, sec)
	if err != nil {
		return Credential{}, err
	}
	var expires *time.Time
	if !sec.ExpiresAt.IsZero() {
		expires = &sec.ExpiresAt
	}
	n, err := q.Exec(ctx, `UPDATE credentials SET key_id = $1, sealed = $2, hint = $3, expires_at = $4, version = version + 1, refresh_state = '', updated_at = $5
		WHERE id = $6 AND version = $7`, keyID, sealed, hint(MethodOAuth, sec), expires, s.now(), id, expectedVersion)
	if err != nil {
		return Credential{}, fmt.Errorf("update credential secret: %w", err)
	}
	if n == 0 {
		return Credential{}, errs.Conflict("credential %s changed concurrently", id)
	}
	return s.Get(ctx, q, id)
}

// SetRefreshState records what is known about the send of the refresh token
// of a usable credential at version (it does not change the version: the
// secret is the same); errs.ErrConflict when the credential changed first.
func (s *Store) SetRefreshState(ctx context.Context, q sqldb.Querier, id string, version int64, state string) error {
	n, err := q.Exec(ctx, `UPDATE credentials SET refresh_state = $1 WHERE id = $2 AND version = $3 AND status = 'active'`, state, id, version)
	if err != nil {
		return fmt.Errorf("record refresh state: %w", err)
	}
	if n == 0 {
		return errs.Conflict("credential %s changed concurrently", id)
	}
	return nil
}

// Reseal re-encrypts every credential still sealed with an older key and
// returns how many it changed (admin rotate-key).
func (s *Store) Reseal(ctx context.Context, q sqldb.Querier) (int, error) {
	rows, err := q.Query(ctx, `SELECT `+credCols+` FROM credentials WHERE key_id <> $1`, s.keys.CurrentKeyID())
	if err != nil {
		return 0, fmt.Errorf("reseal credentials: %w", err)
	}
	cs, err := sqldb.Collect(rows, func(r sqldb.Rows) (Credential, error) { return scanCred(r) })
	if err != nil {
		return 0, fmt.Errorf("reseal credentials: %w", err)
	}
	for _, c := range cs {
		sec, err := s.open(c)
		if err != nil {
			return 0, err
		}
		keyID, sealed, err := s.seal(c.ID, sec)
		if err != nil {
			return 0, err
		}
		if _, err := q.Exec(ctx, `UPDATE credentials SET key_id = $1, sealed = $2 WHERE id = $3`, keyID, sealed, c.ID); err != nil {
			return 0, fmt.Errorf("reseal credential %s: %w", c.ID, err)
		}
	}
	return len(cs), nil
}

func (s *Store) record(ctx context.Context, q sqldb.Querier, by Change, action string, c Credential, extra map[string]any) error {
	detail := map[string]any{"scope": c.Scope, "agent": c.Agent, "method": c.Method, "hint": c.Hint}
	for k, v := range extra {
		detail[k] = v
	}
	org := by.OrgID
	if c.Scope == ScopeOrg {
		org = c.OwnerID
	}
	return s.audit.Audit(ctx, q, identity.AuditEntry{OrgID: org, ActorID: by.ActorID, Action: action, Target: c.ID, Detail: detail})
}

func identityEntry(orgID, actor, action, target string, detail map[string]any) identity.AuditEntry {
	return identity.AuditEntry{OrgID: orgID, ActorID: actor, Action: action, Target: target, Detail: detail}
}
