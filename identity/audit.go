// The audit log: who changed what and when, for credentials, links and
// memberships. Entries never carry secrets.

package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tryreplicas/gateway/gateway/sqldb"
)

// AuditEntry is one recorded change. ActorID is a user id or "system".
type AuditEntry struct {
	ID        string         `json:"id"`
	OrgID     string         `json:"org_id,omitempty"`
	ActorID   string         `json:"actor_id"`
	Action    string         `json:"action"`
	Target    string         `json:"target"`
	Detail    map[string]any `json:"detail,omitempty"`
	CreatedAt time.Time      `json:"created_at"`
}

// Audit records e (in the caller's transaction, so the change and its record
// commit together).
func (s *Store) Audit(ctx context.Context, q sqldb.Querier, e AuditEntry) error {
	detail, err := json.Marshal(e.Detail)
	if err != nil {
		return fmt.Errorf("audit: encode detail: %w", err)
	}
	var org any
	if e.OrgID != "" {
		org = e.OrgID
	}
	if _, err := q.Exec(ctx, `INSERT INTO audit_log (id, org_id, actor_id, action, target, detail, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		sqldb.NewID("aud"), org, e.ActorID, e.Action, e.Target, string(detail), s.now()); err != nil {
		return fmt.Errorf("audit %s: %w", e.Action, err)
	}
	return nil
}

// AuditLog lists the newest entries of an org (and entries about users of it
// without an org, such as personal credential changes), newest first.
func (s *Store) AuditLog(ctx context.Context, q sqldb.Querier, orgID string, limit int) ([]AuditEntry, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	rows, err := q.Query(ctx, `SELECT id, COALESCE(org_id, ''), actor_id, action, target, detail, created_at FROM audit_log
		WHERE org_id = $1 OR (org_id IS NULL AND actor_id IN (SELECT user_id FROM memberships WHERE org_id = $1))
		ORDER BY created_at DESC, id DESC LIMIT $2`, orgID, limit)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return sqldb.Collect(rows, func(r sqldb.Rows) (AuditEntry, error) {
		var e AuditEntry
		var detail string
		if err := r.Scan(&e.ID, &e.OrgID, &e.ActorID, &e.Action, &e.Target, &detail, &e.CreatedAt); err != nil {
			return e, err
		}
		if err := json.Unmarshal([]byte(detail), &e.Detail); err != nil {
			return e, fmt.Errorf("decode audit detail: %w", err)
		}
		return e, nil
	})
}
