package launch_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/integrations/launch"
)

func tokenExpiry(t *testing.T, db *sqldb.DB, id string) time.Time {
	t.Helper()
	var at time.Time
	if err := db.QueryRow(context.Background(), `SELECT token_expires_at FROM workspaces WHERE id = $1`, id).Scan(&at); err != nil {
		t.Fatal(err)
	}
	return at
}

// A workspace token lives TokenTTL from its last use: each use pushes the
// expiry forward (written at most once a minute), and a token left unused
// for TokenTTL stops working.
func TestTokenExpiresUnlessUsed(t *testing.T) {
	t.Parallel()
	for _, d := range sqldbtest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, s, _, h := setup(t, d, &launch.DryRunLauncher{Dir: t.TempDir()})
			const ttl = 2 * time.Hour
			s.TokenTTL = ttl
			t0 := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
			now := t0
			launch.SetClock(s, func() time.Time { return now })
			used, err := create(t, db, s, trigger("used"))
			if err != nil {
				t.Fatal(err)
			}
			idle, err := create(t, db, s, trigger("idle"))
			if err != nil {
				t.Fatal(err)
			}
			tokens := map[string]string{used.ID: openToken(t, h, used.ID), idle.ID: openToken(t, h, idle.ID)}
			if got := tokenExpiry(t, db, used.ID); !got.Equal(t0.Add(ttl)) {
				t.Fatalf("new token expires at %s, want %s", got, t0.Add(ttl))
			}
			steps := []struct {
				name       string
				at         time.Duration // since t0
				ws         string
				ok         bool
				wantExpiry time.Duration // since t0, when ok
			}{
				{"fresh", 0, used.ID, true, ttl},
				{"used again within a minute: no write", 30 * time.Second, used.ID, true, ttl},
				{"used two minutes later: extended", 2 * time.Minute, used.ID, true, 2*time.Minute + ttl},
				{"never used for a whole ttl: dead", ttl + time.Second, idle.ID, false, 0},
				{"used past its first ttl: alive and extended", ttl + time.Minute, used.ID, true, 2*ttl + time.Minute},
				{"unused for a ttl since its last use: dead", 2*ttl + time.Minute + time.Second, used.ID, false, 0},
			}
			for _, st := range steps {
				now = t0.Add(st.at)
				w, err := s.Authenticate(ctx, tokens[st.ws])
				if st.ok != (err == nil) || (err != nil && !errors.Is(err, errs.ErrUnauthorized)) {
					t.Fatalf("%s: authenticate = %+v, %v (want ok=%v)", st.name, w, err, st.ok)
				}
				if !st.ok {
					continue
				}
				if w.ID != st.ws {
					t.Fatalf("%s: authenticated %s, want %s", st.name, w.ID, st.ws)
				}
				if got := tokenExpiry(t, db, st.ws); !got.Equal(t0.Add(st.wantExpiry)) {
					t.Fatalf("%s: expiry %s, want %s", st.name, got, t0.Add(st.wantExpiry))
				}
			}
		})
	}
}

// A workspace token stops working when its owner is no longer a member of
// the workspace's org; other members' tokens are unaffected.
func TestTokenDiesWhenOwnerLeavesOrg(t *testing.T) {
	t.Parallel()
	for _, d := range sqldbtest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, s, _, h := setup(t, d, &launch.DryRunLauncher{Dir: t.TempDir()})
			mk := func(user, key string) string {
				tr := trigger(key)
				tr.OrgID, tr.UserID = "org_a", user
				w, err := create(t, db, s, tr)
				if err != nil {
					t.Fatal(err)
				}
				return openToken(t, h, w.ID)
			}
			leaving, staying := mk("usr_1", "leaving"), mk("usr_2", "staying")
			for _, tok := range []string{leaving, staying} {
				if _, err := s.Authenticate(ctx, tok); err != nil {
					t.Fatalf("before leaving: %v", err)
				}
			}
			if _, err := db.Exec(ctx, `DELETE FROM memberships WHERE org_id = 'org_a' AND user_id = 'usr_1'`); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Authenticate(ctx, leaving); !errors.Is(err, errs.ErrUnauthorized) {
				t.Fatalf("token of a workspace whose owner left the org: %v", err)
			}
			if _, err := s.Authenticate(ctx, staying); err != nil {
				t.Fatalf("another member's token: %v", err)
			}
		})
	}
}

