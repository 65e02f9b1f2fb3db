// The browser flows of a person's own GitHub account: signing in with it
// (the App's user authorization, PKCE S256), and relinking it. Every state is
// bound to the browser session that started it, so a callback opened in
// another session changes nothing; a relink moves nothing until its owner
// confirms the account it proved, in the same session, with a form post.

package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	gh "github.com/google/go-github/v62/github"
	"golang.org/x/oauth2"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/oauthstate"
)

// State kinds of the user authorization flows.
const (
	kindRelink        = "github_relink"
	kindRelinkConfirm = "github_relink_confirm"
	kindSignIn        = "github_signin"
)

// ErrNoLinkedUser: the GitHub account that signed in is linked to nobody.
var ErrNoLinkedUser = errs.New(errs.ErrNotFound, "github_not_linked",
	"this GitHub account is not linked to any Replicas user: sign in another way (or open your invitation) and link it in User settings")

// authorizeURL issues a state of kind bound to the session and returns
// GitHub's authorize URL with it and a PKCE S256 challenge.
func (a *App) authorizeURL(ctx context.Context, kind string, st oauthstate.State) (string, error) {
	if a.cfg.ClientID == "" {
		return "", errs.New(errs.ErrUnprocessable, "not_configured", "GITHUB_CLIENT_ID is not configured")
	}
	st.Verifier = oauth2.GenerateVerifier()
	signed, err := a.states.Issue(ctx, a.db, kind, st)
	if err != nil {
		return "", err
	}
	return a.oauthConfig(a.callbackURL()).AuthCodeURL(signed, oauth2.S256ChallengeOption(st.Verifier)), nil
}

// RelinkURL starts a relink of the signed-in user's GitHub account from
// their browser session.
func (a *App) RelinkURL(ctx context.Context, orgID, userID, sessionID string) (string, error) {
	return a.authorizeURL(ctx, kindRelink, oauthstate.State{OrgID: orgID, UserID: userID, SessionID: sessionID})
}

// SignInURL starts "Sign in with GitHub" in a (signed-out) browser session.
// invitationRef (identity.InvitationRef, may be empty) is the invitation the
// sign-in completes.
func (a *App) SignInURL(ctx context.Context, sessionID, invitationRef string) (string, error) {
	return a.authorizeURL(ctx, kindSignIn, oauthstate.State{SessionID: sessionID, Data: invitationRef})
}

// RelinkPending is a relink waiting for its owner's confirmation.
type RelinkPending struct {
	Login    string
	GitHubID int64
	// Confirm is the signed, session-bound token the confirmation form posts.
	Confirm string
	// Moves is set when the account is linked to another user now.
	Moves bool
}

// SignedIn is a finished sign-in: the new session's cookie token, and the
// membership an invitation gave (nil without one).
type SignedIn struct {
	Cookie  string
	Session identity.Session
	Login   string
	Joined  *identity.Acceptance
}

// CallbackResult is what GitHub's redirect to /oauth/github/callback did:
// exactly one of Relink (waiting for confirmation) and SignedIn is set.
type CallbackResult struct {
	Relink   *RelinkPending
	SignedIn *SignedIn
}

type pendingAccount struct {
	GitHubID int64  `json:"github_id"`
	Login    string `json:"login"`
}

// Callback finishes the user authorization that the browser session
// sessionID started: a relink becomes a pending confirmation, a sign-in signs
// the browser in. A state of another session is refused and stays usable
// where it began.
func (a *App) Callback(ctx context.Context, signedState, code, sessionID string) (CallbackResult, error) {
	st, err := a.states.Consume(ctx, a.db, signedState, kindRelink, sessionID)
	kind := kindRelink
	if errors.Is(err, oauthstate.ErrBad) {
		st, err = a.states.Consume(ctx, a.db, signedState, kindSignIn, sessionID)
		kind = kindSignIn
	}
	if err != nil {
		return CallbackResult{}, err
	}
	me, err := a.provenUser(ctx, code, st.Verifier)
	if err != nil {
		return CallbackResult{}, err
	}
	if kind == kindSignIn {
		in, err := a.signIn(ctx, me, st)
		return CallbackResult{SignedIn: in}, err
	}
	data, err := json.Marshal(pendingAccount{GitHubID: me.GetID(), Login: me.GetLogin()})
	if err != nil {
		return CallbackResult{}, err
	}
	confirm, err := a.states.Issue(ctx, a.db, kindRelinkConfirm, oauthstate.State{OrgID: st.OrgID, UserID: st.UserID, SessionID: sessionID, Data: string(data)})
	if err != nil {
		return CallbackResult{}, err
	}
	p := &RelinkPending{Login: me.GetLogin(), GitHubID: me.GetID(), Confirm: confirm}
	if l, err := a.ids.GitHubLinkByID(ctx, a.db, me.GetID()); err == nil && l.UserID != st.UserID {
		p.Moves = true
	}
	return CallbackResult{Relink: p}, nil
}

