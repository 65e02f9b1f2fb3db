package linear

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
)

// The connection store behaves the same on PostgreSQL and SQLite: sealed
// tokens, one org per Linear organization, versions, refresh states, key
// rotation, team mapping and the hourly explanation window.
func TestStore(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, []sqldb.Set{Migrations}, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		sealer := newSealer(t)
		s := NewStore(sealer)
		if _, err := s.ByOrg(ctx, db, "org-1"); !errors.Is(err, ErrNotConnected) || !errors.Is(err, errs.ErrNotFound) {
			t.Fatalf("missing connection: %v", err)
		}
		exp := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
		c := Connection{OrgID: "org-1", OrganizationID: "lin-1", AppUserID: "app-1", TokenKind: "oauth"}
		if err := s.Connect(ctx, db, c, Tokens{Access: "access-1", Refresh: "refresh-1", Expiry: exp}, "admin"); err != nil {
			t.Fatal(err)
		}
		got, err := s.ByOrganization(ctx, db, "lin-1")
		if err != nil || got.OrgID != "org-1" || got.token != "access-1" || got.refresh != "refresh-1" || !got.ExpiresAt.Equal(exp) || got.Version != 1 || got.RefreshState != "" {
			t.Fatalf("read back %+v, %v", got, err)
		}
		var sealed []byte
		if err := db.QueryRow(ctx, `SELECT token_sealed FROM linear_connections WHERE org_id = $1`, "org-1").Scan(&sealed); err != nil || string(sealed) == "access-1" {
			t.Fatalf("token stored in clear (%v)", err)
		}
		other := Connection{OrgID: "org-2", OrganizationID: "lin-1", AppUserID: "app-1", TokenKind: "api_key"}
		if err := s.Connect(ctx, db, other, Tokens{Access: "lin_api_x"}, "admin"); !errors.Is(err, errs.ErrConflict) {
			t.Fatalf("second org for one Linear organization: %v", err)
		}

		// A refresh starts only from the version it read, once.
		if ok, err := s.startRefresh(ctx, db, "org-1", got.Version); !ok || err != nil {
			t.Fatalf("start refresh: %v %v", ok, err)
		}
		if ok, err := s.startRefresh(ctx, db, "org-1", got.Version); ok || err != nil {
			t.Fatalf("second start from the same version: %v %v", ok, err)
		}
		mid, _ := s.ByOrg(ctx, db, "org-1")
		if mid.RefreshState != "in_flight" || mid.Version != 2 {
			t.Fatalf("during refresh %+v", mid)
		}
		// Rotating the key keeps the refresh state; new tokens clear it.
		sealer.rotate(t, "k2")
		if n, err := s.Reseal(ctx, db, "k2"); n != 1 || err != nil {
			t.Fatalf("reseal = %d, %v", n, err)
		}
		if n, err := s.Reseal(ctx, db, "k2"); n != 0 || err != nil {
			t.Fatalf("second reseal = %d, %v", n, err)
		}
		after, err := s.ByOrg(ctx, db, "org-1")
		if err != nil || after.token != "access-1" || after.refresh != "refresh-1" || after.RefreshState != "in_flight" {
			t.Fatalf("after reseal %+v, %v", after, err)
		}
		if err := s.UpdateTokens(ctx, db, "org-1", Tokens{Access: "access-2", Refresh: "refresh-2", Expiry: exp.Add(24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		fresh, _ := s.ByOrg(ctx, db, "org-1")
		if fresh.token != "access-2" || fresh.refresh != "refresh-2" || fresh.RefreshState != "" || fresh.Version <= after.Version {
			t.Fatalf("after refresh %+v", fresh)
		}
		if err := s.refreshRejected(ctx, db, "org-1"); err != nil {
			t.Fatal(err)
		}
		if r, _ := s.ByOrg(ctx, db, "org-1"); r.RefreshState != "rejected" {
			t.Fatalf("rejected state %q", r.RefreshState)
		}
		if err := s.UpdateTokens(ctx, db, "nobody", Tokens{Access: "x"}); !errors.Is(err, ErrNotConnected) {
			t.Fatalf("update of a missing connection: %v", err)
		}

		// Team mapping: the first mapped of key and id wins; a remap replaces.
		if repo, err := s.TeamRepository(ctx, db, "org-1", "ENG", "team-id"); repo != "" || err != nil {
			t.Fatalf("unmapped = %q, %v", repo, err)
		}
		for _, m := range [][2]string{{"team-id", "acme/old"}, {"team-id", "acme/api"}, {"OPS", "acme/ops"}} {
			if err := s.SetTeamRepository(ctx, db, "org-1", m[0], m[1]); err != nil {
				t.Fatal(err)
			}
		}
		if repo, err := s.TeamRepository(ctx, db, "org-1", "ENG", "team-id"); repo != "acme/api" || err != nil {
			t.Fatalf("mapped = %q, %v", repo, err)
		}
		if repo, _ := s.TeamRepository(ctx, db, "org-2", "OPS"); repo != "" {
			t.Fatalf("mapping leaked to another org: %q", repo)
		}

		// One explanation per key per hour.
		clock := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
		s.now = func() time.Time { return clock }
		for _, step := range []struct {
			after time.Duration
			key   string
			want  bool
		}{{0, "u:i", true}, {time.Minute, "u:i", false}, {0, "u:j", true}, {58 * time.Minute, "u:i", false}, {2 * time.Minute, "u:i", true}} {
			clock = clock.Add(step.after)
			if ok, err := s.claimExplanation(ctx, db, step.key); ok != step.want || err != nil {
				t.Fatalf("claim %s at %s = %v, %v", step.key, clock, ok, err)
			}
		}

		if err := s.Disconnect(ctx, db, "org-1"); err != nil {
			t.Fatal(err)
		}
		if err := s.Disconnect(ctx, db, "org-1"); !errors.Is(err, ErrNotConnected) {
			t.Fatalf("second disconnect: %v", err)
		}
	})
}
