// Membership that only its owner controls. An admin invites an email; the
// person behind the single-use link becomes the member. An admin never
// obtains anything that acts as another user: no token for them, no way to
// read or change what is theirs.

package identity

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
)

// Lifetimes of the single-use links.
const (
	InvitationTTL = 7 * 24 * time.Hour
	LoginLinkTTL  = 15 * time.Minute
)

// Token prefixes of the single-use links.
const (
	InvitationPrefix = "rpi"
	LoginLinkPrefix  = "rpk"
)

// MaxEmailLen is the longest address accepted (RFC 5321's path limit).
const MaxEmailLen = 254

// Errors of the membership rules.
var (
	ErrAlreadyMember     = errs.New(errs.ErrConflict, "already_member", "this email already belongs to a member of the org")
	ErrLastAdmin         = errs.New(errs.ErrConflict, "last_admin", "the org must keep at least one admin")
	ErrInvitationUnknown = errs.New(errs.ErrNotFound, "invitation_not_found", "the invitation is unknown, already used, revoked or expired")
	ErrLoginLinkUnknown  = errs.New(errs.ErrNotFound, "login_link_not_found", "the sign-in link is unknown, already used or expired")
	ErrSignInFirst       = errs.New(errs.ErrUnauthorized, "sign_in_required", "this email belongs to an existing user: sign in first, then accept the invitation")
	ErrNoUser            = errs.Forbidden("an org automation token has no user: it cannot do this")
	ErrAdminOnly         = errs.Forbidden("only an admin of the org can do this")
)

// ValidateEmail normalizes an email and checks its shape: at most 254
// characters, exactly one @ with something on both sides, no spaces or
// control characters.
func ValidateEmail(email string) (string, error) {
	email = NormalizeEmail(email)
	bad := func() (string, error) {
		return "", errs.Invalid("email must be an address of at most %d characters with one @ and no spaces", MaxEmailLen)
	}
	if email == "" || len(email) > MaxEmailLen || strings.Count(email, "@") != 1 {
		return bad()
	}
	local, domain, _ := strings.Cut(email, "@")
	if local == "" || domain == "" || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return bad()
	}
	for _, r := range email {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar {
			return bad()
		}
	}
	return email, nil
}

// Invitation is a pending (or past) offer of membership. The link's token is
// only in Link, once, when it is created.
type Invitation struct {
	ID         string     `json:"invitation_id"`
	OrgID      string     `json:"org_id"`
	Email      string     `json:"email"`
	Name       string     `json:"name,omitempty"`
	Role       Role       `json:"role"`
	InvitedBy  string     `json:"invited_by"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	AcceptedAt *time.Time `json:"accepted_at,omitempty"`
	Token      string     `json:"-"`
}

// Invite creates an invitation of email to the caller's org (an admin's)
// with role; an
// email that is already a member is ErrAlreadyMember. A newer invitation of
// the same email replaces a pending one.
func (s *Store) Invite(ctx context.Context, db *sqldb.DB, by Principal, email, name string, role Role) (Invitation, error) {
	if !by.IsAdmin() {
		return Invitation{}, ErrAdminOnly
	}
	email, err := ValidateEmail(email)
	if err != nil {
		return Invitation{}, err
	}
	if role == "" {
		role = RoleMember
	}
	if role != RoleAdmin && role != RoleMember {
		return Invitation{}, errs.Invalid("role must be admin or member, not %q", role)
	}
	now := s.now()
	inv := Invitation{ID: sqldb.NewID("inv"), OrgID: by.OrgID, Email: email, Name: strings.TrimSpace(name), Role: role,
		InvitedBy: by.Actor(), CreatedAt: now, ExpiresAt: now.Add(InvitationTTL), Token: sqldb.NewToken(InvitationPrefix)}
	err = db.InTx(ctx, func(tx sqldb.Tx) error {
		if _, err := s.MemberByEmail(ctx, tx, by.OrgID, email); err == nil {
			return ErrAlreadyMember
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE invitations SET revoked_at = $1 WHERE org_id = $2 AND email = $3 AND accepted_at IS NULL AND revoked_at IS NULL`,
			now, by.OrgID, email); err != nil {
			return fmt.Errorf("replace invitation: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO invitations (id, org_id, email, name, role, token_hash, invited_by, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			inv.ID, inv.OrgID, inv.Email, inv.Name, string(inv.Role), sqldb.HashToken(inv.Token), inv.InvitedBy, inv.CreatedAt, inv.ExpiresAt); err != nil {
			return fmt.Errorf("create invitation: %w", err)
		}
		return s.Audit(ctx, tx, AuditEntry{OrgID: by.OrgID, ActorID: by.Actor(), Action: "invitation.create", Target: inv.ID,
			Detail: map[string]any{"email": email, "role": string(role)}})
	})
	if err != nil {
		return Invitation{}, err
	}
	return inv, nil
}

