package github

import (
	"context"

	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/identity"
)

// MemberLink is an admin linking a member of their org to a GitHub account
// by login; GitHubID, when zero, is looked up through the API.
type MemberLink struct {
	OrgID    string
	ActorID  string
	UserID   string
	Login    string
	GitHubID int64
}

// LinkMember links a member of the admin's org (identity.ErrNotFound for
// anyone else) to a GitHub account, under identity's rules for moving links.
func (a *App) LinkMember(ctx context.Context, r MemberLink) (identity.GitHubLink, error) {
	if _, err := a.ids.Member(ctx, a.db, r.OrgID, r.UserID); err != nil {
		return identity.GitHubLink{}, err
	}
	if r.GitHubID == 0 {
		id, err := a.ResolveLogin(ctx, r.Login)
		if err != nil {
			return identity.GitHubLink{}, err
		}
		r.GitHubID = id
	}
	var link identity.GitHubLink
	err := a.db.InTx(ctx, func(tx sqldb.Tx) (err error) {
		link, err = a.ids.LinkGitHub(ctx, tx, identity.LinkRequest{UserID: r.UserID, GitHubID: r.GitHubID, Login: r.Login,
			Via: identity.LinkedViaAdmin, ActorID: r.ActorID, OrgID: r.OrgID})
		return err
	})
	return link, err
}
