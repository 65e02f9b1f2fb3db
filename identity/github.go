// GitHub account links: at most one GitHub account per user and one user per
// GitHub account, keyed by the numeric GitHub id (logins change). The rules of
// who may overwrite whom live here:
//   - org_connect never replaces an oauth or admin link and never takes an
//     account linked to someone else;
//   - an admin link never takes an account linked to someone else, never
//     downgrades an oauth link of the same account, and never changes (or
//     removes) the link of a user who also belongs to an org the admin does
//     not administer;
//   - only oauth (the account owner's proof) moves an account from one user
//     to another, and every move is audited.

package identity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
)

// How a GitHub account came to be linked.
const (
	LinkedViaOrgConnect = "org_connect"
	LinkedViaOAuth      = "oauth"
	LinkedViaAdmin      = "admin"
)

// GitHubLink is a user's linked GitHub account.
type GitHubLink struct {
	UserID    string    `json:"user_id"`
	GitHubID  int64     `json:"github_id"`
	Login     string    `json:"login"`
	LinkedVia string    `json:"linked_via"`
	LinkedAt  time.Time `json:"linked_at"`
}

// ErrLinkConflict: the link would overwrite a stronger link, take an account
// linked to another user, or change the link of a user the caller does not
// fully administer. Errors of this kind are *errs.Error with code
// "link_conflict" (409) and errors.Is(err, ErrLinkConflict) holds.
var ErrLinkConflict = fmt.Errorf("identity: github link: %w", errs.ErrConflict)

// ActorSystem is the actor of changes made by the gateway itself or by the
// operator's commands (never by an API caller).
const ActorSystem = "system"

func linkConflict(format string, args ...any) error {
	return errs.New(ErrLinkConflict, "link_conflict", format, args...)
}

const linkCols = `user_id, github_id, login, linked_via, linked_at`

func scanLink(r sqldb.Row) (GitHubLink, error) {
	var l GitHubLink
	err := r.Scan(&l.UserID, &l.GitHubID, &l.Login, &l.LinkedVia, &l.LinkedAt)
	return l, err
}

// GitHubLinkByID returns the link of a numeric GitHub account id.
func (s *Store) GitHubLinkByID(ctx context.Context, q sqldb.Querier, githubID int64) (GitHubLink, error) {
	l, err := scanLink(q.QueryRow(ctx, `SELECT `+linkCols+` FROM github_identities WHERE github_id = $1`, githubID))
	return l, sqldb.NoRowsAs(err, ErrNotFound, "get github link")
}

// GitHubLinkOf returns a user's link.
func (s *Store) GitHubLinkOf(ctx context.Context, q sqldb.Querier, userID string) (GitHubLink, error) {
	l, err := scanLink(q.QueryRow(ctx, `SELECT `+linkCols+` FROM github_identities WHERE user_id = $1`, userID))
	return l, sqldb.NoRowsAs(err, ErrNotFound, "get user's github link")
}

// UpdateGitHubLogin records a new login seen for a linked id (logins can be
// renamed; the id stays).
func (s *Store) UpdateGitHubLogin(ctx context.Context, q sqldb.Querier, githubID int64, login string) error {
	if _, err := q.Exec(ctx, `UPDATE github_identities SET login = $1 WHERE github_id = $2 AND login <> $1`, login, githubID); err != nil {
		return fmt.Errorf("update github login: %w", err)
	}
	return nil
}

// LinkRequest asks to link a GitHub account to a user.
type LinkRequest struct {
	UserID   string
	GitHubID int64
	Login    string
	Via      string // LinkedVia…
	ActorID  string // who asked: a user id or ActorSystem
	OrgID    string // the org the actor acts in (an admin link: the org they administer); may be empty for ActorSystem
}

