package github

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
)

// Installations and the explanation window behave the same on both databases.
func TestStore(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		s := &Store{now: func() time.Time { return clock }}

		if _, err := s.Installation(ctx, db, 9); !errors.Is(err, ErrNotFound) || !errors.Is(err, errs.ErrNotFound) {
			t.Fatalf("missing installation: %v", err)
		}
		if err := s.Bind(ctx, db, 9, "org_a"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("binding a missing installation: %v", err)
		}
		in := Installation{ID: 9, AccountLogin: "acme", AccountID: 90, AccountType: "Organization", Status: "active", RepositorySelection: "all", InstallerID: 5}
		if err := s.Upsert(ctx, db, in); err != nil {
			t.Fatal(err)
		}
		if err := s.Bind(ctx, db, 9, "org_a"); err != nil {
			t.Fatal(err)
		}
		// A later event without selection or installer keeps both, and the binding.
		if err := s.Upsert(ctx, db, Installation{ID: 9, AccountLogin: "acme-renamed", AccountID: 90, AccountType: "Organization", Status: "suspended"}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Installation(ctx, db, 9)
		if err != nil || got.OrgID != "org_a" || got.AccountLogin != "acme-renamed" || got.Status != "suspended" ||
			got.RepositorySelection != "all" || got.InstallerID != 5 || !got.UpdatedAt.Equal(clock) {
			t.Fatalf("%+v, %v", got, err)
		}
		if err := s.Upsert(ctx, db, Installation{ID: 8, AccountLogin: "other", AccountID: 80, AccountType: "User", Status: "bogus"}); err == nil {
			t.Fatal("an unknown status was stored")
		}
		list, err := s.OrgInstallations(ctx, db, "org_a")
		if err != nil || len(list) != 1 || list[0].ID != 9 {
			t.Fatalf("%+v, %v", list, err)
		}
		if list, err := s.OrgInstallations(ctx, db, "org_b"); err != nil || len(list) != 0 {
			t.Fatalf("%+v, %v", list, err)
		}

		claims := []struct {
			after time.Duration
			key   string
			want  bool
		}{
			{0, "1:o/r#1", true},
			{time.Minute, "1:o/r#1", false},
			{time.Minute, "1:o/r#2", true},
			{time.Minute, "2:o/r#1", true},
			{59 * time.Minute, "1:o/r#1", false},
			{61 * time.Minute, "1:o/r#1", true},
			{62 * time.Minute, "1:o/r#1", false},
		}
		start := clock
		for _, c := range claims {
			clock = start.Add(c.after)
			if ok, err := s.claimExplanation(ctx, db, c.key); err != nil || ok != c.want {
				t.Errorf("claim %s after %v = %v, %v; want %v", c.key, c.after, ok, err, c.want)
			}
		}
	})
}

// An installation bound to one org is never moved to another by Bind; the
// org that holds it unbinds it first.
func TestBindNeverMovesAcrossOrgs(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := NewStore()
		if err := s.Upsert(ctx, db, Installation{ID: 9, AccountLogin: "acme", AccountID: 90, AccountType: "Organization", Status: "active"}); err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			name    string
			op      func() error
			wantErr error
			bound   string
		}{
			{"bind", func() error { return s.Bind(ctx, db, 9, "org_a") }, nil, "org_a"},
			{"bind again to the same org", func() error { return s.Bind(ctx, db, 9, "org_a") }, nil, "org_a"},
			{"bind to another org", func() error { return s.Bind(ctx, db, 9, "org_b") }, ErrInstallationBound, "org_a"},
			{"the other org unbinds", func() error { return s.Unbind(ctx, db, 9, "org_b") }, ErrNotFound, "org_a"},
			{"unbind a missing installation", func() error { return s.Unbind(ctx, db, 10, "org_a") }, ErrNotFound, "org_a"},
			{"the holder unbinds", func() error { return s.Unbind(ctx, db, 9, "org_a") }, nil, ""},
			{"the other org binds", func() error { return s.Bind(ctx, db, 9, "org_b") }, nil, "org_b"},
			{"the first org cannot take it back", func() error { return s.Bind(ctx, db, 9, "org_a") }, ErrInstallationBound, "org_b"},
		}
		for _, st := range steps {
			err := st.op()
			if (st.wantErr == nil && err != nil) || (st.wantErr != nil && !errors.Is(err, st.wantErr)) {
				t.Fatalf("%s: err = %v, want %v", st.name, err, st.wantErr)
			}
			if errors.Is(err, ErrInstallationBound) && !errors.Is(err, errs.ErrConflict) {
				t.Fatalf("%s: %v is not a conflict", st.name, err)
			}
			if in, err := s.Installation(ctx, db, 9); err != nil || in.OrgID != st.bound {
				t.Fatalf("%s: bound to %q (%v), want %q", st.name, in.OrgID, err, st.bound)
			}
		}
	})
}

// An upsert without a status (a change of repositories) keeps the stored
// one: a suspended installation does not become usable again; a new one is
// active.
func TestUpsertWithoutStatusKeepsIt(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := NewStore()
		for _, step := range []struct {
			in   Installation
			want string
		}{
			{Installation{ID: 7, AccountLogin: "acme", AccountID: 70, AccountType: "Organization"}, "active"},
			{Installation{ID: 7, AccountLogin: "acme", AccountID: 70, AccountType: "Organization", Status: "suspended"}, "suspended"},
			{Installation{ID: 7, AccountLogin: "acme", AccountID: 70, AccountType: "Organization"}, "suspended"},
			{Installation{ID: 7, AccountLogin: "acme", AccountID: 70, AccountType: "Organization", Status: "active"}, "active"},
		} {
			if err := s.Upsert(ctx, db, step.in); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Installation(ctx, db, 7); err != nil || got.Status != step.want {
				t.Fatalf("after upsert with status %q: %q, %v; want %q", step.in.Status, got.Status, err, step.want)
			}
		}
	})
}