// provenUser exchanges the code (with this flow's PKCE verifier) and reads
// the GitHub account it belongs to.
func (a *App) provenUser(ctx context.Context, code, verifier string) (*gh.User, error) {
	tok, err := a.oauthConfig(a.callbackURL()).Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, errs.New(errs.ErrInvalid, "bad_code", "GitHub did not accept the authorization code")
	}
	uc, err := a.userClient(ctx, tok)
	if err != nil {
		return nil, err
	}
	me, _, err := uc.Users.Get(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("github: read the user: %w", err)
	}
	return me, nil
}

// ConfirmRelink links the GitHub account a relink proved to userID, the
// signed-in user of the session that started it (moving it from another
// user if needed; identity audits the move).
func (a *App) ConfirmRelink(ctx context.Context, confirm, sessionID, userID string) (identity.GitHubLink, error) {
	var link identity.GitHubLink
	err := a.db.InTx(ctx, func(tx sqldb.Tx) error {
		st, err := a.states.Consume(ctx, tx, confirm, kindRelinkConfirm, sessionID)
		if err != nil {
			return err
		}
		if st.UserID != userID {
			return oauthstate.ErrBad
		}
		var acct pendingAccount
		if err := json.Unmarshal([]byte(st.Data), &acct); err != nil || acct.GitHubID == 0 {
			return oauthstate.ErrBad
		}
		link, err = a.ids.LinkGitHub(ctx, tx, identity.LinkRequest{UserID: st.UserID, GitHubID: acct.GitHubID, Login: acct.Login,
			Via: identity.LinkedViaOAuth, ActorID: st.UserID, OrgID: st.OrgID})
		return err
	})
	return link, err
}

// signIn signs the browser in as the user linked to the proven GitHub
// account. With an invitation: a linked user joins as themselves; an
// unlinked account creates the invited email's user (only when that email
// has no user yet) and links the account to it.
func (a *App) signIn(ctx context.Context, me *gh.User, st oauthstate.State) (*SignedIn, error) {
	out := &SignedIn{Login: me.GetLogin()}
	err := a.db.InTx(ctx, func(tx sqldb.Tx) error {
		userID := ""
		org := ""
		link, err := a.ids.GitHubLinkByID(ctx, tx, me.GetID())
		switch {
		case err == nil:
			userID = link.UserID
			if link.Login != me.GetLogin() {
				if err := a.ids.UpdateGitHubLogin(ctx, tx, me.GetID(), me.GetLogin()); err != nil {
					return err
				}
			}
		case !errors.Is(err, identity.ErrNotFound):
			return err
		case st.Data == "":
			return ErrNoLinkedUser
		}
		if st.Data != "" {
			acc, err := a.ids.AcceptInvitationRefTx(ctx, tx, userID, st.Data)
			switch {
			case err == nil:
				out.Joined, org = &acc, acc.OrgID
			case errors.Is(err, identity.ErrAlreadyMember) && userID != "":
			default:
				return err
			}
			if userID == "" {
				userID = acc.UserID
				if _, err := a.ids.LinkGitHub(ctx, tx, identity.LinkRequest{UserID: userID, GitHubID: me.GetID(), Login: me.GetLogin(),
					Via: identity.LinkedViaOAuth, ActorID: userID, OrgID: acc.OrgID}); err != nil {
					return err
				}
			}
		}
		out.Cookie, out.Session, err = a.ids.SignInTx(ctx, tx, st.SessionID, userID, org, "github")
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