// LinkGitHub applies the linking rules in the caller's transaction and returns
// the resulting link. It returns a link_conflict error (ErrLinkConflict) when
// org_connect would overwrite an oauth/admin link, when org_connect or an
// admin would take an account that belongs to another user, or when an admin
// would change the link of a user who is also in an org they do not
// administer.
func (s *Store) LinkGitHub(ctx context.Context, q sqldb.Querier, req LinkRequest) (GitHubLink, error) {
	if req.GitHubID <= 0 || req.Login == "" {
		return GitHubLink{}, errs.Invalid("a GitHub link needs the numeric id and the login")
	}
	switch req.Via {
	case LinkedViaOrgConnect, LinkedViaOAuth, LinkedViaAdmin:
	default:
		return GitHubLink{}, fmt.Errorf("link github: unknown linked_via %q", req.Via)
	}
	if req.Via == LinkedViaAdmin {
		if err := s.checkAdminScope(ctx, q, req.UserID, req.ActorID, req.OrgID); err != nil {
			return GitHubLink{}, err
		}
	}
	owner, err := s.GitHubLinkByID(ctx, q, req.GitHubID)
	switch {
	case err == nil && owner.UserID == req.UserID && (owner.LinkedVia == req.Via || (req.Via == LinkedViaAdmin && owner.LinkedVia == LinkedViaOAuth)):
		// Same account, same user: only the login may have changed (an
		// admin's assertion never downgrades the owner's own proof).
		if err := s.UpdateGitHubLogin(ctx, q, req.GitHubID, req.Login); err != nil {
			return GitHubLink{}, err
		}
		owner.Login = req.Login
		return owner, nil
	case err == nil && owner.UserID != req.UserID:
		if req.Via != LinkedViaOAuth {
			return GitHubLink{}, linkConflict("GitHub account %s is already linked to another user; only its owner's OAuth sign-in moves it", req.Login)
		}
		if _, err := q.Exec(ctx, `DELETE FROM github_identities WHERE github_id = $1`, req.GitHubID); err != nil {
			return GitHubLink{}, fmt.Errorf("link github: move account: %w", err)
		}
		if err := s.Audit(ctx, q, AuditEntry{OrgID: req.OrgID, ActorID: req.ActorID, Action: "github.unlink", Target: owner.UserID,
			Detail: map[string]any{"github_id": owner.GitHubID, "login": owner.Login, "reason": "moved to " + req.UserID, "via": req.Via}}); err != nil {
			return GitHubLink{}, err
		}
	case err != nil && !errors.Is(err, ErrNotFound):
		return GitHubLink{}, err
	}
	current, err := s.GitHubLinkOf(ctx, q, req.UserID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return GitHubLink{}, err
	}
	if err == nil && req.Via == LinkedViaOrgConnect && current.GitHubID != req.GitHubID {
		return GitHubLink{}, linkConflict("user already has GitHub account %s linked (%s)", current.Login, current.LinkedVia)
	}
	if err == nil && req.Via == LinkedViaOrgConnect && current.LinkedVia != LinkedViaOrgConnect {
		return current, nil // an oauth/admin link of the same account stays as it is
	}
	l := GitHubLink{UserID: req.UserID, GitHubID: req.GitHubID, Login: req.Login, LinkedVia: req.Via, LinkedAt: s.now()}
	if _, err := q.Exec(ctx, `INSERT INTO github_identities (`+linkCols+`) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (user_id) DO UPDATE SET github_id = excluded.github_id, login = excluded.login, linked_via = excluded.linked_via, linked_at = excluded.linked_at`,
		l.UserID, l.GitHubID, l.Login, l.LinkedVia, l.LinkedAt); err != nil {
		if sqldb.IsUniqueViolation(err) {
			return GitHubLink{}, linkConflict("GitHub account %s was linked concurrently", req.Login)
		}
		return GitHubLink{}, fmt.Errorf("link github: %w", err)
	}
	detail := map[string]any{"github_id": l.GitHubID, "login": l.Login, "via": l.LinkedVia}
	if current.GitHubID != 0 && current.GitHubID != l.GitHubID {
		detail["replaced_github_id"] = current.GitHubID
	}
	if err := s.Audit(ctx, q, AuditEntry{OrgID: req.OrgID, ActorID: req.ActorID, Action: "github.link", Target: l.UserID, Detail: detail}); err != nil {
		return GitHubLink{}, err
	}
	return l, nil
}

// UnlinkGitHub removes a user's link. Someone other than the user may do so
// only when they administer every org the user belongs to (link_conflict
// otherwise).
func (s *Store) UnlinkGitHub(ctx context.Context, q sqldb.Querier, userID, actorID, orgID string) error {
	if actorID != userID {
		if err := s.checkAdminScope(ctx, q, userID, actorID, orgID); err != nil {
			return err
		}
	}
	l, err := s.GitHubLinkOf(ctx, q, userID)
	if err != nil {
		return err
	}
	if _, err := q.Exec(ctx, `DELETE FROM github_identities WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("unlink github: %w", err)
	}
	return s.Audit(ctx, q, AuditEntry{OrgID: orgID, ActorID: actorID, Action: "github.unlink", Target: userID,
		Detail: map[string]any{"github_id": l.GitHubID, "login": l.Login}})
}

// checkAdminScope refuses (link_conflict) when userID belongs to an org,
// other than orgID (where the caller acts as an admin), that actorID does not
// administer: the link follows the user into every org, so an admin of one
// org must not change what another org relies on. ActorSystem is the
// operator and is not limited.
func (s *Store) checkAdminScope(ctx context.Context, q sqldb.Querier, userID, actorID, orgID string) error {
	if actorID == ActorSystem {
		return nil
	}
	var n int
	err := q.QueryRow(ctx, `SELECT COUNT(*) FROM memberships m WHERE m.user_id = $1 AND m.org_id <> $2
		AND NOT EXISTS (SELECT 1 FROM memberships a WHERE a.org_id = m.org_id AND a.user_id = $3 AND a.role = 'admin')`,
		userID, orgID, actorID).Scan(&n)
	if err != nil {
		return fmt.Errorf("github link: check the admin's orgs: %w", err)
	}
	if n > 0 {
		return linkConflict("the user also belongs to an org you do not administer; only their own OAuth sign-in changes their GitHub link")
	}
	return nil
}