// Cancel: only the owner or an admin of the workspace's org; the workspace
// becomes cancelled, its token and pending launch die at once, its source is
// told, and an ended workspace cannot be cancelled.
func TestCancel(t *testing.T) {
	t.Parallel()
	for _, d := range sqldbtest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			var launches atomic.Int32
			db, s, q, h := setup(t, d, launcherFunc(func(context.Context, launch.Request) (launch.Result, error) {
				launches.Add(1)
				return launch.Result{}, nil
			}))
			mk := func(user, key string) launch.Workspace {
				tr := trigger(key)
				tr.OrgID, tr.UserID = "org_a", user
				w, err := create(t, db, s, tr)
				if err != nil {
					t.Fatal(err)
				}
				return w
			}
			own, other := mk("usr_1", "own"), mk("usr_2", "other")
			ownToken := openToken(t, h, own.ID)
			if _, err := s.Authenticate(ctx, ownToken); err != nil {
				t.Fatal(err)
			}
			member := launch.Actor{OrgID: "org_a", UserID: "usr_1"}
			cases := []struct {
				name string
				id   string
				by   launch.Actor
				want error // nil: cancelled
			}{
				{"another member", own.ID, launch.Actor{OrgID: "org_a", UserID: "usr_2"}, errs.ErrNotFound},
				{"an admin of another org", own.ID, launch.Actor{OrgID: "org_b", UserID: "usr_9", Admin: true}, errs.ErrNotFound},
				{"the owner's token of another org", own.ID, launch.Actor{OrgID: "org_b", UserID: "usr_1"}, errs.ErrNotFound},
				{"unknown workspace", "ws_nope", member, errs.ErrNotFound},
				{"the owner", own.ID, member, nil},
				{"the owner again", own.ID, member, errs.ErrConflict},
				{"an admin of the org", other.ID, launch.Actor{OrgID: "org_a", UserID: "usr_9", Admin: true}, nil},
			}
			for _, tc := range cases {
				w, err := s.Cancel(ctx, tc.id, tc.by)
				if tc.want != nil {
					if !errors.Is(err, tc.want) {
						t.Fatalf("%s: err = %v, want %v", tc.name, err, tc.want)
					}
					continue
				}
				if err != nil || w.Status != launch.StatusCancelled || w.ID != tc.id {
					t.Fatalf("%s: cancel = %+v, %v", tc.name, w, err)
				}
				if r := <-h.reports; r != launch.StatusCancelled {
					t.Fatalf("%s: source told %s", tc.name, r)
				}
			}
			if _, err := s.Authenticate(ctx, ownToken); !errors.Is(err, errs.ErrUnauthorized) {
				t.Fatalf("token of a cancelled workspace: %v", err)
			}
			if _, err := s.Update(ctx, own.ID, launch.Update{Status: launch.StatusRunning}); !errors.Is(err, errs.ErrConflict) {
				t.Fatalf("cancelled -> running: %v", err)
			}
			// The pending launches end without launching anything.
			start(t, q)
			for range 2 {
				select {
				case <-h.events:
				case <-time.After(20 * time.Second):
					t.Fatal("the launch jobs never ended")
				}
			}
			for _, id := range []string{own.ID, other.ID} {
				var sealed []byte
				var status string
				if err := db.QueryRow(ctx, `SELECT status, token_sealed FROM workspaces WHERE id = $1`, id).Scan(&status, &sealed); err != nil {
					t.Fatal(err)
				}
				if status != string(launch.StatusCancelled) || sealed != nil {
					t.Errorf("%s after its launch job: status %s, sealed token %x", id, status, sealed)
				}
			}
			if n := launches.Load(); n != 0 {
				t.Fatalf("the launcher ran %d times for cancelled workspaces", n)
			}
		})
	}
}
