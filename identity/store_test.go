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
