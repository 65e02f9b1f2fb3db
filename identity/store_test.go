package identity_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/identity"
)

var sets = []sqldb.Set{identity.Migrations}

func TestOrgsUsersTokens(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := identity.NewStore()
		org, user, token, err := s.Bootstrap(ctx, db, "acme", "  Ada@Example.COM ", "Ada")
		if err != nil {
			t.Fatal(err)
		}
		if user.Email != "ada@example.com" {
			t.Errorf("email not normalized: %q", user.Email)
		}
		p, err := s.Authenticate(ctx, db, token)
		if err != nil {
			t.Fatal(err)
		}
		if p.UserID != user.ID || p.OrgID != org.ID || !p.IsAdmin() {
			t.Errorf("principal = %+v", p)
		}
		if _, err := s.Authenticate(ctx, db, token+"x"); !errors.Is(err, errs.ErrUnauthorized) {
			t.Errorf("wrong token: err = %v", err)
		}
		if _, _, _, err := s.Bootstrap(ctx, db, "acme", "b@example.com", ""); !errors.Is(err, errs.ErrConflict) {
			t.Errorf("duplicate slug: err = %v", err)
		}
		again, err := s.EnsureUser(ctx, db, "ADA@example.com", "")
		if err != nil || again.ID != user.ID {
			t.Errorf("EnsureUser same email = %v, %v", again, err)
		}
		if err := s.RevokeToken(ctx, db, org.ID, p.TokenID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Authenticate(ctx, db, token); !errors.Is(err, errs.ErrUnauthorized) {
			t.Errorf("revoked token: err = %v", err)
		}
		if _, err := s.Member(ctx, db, org.ID, "usr_missing"); !errors.Is(err, identity.ErrNotFound) {
			t.Errorf("missing member: err = %v", err)
		}
		log, err := s.AuditLog(ctx, db, org.ID, 10)
		if err != nil || len(log) != 1 || log[0].Action != "org.bootstrap" {
			t.Errorf("audit log = %+v, %v", log, err)
		}
	})
}

func TestGitHubLinkRules(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := identity.NewStore()
		org, ada, _, err := s.Bootstrap(ctx, db, "acme", "ada@example.com", "Ada")
		if err != nil {
			t.Fatal(err)
		}
		bob, err := s.EnsureUser(ctx, db, "bob@example.com", "Bob")
		if err != nil {
			t.Fatal(err)
		}
		link := func(user string, id int64, login, via string) error {
			_, err := s.LinkGitHub(ctx, db, identity.LinkRequest{UserID: user, GitHubID: id, Login: login, Via: via, ActorID: "system", OrgID: org.ID})
			return err
		}
		steps := []struct {
			name    string
			user    string
			id      int64
			login   string
			via     string
			wantErr error
			owner   string // who owns id afterwards
		}{
			{"org connect links", ada.ID, 100, "ada", identity.LinkedViaOrgConnect, nil, ada.ID},
			{"org connect repeats", ada.ID, 100, "ada-renamed", identity.LinkedViaOrgConnect, nil, ada.ID},
			{"org connect cannot take another's account", bob.ID, 100, "ada", identity.LinkedViaOrgConnect, identity.ErrLinkConflict, ada.ID},
			{"admin link upgrades", ada.ID, 100, "ada", identity.LinkedViaAdmin, nil, ada.ID},
			{"org connect never overwrites admin link", ada.ID, 101, "ada2", identity.LinkedViaOrgConnect, identity.ErrLinkConflict, ""},
			{"oauth moves the account", bob.ID, 100, "ada", identity.LinkedViaOAuth, nil, bob.ID},
		}
		for _, st := range steps {
			err := link(st.user, st.id, st.login, st.via)
			if !errors.Is(err, st.wantErr) && !(st.wantErr == nil && err == nil) {
				t.Fatalf("%s: err = %v, want %v", st.name, err, st.wantErr)
			}
			if st.owner != "" {
				l, err := s.GitHubLinkByID(ctx, db, st.id)
				if err != nil || l.UserID != st.owner {
					t.Fatalf("%s: owner = %+v, %v; want %s", st.name, l, err, st.owner)
				}
			}
		}
		if _, err := s.GitHubLinkOf(ctx, db, ada.ID); !errors.Is(err, identity.ErrNotFound) {
			t.Errorf("ada still linked after move: %v", err)
		}
		l, _ := s.GitHubLinkByID(ctx, db, 100)
		if l.Login != "ada" || l.LinkedVia != identity.LinkedViaOAuth {
			t.Errorf("link = %+v", l)
		}
	})
}

