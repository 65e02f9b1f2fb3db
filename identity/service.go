package identity

import (
	"context"

	"github.com/tryreplicas/gateway/gateway/sqldb"
)

// Service is the Store bound to its database, for callers that act on one
// request at a time (the HTTP API): each method reads on its own or writes in
// one transaction it opens itself.
type Service struct {
	db    *sqldb.DB
	store *Store
}

// NewService binds store to db.
func NewService(db *sqldb.DB, store *Store) *Service { return &Service{db: db, store: store} }

// Authenticate finds the principal behind an API token.
func (s *Service) Authenticate(ctx context.Context, token string) (Principal, error) {
	return s.store.Authenticate(ctx, s.db, token)
}

// Me is the caller's user and the org of their token.
func (s *Service) Me(ctx context.Context, p Principal) (User, Org, error) {
	u, err := s.store.User(ctx, s.db, p.UserID)
	if err != nil {
		return User{}, Org{}, err
	}
	org, err := s.store.Org(ctx, s.db, p.OrgID)
	if err != nil {
		return User{}, Org{}, err
	}
	return u, org, nil
}

// IssueOwnToken issues the caller a token of their own in org (id or slug;
// empty: the org of the token they call with).
func (s *Service) IssueOwnToken(ctx context.Context, by Principal, org string) (string, TokenInfo, error) {
	return s.store.IssueOwnToken(ctx, s.db, by, org)
}

// OwnTokens lists the caller's own tokens.
func (s *Service) OwnTokens(ctx context.Context, by Principal) ([]TokenInfo, error) {
	return s.store.OwnTokens(ctx, s.db, by)
}

// RevokeOwnToken revokes one of the caller's own tokens.
func (s *Service) RevokeOwnToken(ctx context.Context, by Principal, tokenID string) error {
	return s.store.RevokeOwnToken(ctx, s.db, by, tokenID)
}

// Invite invites an email into the admin's org.
func (s *Service) Invite(ctx context.Context, by Principal, email, name string, role Role) (Invitation, error) {
	return s.store.Invite(ctx, s.db, by, email, name, role)
}

// Members lists an org's members.
func (s *Service) Members(ctx context.Context, orgID string) ([]Member, error) {
	return s.store.Members(ctx, s.db, orgID)
}

// SetRole changes a member's role.
func (s *Service) SetRole(ctx context.Context, by Principal, userID string, role Role) (Member, error) {
	return s.store.SetRole(ctx, s.db, by, userID, role)
}

// RemoveMember removes a member (or the caller leaves).
func (s *Service) RemoveMember(ctx context.Context, by Principal, userID string) error {
	return s.store.RemoveMember(ctx, s.db, by, userID)
}

// Invitations lists an org's pending invitations.
func (s *Service) Invitations(ctx context.Context, orgID string) ([]Invitation, error) {
	return s.store.Invitations(ctx, s.db, orgID)
}

// RevokeInvitation withdraws an invitation.
func (s *Service) RevokeInvitation(ctx context.Context, by Principal, id string) error {
	return s.store.RevokeInvitation(ctx, s.db, by, id)
}

// AcceptInvitation makes the caller (or, without one, the invited email's
// new user) a member.
func (s *Service) AcceptInvitation(ctx context.Context, caller *Principal, token string) (Acceptance, error) {
	return s.store.AcceptInvitation(ctx, s.db, caller, token)
}

// RedeemLoginLink trades a login link for an API token.
func (s *Service) RedeemLoginLink(ctx context.Context, token, org string) (Acceptance, error) {
	return s.store.RedeemLoginLink(ctx, s.db, token, org)
}

// IssueOrgToken issues an org automation token.
func (s *Service) IssueOrgToken(ctx context.Context, by Principal, name string) (string, TokenInfo, error) {
	return s.store.IssueOrgToken(ctx, s.db, by, name)
}

// OrgTokens lists an org's automation tokens.
func (s *Service) OrgTokens(ctx context.Context, orgID string) ([]TokenInfo, error) {
	return s.store.OrgTokens(ctx, s.db, orgID)
}

// RevokeOrgToken revokes an org automation token.
func (s *Service) RevokeOrgToken(ctx context.Context, by Principal, tokenID string) error {
	return s.store.RevokeOrgToken(ctx, s.db, by, tokenID)
}

// AuditLog is an org's latest audit entries, newest first.
func (s *Service) AuditLog(ctx context.Context, orgID string, limit int) ([]AuditEntry, error) {
	return s.store.AuditLog(ctx, s.db, orgID, limit)
}

// GitHubLinkOf is a user's GitHub link (ErrNotFound without one).
func (s *Service) GitHubLinkOf(ctx context.Context, userID string) (GitHubLink, error) {
	return s.store.GitHubLinkOf(ctx, s.db, userID)
}

// UnlinkOwnGitHub removes the caller's own GitHub link.
func (s *Service) UnlinkOwnGitHub(ctx context.Context, by Principal) error {
	return s.db.InTx(ctx, func(tx sqldb.Tx) error { return s.store.UnlinkGitHub(ctx, tx, by.UserID, by.UserID, by.OrgID) })
}

// UnlinkMemberGitHub removes the GitHub link of a member of the admin's org
// (ErrNotFound for anyone else).
func (s *Service) UnlinkMemberGitHub(ctx context.Context, by Principal, userID string) error {
	if _, err := s.store.Member(ctx, s.db, by.OrgID, userID); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx sqldb.Tx) error { return s.store.UnlinkGitHub(ctx, tx, userID, by.Actor(), by.OrgID) })
}

// StartSession starts a signed-out browser session.
func (s *Service) StartSession(ctx context.Context) (string, Session, error) {
	return s.store.StartSession(ctx, s.db)
}

// Session finds the live session of a cookie token.
func (s *Service) Session(ctx context.Context, token string) (Session, error) {
	return s.store.SessionByToken(ctx, s.db, token)
}

// SessionPrincipal is the signed-in caller of a session in its current org.
func (s *Service) SessionPrincipal(ctx context.Context, sess Session) (Principal, error) {
	return s.store.SessionPrincipal(ctx, s.db, sess)
}

// EndSession signs a browser out.
func (s *Service) EndSession(ctx context.Context, sess Session) error {
	return s.store.EndSession(ctx, s.db, sess.ID)
}

// SignInWithLoginLink redeems an operator's sign-in link into a session.
func (s *Service) SignInWithLoginLink(ctx context.Context, token, replacedID string) (string, Session, error) {
	return s.store.SignInWithLoginLink(ctx, s.db, token, replacedID)
}

// SwitchOrg points a session at another org of its user.
func (s *Service) SwitchOrg(ctx context.Context, sess Session, org string) (Org, error) {
	return s.store.SwitchOrg(ctx, s.db, sess, org)
}

// OrgsOf lists a user's orgs and roles.
func (s *Service) OrgsOf(ctx context.Context, userID string) ([]OrgRole, error) {
	return s.store.OrgsOf(ctx, s.db, userID)
}

// User returns a user by id.
func (s *Service) User(ctx context.Context, id string) (User, error) {
	return s.store.User(ctx, s.db, id)
}

// InvitationByToken shows a pending invitation and its org.
func (s *Service) InvitationByToken(ctx context.Context, token string) (Invitation, Org, error) {
	return s.store.InvitationByToken(ctx, s.db, token)
}

// AcceptInvitationInSession makes the session's user a member by invitation.
func (s *Service) AcceptInvitationInSession(ctx context.Context, sess Session, token string) (Acceptance, error) {
	return s.store.AcceptInvitationInSession(ctx, s.db, sess, token)
}
