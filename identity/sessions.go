// Browser sessions: a random token in an HttpOnly cookie, stored only as its
// SHA-256 hash, with an expiry and a CSRF token of its own. A session starts
// signed out (so a sign-in's OAuth state can be bound to the browser that
// started it) and is replaced by a fresh one, with a new token, when someone
// signs in: a token planted before sign-in never becomes a signed-in session.

package identity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
)

// Session lifetimes: a signed-in browser stays signed in for SessionTTL; a
// signed-out one (only holding a sign-in in progress) for AnonymousSessionTTL.
const (
	SessionTTL          = 14 * 24 * time.Hour
	AnonymousSessionTTL = 2 * time.Hour
	SessionPrefix       = "rps"
)

// ErrNoSession is a missing, unknown, expired or ended session.
var ErrNoSession = errs.New(errs.ErrUnauthorized, "no_session", "you are not signed in (or your session ended)")

// Session is a browser session. UserID is empty while signed out; OrgID is
// the org the browser is looking at (empty for a user of no org).
type Session struct {
	ID        string
	UserID    string
	OrgID     string
	CSRF      string
	ExpiresAt time.Time
}

// SignedIn reports whether a user is behind the session.
func (s Session) SignedIn() bool { return s.UserID != "" }

// StartSession creates a signed-out session and returns its cookie token.
func (s *Store) StartSession(ctx context.Context, q sqldb.Querier) (string, Session, error) {
	return s.insertSession(ctx, q, "", "", AnonymousSessionTTL)
}