// Admin links and unlinks stay inside what the admin administers: never
// another user's account, never a user who is also in an org the admin does
// not administer; the user themselves, OAuth proof and the operator are not
// limited.
func TestAdminLinkScope(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := identity.NewStore()
		acme, acmeAdmin, _, err := s.Bootstrap(ctx, db, "acme", "admin@acme.example", "")
		if err != nil {
			t.Fatal(err)
		}
		beta, betaAdmin, _, err := s.Bootstrap(ctx, db, "beta", "admin@beta.example", "")
		if err != nil {
			t.Fatal(err)
		}
		user := func(email string, orgs ...identity.Org) string {
			u, err := s.EnsureUser(ctx, db, email, "")
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range orgs {
				if err := s.AddMember(ctx, db, o.ID, u.ID, identity.RoleMember); err != nil {
					t.Fatal(err)
				}
			}
			return u.ID
		}
		alice := user("alice@acme.example", acme, beta) // in both orgs
		carol := user("carol@beta.example", beta)
		dave := user("dave@beta.example", beta)
		both := user("owner@both.example")
		for _, o := range []identity.Org{acme, beta} {
			if err := s.AddMember(ctx, db, o.ID, both, identity.RoleAdmin); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.LinkGitHub(ctx, db, identity.LinkRequest{UserID: alice, GitHubID: 1, Login: "alice", Via: identity.LinkedViaOAuth, ActorID: alice}); err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			name    string
			user    string
			id      int64 // 0: unlink
			via     string
			actor   string
			org     string
			wantErr bool
			want    int64 // the user's GitHub id afterwards
			wantVia string
		}{
			{"beta's admin relinks a user also in acme", alice, 66, identity.LinkedViaAdmin, betaAdmin.ID, beta.ID, true, 1, "oauth"},
			{"acme's admin relinks a user also in beta", alice, 66, identity.LinkedViaAdmin, acmeAdmin.ID, acme.ID, true, 1, "oauth"},
			{"beta's admin unlinks a user also in acme", alice, 0, "", betaAdmin.ID, beta.ID, true, 1, "oauth"},
			{"an automation token of beta relinks a user also in acme", alice, 66, identity.LinkedViaAdmin, "token:tok_1", beta.ID, true, 1, "oauth"},
			{"an admin of both orgs re-asserts the proven account", alice, 1, identity.LinkedViaAdmin, both, beta.ID, false, 1, "oauth"},
			{"beta's admin links a user only in beta", carol, 3, identity.LinkedViaAdmin, betaAdmin.ID, beta.ID, false, 3, "admin"},
			{"beta's admin moves alice's account to carol", carol, 1, identity.LinkedViaAdmin, betaAdmin.ID, beta.ID, true, 3, "admin"},
			{"an admin of both orgs moves alice's account to dave", dave, 1, identity.LinkedViaAdmin, both, beta.ID, true, 0, ""},
			{"an automation token of beta links a user only in beta", dave, 4, identity.LinkedViaAdmin, "token:tok_1", beta.ID, false, 4, "admin"},
			{"an admin of both orgs relinks alice", alice, 5, identity.LinkedViaAdmin, both, acme.ID, false, 5, "admin"},
			{"the operator relinks alice", alice, 6, identity.LinkedViaAdmin, "system", "", false, 6, "admin"},
			{"alice proves account 3 by OAuth: it moves", alice, 3, identity.LinkedViaOAuth, alice, acme.ID, false, 3, "oauth"},
			{"carol lost account 3 to its owner", carol, 3, identity.LinkedViaAdmin, betaAdmin.ID, beta.ID, true, 0, ""},
			{"beta's admin unlinks dave", dave, 0, "", betaAdmin.ID, beta.ID, false, 0, ""},
			{"alice unlinks herself", alice, 0, "", alice, acme.ID, false, 0, ""},
		}
		for _, st := range steps {
			var err error
			if st.id == 0 {
				err = s.UnlinkGitHub(ctx, db, st.user, st.actor, st.org)
			} else {
				_, err = s.LinkGitHub(ctx, db, identity.LinkRequest{UserID: st.user, GitHubID: st.id, Login: "gh", Via: st.via, ActorID: st.actor, OrgID: st.org})
			}
			var e *errs.Error
			if st.wantErr && (!errors.Is(err, identity.ErrLinkConflict) || !errors.Is(err, errs.ErrConflict) || !errors.As(err, &e) || e.Code != "link_conflict") {
				t.Fatalf("%s: err = %v, want link_conflict", st.name, err)
			}
			if !st.wantErr && err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			l, err := s.GitHubLinkOf(ctx, db, st.user)
			if err != nil && !errors.Is(err, identity.ErrNotFound) {
				t.Fatal(err)
			}
			if l.GitHubID != st.want || l.LinkedVia != st.wantVia {
				t.Fatalf("%s: link = %+v, want %d (%s)", st.name, l, st.want, st.wantVia)
			}
		}
	})
}

// Inviting, withdrawing an invitation and changing a role are an admin's:
// the rule holds in the store, not only in the handlers that call it, and a
// member's attempt changes nothing.
func TestMembershipChangesNeedAnAdmin(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := identity.NewStore()
		org, admin, _, err := s.Bootstrap(ctx, db, "acme", "admin@example.com", "Admin")
		if err != nil {
			t.Fatal(err)
		}
		bob, err := s.EnsureUser(ctx, db, "bob@example.com", "")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.AddMember(ctx, db, org.ID, bob.ID, identity.RoleMember); err != nil {
			t.Fatal(err)
		}
		asAdmin := identity.Principal{UserID: admin.ID, OrgID: org.ID, Role: identity.RoleAdmin}
		asBob := identity.Principal{UserID: bob.ID, Email: bob.Email, OrgID: org.ID, Role: identity.RoleMember}
		inv, err := s.Invite(ctx, db, asAdmin, "carol@example.com", "", identity.RoleMember)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Invite(ctx, db, asBob, "dave@example.com", "", identity.RoleAdmin); !errors.Is(err, errs.ErrForbidden) {
			t.Errorf("member invites: %v", err)
		}
		if _, err := s.SetRole(ctx, db, asBob, bob.ID, identity.RoleAdmin); !errors.Is(err, errs.ErrForbidden) {
			t.Errorf("member makes themselves admin: %v", err)
		}
		if err := s.RevokeInvitation(ctx, db, asBob, inv.ID); !errors.Is(err, errs.ErrForbidden) {
			t.Errorf("member withdraws an invitation: %v", err)
		}
		if m, err := s.Member(ctx, db, org.ID, bob.ID); err != nil || m.Role != identity.RoleMember {
			t.Errorf("bob = %+v, %v", m, err)
		}
		if invs, err := s.Invitations(ctx, db, org.ID); err != nil || len(invs) != 1 || invs[0].ID != inv.ID {
			t.Errorf("invitations = %+v, %v", invs, err)
		}
	})
}
