// The retention job on both databases, with every purge the gateway
// registers: the elected leader runs it at start; a purge that fails does
// not keep the others from running.
package retention_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/tryreplicas/gateway/gateway/queue"
	"github.com/tryreplicas/gateway/gateway/retention"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/github"
	"github.com/tryreplicas/gateway/integrations/intake"
	"github.com/tryreplicas/gateway/integrations/launch"
	"github.com/tryreplicas/gateway/integrations/linear"
	"github.com/tryreplicas/gateway/integrations/oauthstate"
)

var sets = []sqldb.Set{identity.Migrations, launch.Migrations, intake.Migrations, github.Migrations, linear.Migrations, oauthstate.Migrations}

func TestRetentionJob(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		now := time.Now().UTC()
		const keep = 30 * 24 * time.Hour
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := db.Exec(ctx, q, args...); err != nil {
				t.Fatal(err)
			}
		}
		for _, d := range []struct {
			id  string
			age time.Duration
		}{{"old", keep + time.Hour}, {"new", time.Hour}} {
			exec(`INSERT INTO deliveries (id, source, delivery_id, event, body, received_at, outcome, processed_at)
				VALUES ($1, 'github', $1, 'issue_comment.created', $2, $3, 'launched', $3)`, d.id, []byte(`{"action":"created"}`), now.Add(-d.age))
		}
		for _, s := range []struct {
			id      string
			expires time.Time
		}{{"st_expired", now.Add(-time.Minute)}, {"st_valid", now.Add(oauthstate.TTL)}} {
			exec(`INSERT INTO oauth_states (id, kind, org_id, user_id, verifier, expires_at) VALUES ($1, 'connect', 'org_1', 'usr_1', '', $2)`, s.id, s.expires)
		}
		org, user, _, err := identity.NewStore().Bootstrap(ctx, db, "acme", "ada@acme.example", "")
		if err != nil {
			t.Fatal(err)
		}
		for _, inv := range []struct {
			id       string
			expires  time.Time
			accepted any
		}{{"inv_expired", now.Add(-time.Minute), nil}, {"inv_pending", now.Add(time.Hour), nil},
			{"inv_accepted_long_ago", now.Add(time.Hour), now.Add(-25 * time.Hour)}, {"inv_accepted_now", now.Add(time.Hour), now}} {
			exec(`INSERT INTO invitations (id, org_id, email, name, role, token_hash, invited_by, created_at, expires_at, accepted_at)
				VALUES ($1, $2, 'x@acme.example', '', 'member', $3, 'usr_1', $4, $5, $6)`, inv.id, org.ID, []byte(inv.id), now.Add(-48*time.Hour), inv.expires, inv.accepted)
		}
		for _, l := range []struct {
			id      string
			expires time.Time
		}{{"lnk_expired", now.Add(-time.Second)}, {"lnk_valid", now.Add(time.Minute)}} {
			exec(`INSERT INTO login_links (id, user_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`, l.id, user.ID, []byte(l.id), now, l.expires)
		}
		for _, table := range []string{"github_explanations", "linear_explanations"} {
			for key, age := range map[string]time.Duration{"old": 25 * time.Hour, "recent": 2 * time.Hour} {
				if _, err := sqldb.ClaimWindow(ctx, db, table, key, now.Add(-age), time.Hour); err != nil {
					t.Fatal(err)
				}
			}
		}

		log := sqldbtest.Logger()
		q, err := queue.New(db, log, queue.Options{PollInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		broken := func(context.Context, sqldb.Querier, time.Time) (int, error) { return 0, errors.New("disk on fire") }
		retention.Register(q, db, log, []retention.Task{
			{Name: "broken", Purge: broken},
			{Name: "delivery bodies", Purge: intake.BodyRetention(keep).Purge},
			{Name: "oauth states", Purge: oauthstate.Purge},
			{Name: "invitations and login links", Purge: identity.PurgeExpiredLinks},
			{Name: "github explanations", Purge: github.NewStore().PurgeExplanations},
			{Name: "linear explanations", Purge: linear.NewStore(nil).PurgeExplanations},
		})
		events, unsubscribe := q.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed)
		defer unsubscribe()
		runCtx, cancel := context.WithCancel(ctx)
		if err := q.Start(runCtx); err != nil {
			t.Fatal(err)
		}
		defer func() {
			cancel()
			stop, c := context.WithTimeout(context.Background(), 10*time.Second)
			defer c()
			_ = q.Stop(stop)
		}()
		// No insert: the leader schedules the first run at its start.
		select {
		case ev := <-events:
			if ev.Job.Kind != "retention" || ev.Kind != river.EventKindJobFailed {
				t.Fatalf("job %s ended %s, want retention failed (the broken purge)", ev.Job.Kind, ev.Kind)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the retention job never ran")
		}

		count := func(q string) int {
			t.Helper()
			var n int
			if err := db.QueryRow(ctx, q).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		checks := []struct {
			what, query string
			want        int
		}{
			{"deliveries", `SELECT COUNT(*) FROM deliveries`, 2},
			{"deliveries with a body", `SELECT COUNT(*) FROM deliveries WHERE length(body) > 0 AND id = 'new'`, 1},
			{"old delivery's outcome", `SELECT COUNT(*) FROM deliveries WHERE id = 'old' AND length(body) = 0 AND outcome = 'launched'`, 1},
			{"oauth states", `SELECT COUNT(*) FROM oauth_states WHERE id = 'st_valid'`, 1},
			{"all oauth states", `SELECT COUNT(*) FROM oauth_states`, 1},
			{"invitations still of use", `SELECT COUNT(*) FROM invitations WHERE id IN ('inv_pending', 'inv_accepted_now')`, 2},
			{"all invitations", `SELECT COUNT(*) FROM invitations`, 2},
			{"login links", `SELECT COUNT(*) FROM login_links WHERE id = 'lnk_valid'`, 1},
			{"all login links", `SELECT COUNT(*) FROM login_links`, 1},
			{"github explanations", `SELECT COUNT(*) FROM github_explanations WHERE explanation_key = 'recent'`, 1},
			{"all github explanations", `SELECT COUNT(*) FROM github_explanations`, 1},
			{"linear explanations", `SELECT COUNT(*) FROM linear_explanations WHERE explanation_key = 'recent'`, 1},
			{"all linear explanations", `SELECT COUNT(*) FROM linear_explanations`, 1},
		}
		for _, c := range checks {
			if got := count(c.query); got != c.want {
				t.Errorf("%s: %d, want %d", c.what, got, c.want)
			}
		}
	})
}