const invitationCols = `id, org_id, email, name, role, invited_by, created_at, expires_at, accepted_at`

func scanInvitation(r sqldb.Row) (Invitation, error) {
	var inv Invitation
	err := r.Scan(&inv.ID, &inv.OrgID, &inv.Email, &inv.Name, &inv.Role, &inv.InvitedBy, &inv.CreatedAt, &inv.ExpiresAt, &inv.AcceptedAt)
	return inv, err
}

// Invitations lists an org's pending invitations, newest first.
func (s *Store) Invitations(ctx context.Context, q sqldb.Querier, orgID string) ([]Invitation, error) {
	rows, err := q.Query(ctx, `SELECT `+invitationCols+` FROM invitations
		WHERE org_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at DESC, id`, orgID, s.now())
	if err != nil {
		return nil, fmt.Errorf("list invitations: %w", err)
	}
	return sqldb.Collect(rows, func(r sqldb.Rows) (Invitation, error) { return scanInvitation(r) })
}

// RevokeInvitation withdraws a pending invitation of the caller's org
// (admin only).
func (s *Store) RevokeInvitation(ctx context.Context, db *sqldb.DB, by Principal, id string) error {
	if !by.IsAdmin() {
		return ErrAdminOnly
	}
	return db.InTx(ctx, func(tx sqldb.Tx) error {
		n, err := tx.Exec(ctx, `UPDATE invitations SET revoked_at = $1 WHERE id = $2 AND org_id = $3 AND accepted_at IS NULL AND revoked_at IS NULL`,
			s.now(), id, by.OrgID)
		if err != nil {
			return fmt.Errorf("revoke invitation: %w", err)
		}
		if n == 0 {
			return ErrInvitationUnknown
		}
		return s.Audit(ctx, tx, AuditEntry{OrgID: by.OrgID, ActorID: by.Actor(), Action: "invitation.revoke", Target: id})
	})
}

// Acceptance is what accepting an invitation did. Token is set only when the
// invitation created the user (their first API token, shown once).
type Acceptance struct {
	UserID string `json:"user_id"`
	OrgID  string `json:"org_id"`
	Role   Role   `json:"role"`
	Token  string `json:"token,omitempty"`
}

// AcceptInvitation makes someone the member the invitation offers. With a
// caller (their own API token or session), the caller's user joins. Without
// one, holding the link is the proof only for an email that belongs to no
// user yet: that user is created with a first API token; an existing user's
// email is ErrSignInFirst. The link works once.
func (s *Store) AcceptInvitation(ctx context.Context, db *sqldb.DB, caller *Principal, token string) (Acceptance, error) {
	if caller != nil && caller.UserID == "" {
		return Acceptance{}, ErrNoUser
	}
	var out Acceptance
	err := db.InTx(ctx, func(tx sqldb.Tx) (err error) {
		userID := ""
		if caller != nil {
			userID = caller.UserID
		}
		if out, err = s.AcceptInvitationTx(ctx, tx, userID, token); err != nil {
			return err
		}
		if caller == nil {
			out.Token, _, err = s.IssueToken(ctx, tx, out.OrgID, out.UserID, out.UserID)
		}
		return err
	})
	return out, err
}

// AcceptInvitationTx makes userID the member the invitation offers; with an
// empty userID it creates the invited email's user, which must not exist yet
// (ErrSignInFirst). The caller proved who userID is (their session or
// token); holding the link proves only the new user's right to the email.
func (s *Store) AcceptInvitationTx(ctx context.Context, tx sqldb.Tx, userID, token string) (Acceptance, error) {
	return s.AcceptInvitationRefTx(ctx, tx, userID, InvitationRef(token))
}

