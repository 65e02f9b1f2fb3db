// API tokens: random bearer tokens bound to one user in one org, shown once,
// stored as SHA-256 hashes, revocable.
package identity

import (
	"context"
	"errors"
	"fmt"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
)

// TokenPrefix starts every API token, so leaked tokens are recognizable.
const TokenPrefix = "rpl"

// ErrBadToken is a missing, unknown or revoked API token.
var ErrBadToken = errs.New(errs.ErrUnauthorized, "unauthorized", "missing, unknown or revoked API token")

// Principal is the caller behind an API token.
type Principal struct {
	TokenID string
	UserID  string
	Email   string
	OrgID   string
	Role    Role
}

// IsAdmin reports whether the caller administers its token's org.
func (p Principal) IsAdmin() bool { return p.Role == RoleAdmin }

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

// RevokeToken revokes a token of org.
func (s *Store) RevokeToken(ctx context.Context, q sqldb.Querier, orgID, tokenID string) error {
	n, err := q.Exec(ctx, `UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND org_id = $3 AND revoked_at IS NULL`, s.now(), tokenID, orgID)
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// Authenticate resolves a bearer token to its principal. The membership is
// read each time, so removing a member or changing a role takes effect at once.
func (s *Store) Authenticate(ctx context.Context, q sqldb.Querier, token string) (Principal, error) {
	if token == "" {
		return Principal{}, ErrBadToken
	}
	var p Principal
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
