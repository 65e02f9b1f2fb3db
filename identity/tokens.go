// API tokens: random bearer tokens shown once, stored as SHA-256 hashes,
// revocable. A user token belongs to the user who created it and acts in one
// org; an org automation token acts in its org with the admin role and has
// no user behind it.

package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
)

// Prefixes of API tokens, so leaked tokens are recognizable: user tokens and
// org automation tokens.
const (
	TokenPrefix    = "rpl"
	OrgTokenPrefix = "rpo"
)

// ErrBadToken is a missing, unknown or revoked API token.
var ErrBadToken = errs.New(errs.ErrUnauthorized, "unauthorized", "missing, unknown or revoked API token")

// Principal is the caller behind an API token. An org automation token has
// no UserID and no Email.
type Principal struct {
	TokenID string
	UserID  string
	Email   string
	OrgID   string
	Role    Role
}

// IsAdmin reports whether the caller administers its token's org.
func (p Principal) IsAdmin() bool { return p.Role == RoleAdmin }

// IsUser reports whether a person is behind the caller (not an org
// automation token).
func (p Principal) IsUser() bool { return p.UserID != "" }

// Actor is how the audit log names the caller: the user id, or the org
// automation token's id.
func (p Principal) Actor() string {
	if p.UserID == "" {
		return "token:" + p.TokenID
	}
	return p.UserID
}