// InvitationRef names an invitation without its token (the hex SHA-256 of
// the token), for a flow that carries it across a sign-in: whoever holds a
// ref showed the token to the gateway, and the ref alone is no link.
func InvitationRef(token string) string { return hex.EncodeToString(sqldb.HashToken(token)) }

// AcceptInvitationRefTx is AcceptInvitationTx for an invitation named by
// its ref.
func (s *Store) AcceptInvitationRefTx(ctx context.Context, tx sqldb.Tx, userID, ref string) (Acceptance, error) {
	now := s.now()
	hash, err := hex.DecodeString(ref)
	if err != nil || ref == "" {
		return Acceptance{}, ErrInvitationUnknown
	}
	inv, err := scanInvitation(tx.QueryRow(ctx, `SELECT `+invitationCols+` FROM invitations
		WHERE token_hash = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2`, hash, now))
	if errors.Is(err, sqldb.ErrNoRows) {
		return Acceptance{}, ErrInvitationUnknown
	}
	if err != nil {
		return Acceptance{}, fmt.Errorf("find invitation: %w", err)
	}
	var u User
	switch {
	case userID != "":
		if u, err = s.User(ctx, tx, userID); err != nil {
			return Acceptance{}, err
		}
	default:
		if _, err := s.UserByEmail(ctx, tx, inv.Email); err == nil {
			return Acceptance{}, ErrSignInFirst
		} else if !errors.Is(err, ErrNotFound) {
			return Acceptance{}, err
		}
		if u, err = s.EnsureUser(ctx, tx, inv.Email, inv.Name); err != nil {
			return Acceptance{}, err
		}
	}
	if _, err := s.Member(ctx, tx, inv.OrgID, u.ID); err == nil {
		return Acceptance{}, ErrAlreadyMember
	} else if !errors.Is(err, ErrNotFound) {
		return Acceptance{}, err
	}
	// Single use: of two concurrent acceptances only one updates the row.
	n, err := tx.Exec(ctx, `UPDATE invitations SET accepted_at = $1, accepted_by = $2 WHERE id = $3 AND accepted_at IS NULL AND revoked_at IS NULL`,
		now, u.ID, inv.ID)
	if err != nil {
		return Acceptance{}, fmt.Errorf("accept invitation: %w", err)
	}
	if n == 0 {
		return Acceptance{}, ErrInvitationUnknown
	}
	if err := s.AddMember(ctx, tx, inv.OrgID, u.ID, inv.Role); err != nil {
		return Acceptance{}, err
	}
	out := Acceptance{UserID: u.ID, OrgID: inv.OrgID, Role: inv.Role}
	return out, s.Audit(ctx, tx, AuditEntry{OrgID: inv.OrgID, ActorID: u.ID, Action: "invitation.accept", Target: inv.ID,
		Detail: map[string]any{"email": u.Email, "role": string(inv.Role)}})
}

// AcceptInvitationInSession makes the signed-in user of sess the member the
// invitation offers and points the session at that org.
func (s *Store) AcceptInvitationInSession(ctx context.Context, db *sqldb.DB, sess Session, token string) (Acceptance, error) {
	if !sess.SignedIn() {
		return Acceptance{}, ErrNoSession
	}
	var out Acceptance
	err := db.InTx(ctx, func(tx sqldb.Tx) (err error) {
		if out, err = s.AcceptInvitationTx(ctx, tx, sess.UserID, token); err != nil {
			return err
		}
		_, err = s.SwitchOrg(ctx, tx, sess, out.OrgID)
		return err
	})
	return out, err
}

// RemoveMember ends userID's membership of the caller's org: an admin
// removing someone, or a member leaving. Their API tokens of the org are
// revoked with it, and the org keeps at least one admin.
func (s *Store) RemoveMember(ctx context.Context, db *sqldb.DB, by Principal, userID string) error {
	if !by.IsAdmin() && by.UserID != userID {
		return errs.Forbidden("only an admin can remove another member")
	}
	return db.InTx(ctx, func(tx sqldb.Tx) error {
		m, err := s.Member(ctx, tx, by.OrgID, userID)
		if err != nil {
			return err
		}
		if m.Role == RoleAdmin {
			if err := s.keepAnAdmin(ctx, tx, by.OrgID, userID); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM memberships WHERE org_id = $1 AND user_id = $2`, by.OrgID, userID); err != nil {
			return fmt.Errorf("remove member: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE api_tokens SET revoked_at = $1 WHERE org_id = $2 AND user_id = $3 AND revoked_at IS NULL`,
			s.now(), by.OrgID, userID); err != nil {
			return fmt.Errorf("revoke tokens of removed member: %w", err)
		}
		action := "member.remove"
		if by.UserID == userID {
			action = "member.leave"
		}
		return s.Audit(ctx, tx, AuditEntry{OrgID: by.OrgID, ActorID: by.Actor(), Action: action, Target: userID,
			Detail: map[string]any{"email": m.Email}})
	})
}

