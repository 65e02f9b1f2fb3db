package identity_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/identity"
)

// Sessions: stored hashed, signed-out first, replaced on sign-in (the old
// token stops working), pointed at one of the user's orgs, ended by
// sign-out, purged after expiry.
func TestSessions(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := identity.NewStore()
		acme, ada, _, err := s.Bootstrap(ctx, db, "acme", "ada@example.com", "Ada")
		if err != nil {
			t.Fatal(err)
		}
		beta, _, _, err := s.Bootstrap(ctx, db, "beta", "bob@example.com", "Bob")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.AddMember(ctx, db, beta.ID, ada.ID, identity.RoleMember); err != nil {
			t.Fatal(err)
		}
		anon, sess, err := s.StartSession(ctx, db)
		if err != nil || sess.SignedIn() || sess.CSRF == "" {
			t.Fatalf("start = %+v, %v", sess, err)
		}
		var stored int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM browser_sessions WHERE token_hash = $1`, []byte(anon)).Scan(&stored); err != nil || stored != 0 {
			t.Fatalf("the plain token is stored (%d, %v)", stored, err)
		}
		if got, err := s.SessionByToken(ctx, db, anon); err != nil || got.ID != sess.ID || got.CSRF != sess.CSRF {
			t.Fatalf("lookup = %+v, %v", got, err)
		}
		if _, err := s.SessionPrincipal(ctx, db, sess); !errors.Is(err, identity.ErrNoSession) {
			t.Fatalf("signed-out principal: %v", err)
		}
		var token string
		var in identity.Session
		err = db.InTx(ctx, func(tx sqldb.Tx) (err error) {
			token, in, err = s.SignInTx(ctx, tx, sess.ID, ada.ID, beta.Slug, "test")
			return err
		})
		if err != nil || in.UserID != ada.ID || in.OrgID != beta.ID || in.CSRF == sess.CSRF || token == anon {
			t.Fatalf("sign in = %+v, %v", in, err)
		}
		if _, err := s.SessionByToken(ctx, db, anon); !errors.Is(err, identity.ErrNoSession) {
			t.Fatalf("the replaced session still works: %v", err)
		}
		p, err := s.SessionPrincipal(ctx, db, in)
		if err != nil || p.UserID != ada.ID || p.OrgID != beta.ID || p.IsAdmin() || p.Email != "ada@example.com" {
			t.Fatalf("principal = %+v, %v", p, err)
		}
		if _, err := s.SwitchOrg(ctx, db, in, "nope"); err == nil {
			t.Fatal("switched to an org the user is not in")
		}
		if o, err := s.SwitchOrg(ctx, db, in, acme.ID); err != nil || o.ID != acme.ID {
			t.Fatalf("switch = %+v, %v", o, err)
		}
		in, _ = s.SessionByToken(ctx, db, token)
		if p, _ := s.SessionPrincipal(ctx, db, in); p.OrgID != acme.ID || !p.IsAdmin() {
			t.Fatalf("after switching: %+v", p)
		}
		// Leaving the org falls back to another org of the user.
		if err := s.AddMember(ctx, db, acme.ID, ada.ID, identity.RoleMember); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, `DELETE FROM memberships WHERE org_id = $1 AND user_id = $2`, acme.ID, ada.ID); err != nil {
			t.Fatal(err)
		}
		if p, _ := s.SessionPrincipal(ctx, db, in); p.OrgID != beta.ID {
			t.Fatalf("after leaving: %+v", p)
		}
		orgs, err := s.OrgsOf(ctx, db, ada.ID)
		if err != nil || len(orgs) != 1 || orgs[0].ID != beta.ID {
			t.Fatalf("orgs = %+v, %v", orgs, err)
		}
		if err := s.EndSession(ctx, db, in.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SessionByToken(ctx, db, token); !errors.Is(err, identity.ErrNoSession) {
			t.Fatalf("ended session still works: %v", err)
		}
		// Expired sessions are refused and purged.
		old, _, err := s.StartSession(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, `UPDATE browser_sessions SET expires_at = $1`, time.Now().UTC().Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SessionByToken(ctx, db, old); !errors.Is(err, identity.ErrNoSession) {
			t.Fatalf("expired session works: %v", err)
		}
		if n, err := identity.PurgeExpiredSessions(ctx, db, time.Now().UTC()); err != nil || n != 1 {
			t.Fatalf("purged %d, %v", n, err)
		}
	})
}

// A login link signs a browser in once; an invitation accepted in a session
// makes its user the member and points the session at the org.
func TestLoginLinkAndInvitationInSession(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := identity.NewStore()
		acme, admin, _, err := s.Bootstrap(ctx, db, "acme", "admin@example.com", "")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := s.Bootstrap(ctx, db, "beta", "eve@example.com", ""); err != nil {
			t.Fatal(err)
		}
		link, _, err := s.IssueLoginLink(ctx, db, "eve@example.com")
		if err != nil {
			t.Fatal(err)
		}
		_, anon, _ := s.StartSession(ctx, db)
		cookie, sess, err := s.SignInWithLoginLink(ctx, db, link, anon.ID)
		if err != nil || !sess.SignedIn() {
			t.Fatalf("login link = %+v, %v", sess, err)
		}
		if _, _, err := s.SignInWithLoginLink(ctx, db, link, ""); !errors.Is(err, identity.ErrLoginLinkUnknown) {
			t.Fatalf("second use: %v", err)
		}
		inv, err := s.Invite(ctx, db, identity.Principal{UserID: admin.ID, OrgID: acme.ID, Role: identity.RoleAdmin}, "someone@example.com", "", identity.RoleMember)
		if err != nil {
			t.Fatal(err)
		}
		if got, org, err := s.InvitationByToken(ctx, db, inv.Token); err != nil || got.Email != "someone@example.com" || org.ID != acme.ID {
			t.Fatalf("invitation = %+v %+v %v", got, org, err)
		}
		if _, err := s.AcceptInvitationInSession(ctx, db, anon, inv.Token); !errors.Is(err, identity.ErrNoSession) {
			t.Fatalf("signed-out acceptance: %v", err)
		}
		acc, err := s.AcceptInvitationInSession(ctx, db, sess, inv.Token)
		if err != nil || acc.UserID != sess.UserID || acc.OrgID != acme.ID || acc.Token != "" {
			t.Fatalf("accept = %+v, %v", acc, err)
		}
		sess, _ = s.SessionByToken(ctx, db, cookie)
		if p, _ := s.SessionPrincipal(ctx, db, sess); p.OrgID != acme.ID || p.Role != identity.RoleMember {
			t.Fatalf("session after joining: %+v", p)
		}
		if _, _, err := s.InvitationByToken(ctx, db, inv.Token); !errors.Is(err, identity.ErrInvitationUnknown) {
			t.Fatalf("used invitation shows: %v", err)
		}
	})
}