// IssueToken creates a token for user in org and returns it; only its hash is
// stored. createdBy is the user id that asked for it.
func (s *Store) IssueToken(ctx context.Context, q sqldb.Querier, orgID, userID, createdBy string) (token, id string, err error) {
	token = sqldb.NewToken(TokenPrefix)
	id = sqldb.NewID("tok")
	if _, err := q.Exec(ctx, `INSERT INTO api_tokens (id, org_id, user_id, token_hash, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		id, orgID, userID, sqldb.HashToken(token), createdBy, s.now()); err != nil {
		return "", "", fmt.Errorf("issue token: %w", err)
	}
	return token, id, nil
}

// RevokeToken revokes a user's API token of org. Only its owner does this
// (RevokeOwnToken); an admin ends a member's tokens by removing the member.
func (s *Store) RevokeToken(ctx context.Context, q sqldb.Querier, orgID, tokenID string) error {
	return s.revoke(ctx, q, "api_tokens", orgID, tokenID)
}

// revoke marks a live token of table (a constant: api_tokens or org_tokens)
// revoked.
func (s *Store) revoke(ctx context.Context, q sqldb.Querier, table, orgID, tokenID string) error {
	n, err := q.Exec(ctx, `UPDATE `+table+` SET revoked_at = $1 WHERE id = $2 AND org_id = $3 AND revoked_at IS NULL`, s.now(), tokenID, orgID)
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// TokenInfo describes an API token without the token itself.
type TokenInfo struct {
	ID        string    `json:"id"`
	OrgID     string    `json:"org_id"`
	Name      string    `json:"name,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// IssueOwnToken creates an API token for the caller, acting in org (an org
// id or slug the caller belongs to; empty means the caller's current org).
// Nobody creates a token for someone else.
func (s *Store) IssueOwnToken(ctx context.Context, db *sqldb.DB, by Principal, org string) (token string, info TokenInfo, err error) {
	if !by.IsUser() {
		return "", TokenInfo{}, ErrNoUser
	}
	if org == "" {
		org = by.OrgID
	}
	err = db.InTx(ctx, func(tx sqldb.Tx) error {
		m, err := s.memberOf(ctx, tx, by.UserID, org)
		if errors.Is(err, ErrNotFound) {
			return errs.Forbidden("you are not a member of org %q", org)
		}
		if err != nil {
			return err
		}
		if token, info.ID, err = s.IssueToken(ctx, tx, m.OrgID, by.UserID, by.UserID); err != nil {
			return err
		}
		info.OrgID, info.CreatedAt = m.OrgID, s.now()
		return s.Audit(ctx, tx, AuditEntry{OrgID: m.OrgID, ActorID: by.UserID, Action: "token.issue", Target: by.UserID,
			Detail: map[string]any{"token_id": info.ID}})
	})
	return token, info, err
}

// OwnTokens lists the caller's live API tokens in every org.
func (s *Store) OwnTokens(ctx context.Context, q sqldb.Querier, by Principal) ([]TokenInfo, error) {
	if !by.IsUser() {
		return nil, ErrNoUser
	}
	rows, err := q.Query(ctx, `SELECT id, org_id, created_at FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at, id`, by.UserID)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return sqldb.Collect(rows, func(r sqldb.Rows) (TokenInfo, error) {
		var t TokenInfo
		return t, r.Scan(&t.ID, &t.OrgID, &t.CreatedAt)
	})
}

// RevokeOwnToken revokes one of the caller's own API tokens.
func (s *Store) RevokeOwnToken(ctx context.Context, db *sqldb.DB, by Principal, tokenID string) error {
	if !by.IsUser() {
		return ErrNoUser
	}
	return db.InTx(ctx, func(tx sqldb.Tx) error {
		var orgID string
		err := tx.QueryRow(ctx, `SELECT org_id FROM api_tokens WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL`, tokenID, by.UserID).Scan(&orgID)
		if err != nil {
			return sqldb.NoRowsAs(err, ErrNotFound, "find token")
		}
		if err := s.RevokeToken(ctx, tx, orgID, tokenID); err != nil {
			return err
		}
		return s.Audit(ctx, tx, AuditEntry{OrgID: orgID, ActorID: by.UserID, Action: "token.revoke", Target: tokenID})
	})
}

// IssueOrgToken creates an org automation token (admin): it acts in the
// caller's org with the admin role, has no user, and cannot launch
// workspaces or use anything personal.
func (s *Store) IssueOrgToken(ctx context.Context, db *sqldb.DB, by Principal, name string) (token string, info TokenInfo, err error) {
	if !by.IsAdmin() {
		return "", TokenInfo{}, errs.Forbidden("this needs the admin role in the org")
	}
	token = sqldb.NewToken(OrgTokenPrefix)
	info = TokenInfo{ID: sqldb.NewID("otk"), OrgID: by.OrgID, Name: strings.TrimSpace(name), CreatedAt: s.now()}
	if len(info.Name) > 100 {
		return "", TokenInfo{}, errs.Invalid("token name must be at most 100 characters")
	}
	err = db.InTx(ctx, func(tx sqldb.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO org_tokens (id, org_id, name, token_hash, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			info.ID, info.OrgID, info.Name, sqldb.HashToken(token), by.Actor(), info.CreatedAt); err != nil {
			return fmt.Errorf("issue org token: %w", err)
		}
		return s.Audit(ctx, tx, AuditEntry{OrgID: by.OrgID, ActorID: by.Actor(), Action: "org_token.issue", Target: info.ID,
			Detail: map[string]any{"name": info.Name}})
	})
	return token, info, err
}

// OrgTokens lists an org's live automation tokens.
func (s *Store) OrgTokens(ctx context.Context, q sqldb.Querier, orgID string) ([]TokenInfo, error) {
	rows, err := q.Query(ctx, `SELECT id, org_id, name, created_at FROM org_tokens WHERE org_id = $1 AND revoked_at IS NULL ORDER BY created_at, id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("list org tokens: %w", err)
	}
	return sqldb.Collect(rows, func(r sqldb.Rows) (TokenInfo, error) {
		var t TokenInfo
		return t, r.Scan(&t.ID, &t.OrgID, &t.Name, &t.CreatedAt)
	})
}

// RevokeOrgToken revokes an org automation token of the caller's org (admin)
// and audits it. Members' own tokens are not the admin's to revoke.
func (s *Store) RevokeOrgToken(ctx context.Context, db *sqldb.DB, by Principal, tokenID string) error {
	if !by.IsAdmin() {
		return errs.Forbidden("this needs the admin role in the org")
	}
	return db.InTx(ctx, func(tx sqldb.Tx) error {
		if err := s.revoke(ctx, tx, "org_tokens", by.OrgID, tokenID); err != nil {
			return err
		}
		return s.Audit(ctx, tx, AuditEntry{OrgID: by.OrgID, ActorID: by.Actor(), Action: "token.revoke", Target: tokenID})
	})
}

// Authenticate resolves a bearer token to its principal. The membership is
// read each time, so removing a member or changing a role takes effect at once.
func (s *Store) Authenticate(ctx context.Context, q sqldb.Querier, token string) (Principal, error) {
	if token == "" {
		return Principal{}, ErrBadToken
	}
	var p Principal
	if strings.HasPrefix(token, OrgTokenPrefix+"_") {
		err := q.QueryRow(ctx, `SELECT id, org_id FROM org_tokens WHERE token_hash = $1 AND revoked_at IS NULL`, sqldb.HashToken(token)).
			Scan(&p.TokenID, &p.OrgID)
		if errors.Is(err, sqldb.ErrNoRows) {
			return Principal{}, ErrBadToken
		}
		if err != nil {
			return Principal{}, fmt.Errorf("authenticate: %w", err)
		}
		p.Role = RoleAdmin
		return p, nil
	}
	err := q.QueryRow(ctx, `SELECT t.id, t.user_id, u.email, t.org_id, m.role
		FROM api_tokens t
		JOIN users u ON u.id = t.user_id
		JOIN memberships m ON m.org_id = t.org_id AND m.user_id = t.user_id
		WHERE t.token_hash = $1 AND t.revoked_at IS NULL`, sqldb.HashToken(token)).
		Scan(&p.TokenID, &p.UserID, &p.Email, &p.OrgID, &p.Role)
	if errors.Is(err, sqldb.ErrNoRows) {
		return Principal{}, ErrBadToken
	}
	if err != nil {
		return Principal{}, fmt.Errorf("authenticate: %w", err)
	}
	return p, nil
}

// Bootstrap creates an org, its first admin and an API token in one
// transaction (the admin bootstrap command).
func (s *Store) Bootstrap(ctx context.Context, db *sqldb.DB, slug, email, name string) (Org, User, string, error) {
	var org Org
	var user User
	var token string
	err := db.InTx(ctx, func(tx sqldb.Tx) error {
		var err error
		if org, err = s.CreateOrg(ctx, tx, slug, slug); err != nil {
			return err
		}
		if user, err = s.EnsureUser(ctx, tx, email, name); err != nil {
			return err
		}
		if err = s.AddMember(ctx, tx, org.ID, user.ID, RoleAdmin); err != nil {
			return err
		}
		if token, _, err = s.IssueToken(ctx, tx, org.ID, user.ID, user.ID); err != nil {
			return err
		}
		return s.Audit(ctx, tx, AuditEntry{OrgID: org.ID, ActorID: "system", Action: "org.bootstrap", Target: user.ID, Detail: map[string]any{"email": user.Email}})
	})
	return org, user, token, err
}