// SetRole changes a member's role in the caller's org (admin only), keeping
// at least one admin.
func (s *Store) SetRole(ctx context.Context, db *sqldb.DB, by Principal, userID string, role Role) (Member, error) {
	if !by.IsAdmin() {
		return Member{}, ErrAdminOnly
	}
	if role != RoleAdmin && role != RoleMember {
		return Member{}, errs.Invalid("role must be admin or member, not %q", role)
	}
	var m Member
	err := db.InTx(ctx, func(tx sqldb.Tx) error {
		cur, err := s.Member(ctx, tx, by.OrgID, userID)
		if err != nil {
			return err
		}
		if cur.Role == RoleAdmin && role != RoleAdmin {
			if err := s.keepAnAdmin(ctx, tx, by.OrgID, userID); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE memberships SET role = $1 WHERE org_id = $2 AND user_id = $3`, string(role), by.OrgID, userID); err != nil {
			return fmt.Errorf("set role: %w", err)
		}
		cur.Role = role
		m = cur
		return s.Audit(ctx, tx, AuditEntry{OrgID: by.OrgID, ActorID: by.Actor(), Action: "member.role", Target: userID,
			Detail: map[string]any{"role": string(role)}})
	})
	return m, err
}

// keepAnAdmin refuses a change that would leave org without an admin other
// than userID. On PostgreSQL the admins' rows are locked, so two admins
// leaving at once cannot both pass.
func (s *Store) keepAnAdmin(ctx context.Context, q sqldb.Querier, orgID, userID string) error {
	lock := ""
	if q.Dialect() == sqldb.Postgres {
		lock = " FOR UPDATE"
	}
	rows, err := q.Query(ctx, `SELECT user_id FROM memberships WHERE org_id = $1 AND role = 'admin'`+lock, orgID)
	if err != nil {
		return fmt.Errorf("count admins: %w", err)
	}
	admins, err := sqldb.Collect(rows, func(r sqldb.Rows) (string, error) {
		var id string
		return id, r.Scan(&id)
	})
	if err != nil {
		return fmt.Errorf("count admins: %w", err)
	}
	for _, id := range admins {
		if id != userID {
			return nil
		}
	}
	return ErrLastAdmin
}

// IssueLoginLink creates a single-use sign-in link token for the user with
// this email (the operator's command); it expires after LoginLinkTTL.
func (s *Store) IssueLoginLink(ctx context.Context, db *sqldb.DB, email string) (string, User, error) {
	u, err := s.UserByEmail(ctx, db, email)
	if err != nil {
		return "", User{}, err
	}
	token := sqldb.NewToken(LoginLinkPrefix)
	now := s.now()
	err = db.InTx(ctx, func(tx sqldb.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO login_links (id, user_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
			sqldb.NewID("lnk"), u.ID, sqldb.HashToken(token), now, now.Add(LoginLinkTTL)); err != nil {
			return fmt.Errorf("create login link: %w", err)
		}
		return s.Audit(ctx, tx, AuditEntry{ActorID: "system", Action: "login_link.issue", Target: u.ID, Detail: map[string]any{"email": u.Email}})
	})
	return token, u, err
}

// useLoginLink uses a sign-in link up (single use) and returns its user and id.
func (s *Store) useLoginLink(ctx context.Context, tx sqldb.Tx, token string) (userID, id string, err error) {
	now := s.now()
	err = tx.QueryRow(ctx, `SELECT id, user_id FROM login_links WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2`,
		sqldb.HashToken(token), now).Scan(&id, &userID)
	if errors.Is(err, sqldb.ErrNoRows) {
		return "", "", ErrLoginLinkUnknown
	}
	if err != nil {
		return "", "", fmt.Errorf("find login link: %w", err)
	}
	if n, err := tx.Exec(ctx, `UPDATE login_links SET used_at = $1 WHERE id = $2 AND used_at IS NULL`, now, id); err != nil {
		return "", "", fmt.Errorf("use login link: %w", err)
	} else if n == 0 {
		return "", "", ErrLoginLinkUnknown
	}
	return userID, id, nil
}

// RedeemLoginLink uses a sign-in link once and returns a new API token of its
// user in org (an org id or slug; empty means the user's first org).
func (s *Store) RedeemLoginLink(ctx context.Context, db *sqldb.DB, token, org string) (Acceptance, error) {
	var out Acceptance
	err := db.InTx(ctx, func(tx sqldb.Tx) error {
		userID, id, err := s.useLoginLink(ctx, tx, token)
		if err != nil {
			return err
		}
		m, err := s.memberOf(ctx, tx, userID, org)
		if err != nil {
			return err
		}
		tok, _, err := s.IssueToken(ctx, tx, m.OrgID, userID, userID)
		if err != nil {
			return err
		}
		out = Acceptance{UserID: userID, OrgID: m.OrgID, Role: m.Role, Token: tok}
		return s.Audit(ctx, tx, AuditEntry{OrgID: m.OrgID, ActorID: userID, Action: "login_link.redeem", Target: id})
	})
	return out, err
}

// SignInWithLoginLink uses a sign-in link once and signs the browser in as
// its user, replacing the browser's previous session (replacedID).
func (s *Store) SignInWithLoginLink(ctx context.Context, db *sqldb.DB, token, replacedID string) (string, Session, error) {
	var cookie string
	var sess Session
	err := db.InTx(ctx, func(tx sqldb.Tx) error {
		userID, id, err := s.useLoginLink(ctx, tx, token)
		if err != nil {
			return err
		}
		if cookie, sess, err = s.SignInTx(ctx, tx, replacedID, userID, "", "login_link"); err != nil {
			return err
		}
		return s.Audit(ctx, tx, AuditEntry{OrgID: sess.OrgID, ActorID: userID, Action: "login_link.redeem", Target: id})
	})
	return cookie, sess, err
}

// InvitationByToken shows a pending invitation (for its page) and the name
// of its org.
func (s *Store) InvitationByToken(ctx context.Context, q sqldb.Querier, token string) (Invitation, Org, error) {
	inv, err := scanInvitation(q.QueryRow(ctx, `SELECT `+invitationCols+` FROM invitations
		WHERE token_hash = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2`, sqldb.HashToken(token), s.now()))
	if errors.Is(err, sqldb.ErrNoRows) {
		return Invitation{}, Org{}, ErrInvitationUnknown
	}
	if err != nil {
		return Invitation{}, Org{}, fmt.Errorf("find invitation: %w", err)
	}
	org, err := s.Org(ctx, q, inv.OrgID)
	return inv, org, err
}

// memberOf finds user's membership of org (id or slug), or their first one.
func (s *Store) memberOf(ctx context.Context, q sqldb.Querier, userID, org string) (Member, error) {
	if org == "" {
		ids, err := s.OrgIDsOf(ctx, q, userID)
		if err != nil {
			return Member{}, err
		}
		if len(ids) == 0 {
			return Member{}, errs.New(errs.ErrUnprocessable, "no_membership", "this user belongs to no org yet")
		}
		return s.Member(ctx, q, ids[0], userID)
	}
	if o, err := s.OrgBySlug(ctx, q, org); err == nil {
		org = o.ID
	}
	return s.Member(ctx, q, org, userID)
}

// PurgeExpiredLinks deletes invitations and sign-in links that can no longer
// be used: expired, or used, revoked or accepted more than a day ago (the
// audit log keeps what happened).
func PurgeExpiredLinks(ctx context.Context, q sqldb.Querier, now time.Time) (int, error) {
	dayAgo := now.Add(-24 * time.Hour)
	a, err := q.Exec(ctx, `DELETE FROM invitations WHERE expires_at < $1
		OR (accepted_at IS NOT NULL AND accepted_at < $2) OR (revoked_at IS NOT NULL AND revoked_at < $2)`, now, dayAgo)
	if err != nil {
		return 0, fmt.Errorf("purge invitations: %w", err)
	}
	b, err := q.Exec(ctx, `DELETE FROM login_links WHERE expires_at < $1`, now)
	if err != nil {
		return 0, fmt.Errorf("purge login links: %w", err)
	}
	return int(a + b), nil
}