func (s *Store) insertSession(ctx context.Context, q sqldb.Querier, userID, orgID string, ttl time.Duration) (string, Session, error) {
	token := sqldb.NewToken(SessionPrefix)
	now := s.now()
	sess := Session{ID: sqldb.NewID("ses"), UserID: userID, OrgID: orgID, CSRF: sqldb.NewToken("csrf"), ExpiresAt: now.Add(ttl)}
	if _, err := q.Exec(ctx, `INSERT INTO browser_sessions (id, token_hash, user_id, org_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		sess.ID, sqldb.HashToken(token), nullable(userID), nullable(orgID), sess.CSRF, now, sess.ExpiresAt); err != nil {
		return "", Session{}, fmt.Errorf("start session: %w", err)
	}
	return token, sess, nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// SessionByToken finds the live session of a cookie token.
func (s *Store) SessionByToken(ctx context.Context, q sqldb.Querier, token string) (Session, error) {
	if token == "" {
		return Session{}, ErrNoSession
	}
	var sess Session
	var userID, orgID *string
	err := q.QueryRow(ctx, `SELECT id, user_id, org_id, csrf_token, expires_at FROM browser_sessions WHERE token_hash = $1 AND expires_at > $2`,
		sqldb.HashToken(token), s.now()).Scan(&sess.ID, &userID, &orgID, &sess.CSRF, &sess.ExpiresAt)
	if errors.Is(err, sqldb.ErrNoRows) {
		return Session{}, ErrNoSession
	}
	if err != nil {
		return Session{}, fmt.Errorf("find session: %w", err)
	}
	if userID != nil {
		sess.UserID = *userID
	}
	if orgID != nil {
		sess.OrgID = *orgID
	}
	return sess, nil
}

// EndSession deletes a session (sign-out); its cookie stops working at once.
func (s *Store) EndSession(ctx context.Context, q sqldb.Querier, id string) error {
	if _, err := q.Exec(ctx, `DELETE FROM browser_sessions WHERE id = $1`, id); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// SignInTx ends the browser's previous session (replacedID, may be empty)
// and starts a signed-in one for userID looking at org (id or slug; empty:
// the user's first org). Callers call it only after the user proved who they
// are (an OAuth code, a login link, an invitation that created them).
func (s *Store) SignInTx(ctx context.Context, tx sqldb.Querier, replacedID, userID, org, via string) (string, Session, error) {
	if replacedID != "" {
		if err := s.EndSession(ctx, tx, replacedID); err != nil {
			return "", Session{}, err
		}
	}
	orgID := ""
	if m, err := s.memberOf(ctx, tx, userID, org); err == nil {
		orgID = m.OrgID
	} else if org != "" {
		if m, err = s.memberOf(ctx, tx, userID, ""); err == nil {
			orgID = m.OrgID
		}
	}
	token, sess, err := s.insertSession(ctx, tx, userID, orgID, SessionTTL)
	if err != nil {
		return "", Session{}, err
	}
	if err := s.Audit(ctx, tx, AuditEntry{OrgID: orgID, ActorID: userID, Action: "session.sign_in", Target: sess.ID,
		Detail: map[string]any{"via": via}}); err != nil {
		return "", Session{}, err
	}
	return token, sess, nil
}

// SessionPrincipal is the caller behind a signed-in session in its current
// org; when that membership ended it falls back to the user's first org (and
// to no org at all: OrgID and Role empty).
func (s *Store) SessionPrincipal(ctx context.Context, q sqldb.Querier, sess Session) (Principal, error) {
	if !sess.SignedIn() {
		return Principal{}, ErrNoSession
	}
	u, err := s.User(ctx, q, sess.UserID)
	if errors.Is(err, ErrNotFound) {
		return Principal{}, ErrNoSession
	}
	if err != nil {
		return Principal{}, err
	}
	p := Principal{UserID: u.ID, Email: u.Email}
	m, err := s.Member(ctx, q, sess.OrgID, u.ID)
	if errors.Is(err, ErrNotFound) {
		m, err = s.memberOf(ctx, q, u.ID, "")
		if err != nil {
			return p, nil // a user of no org
		}
	}
	if err != nil {
		return Principal{}, err
	}
	p.OrgID, p.Role = m.OrgID, m.Role
	return p, nil
}

// SwitchOrg points a signed-in session at another org of its user.
func (s *Store) SwitchOrg(ctx context.Context, q sqldb.Querier, sess Session, org string) (Org, error) {
	m, err := s.memberOf(ctx, q, sess.UserID, org)
	if errors.Is(err, ErrNotFound) || org == "" {
		return Org{}, errs.NotFound("org")
	}
	if err != nil {
		return Org{}, err
	}
	if _, err := q.Exec(ctx, `UPDATE browser_sessions SET org_id = $1 WHERE id = $2 AND user_id = $3`, m.OrgID, sess.ID, sess.UserID); err != nil {
		return Org{}, fmt.Errorf("switch org: %w", err)
	}
	return s.Org(ctx, q, m.OrgID)
}

// OrgsOf lists the orgs of a user with their role there, by name.
func (s *Store) OrgsOf(ctx context.Context, q sqldb.Querier, userID string) ([]OrgRole, error) {
	rows, err := q.Query(ctx, `SELECT o.id, o.slug, o.name, o.created_at, m.role FROM memberships m JOIN orgs o ON o.id = m.org_id
		WHERE m.user_id = $1 ORDER BY o.name, o.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list orgs of user: %w", err)
	}
	return sqldb.Collect(rows, func(r sqldb.Rows) (OrgRole, error) {
		var o OrgRole
		return o, r.Scan(&o.ID, &o.Slug, &o.Name, &o.CreatedAt, &o.Role)
	})
}

// OrgRole is an org with the caller's role in it.
type OrgRole struct {
	Org
	Role Role `json:"role"`
}

// PurgeExpiredSessions deletes the sessions that expired before now.
func PurgeExpiredSessions(ctx context.Context, q sqldb.Querier, now time.Time) (int, error) {
	n, err := q.Exec(ctx, `DELETE FROM browser_sessions WHERE expires_at < $1`, now)
	if err != nil {
		return 0, fmt.Errorf("purge sessions: %w", err)
	}
	return int(n), nil
}
