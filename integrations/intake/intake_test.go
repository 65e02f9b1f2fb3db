// Intake on both databases with a real River client, the real launch
// service (dry-run launcher) and a scripted Source: idempotent recording,
// exactly-once processing, permanent errors, retries, dead jobs and replay.
package intake_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/tryreplicas/gateway/credstore"
	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/queue"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/integrations/intake"
	"github.com/tryreplicas/gateway/integrations/launch"
)

var sets = []sqldb.Set{intake.Migrations}

// chain resolves to one API key, or to nothing while empty is set.
type chain struct{ empty atomic.Bool }

func (c *chain) ResolveChain(_ context.Context, _ sqldb.Querier, _, _, _ string) (string, []launch.ChainEntry, error) {
	if c.empty.Load() {
		return "", nil, launch.ErrNoCredentials
	}
	return "claude", []launch.ChainEntry{{CredentialID: "cred_1", Scope: "user", Method: "api_key"}}, nil
}

// acmeApp: installation 7, bound to org_1, holds acme/app; nothing else is installed.
type acmeApp struct{}

func (acmeApp) InstallationFor(_ context.Context, _ sqldb.Querier, orgID, fullName string) (int64, error) {
	if orgID == "org_1" && fullName == "acme/app" {
		return 7, nil
	}
	return 0, nil
}

// script is a Source whose Interpret is a function of the delivery and of
// how often it was interpreted before.
type script struct {
	mu    sync.Mutex
	calls map[string]int
	plan  func(d intake.Delivery, call int) (intake.Plan, error)
}

func (s *script) Name() string { return "test" }

func (s *script) Interpret(_ context.Context, d intake.Delivery) (intake.Plan, error) {
	s.mu.Lock()
	s.calls[d.DeliveryID]++
	n := s.calls[d.DeliveryID]
	s.mu.Unlock()
	return s.plan(d, n)
}

func (s *script) count(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[id]
}

type env struct {
	db     *sqldb.DB
	svc    *intake.Service
	queue  *queue.Queue
	chain  *chain
	src    *script
	events <-chan *river.Event
}

func newEnv(t *testing.T, db *sqldb.DB, plan func(intake.Delivery, int) (intake.Plan, error)) *env {
	t.Helper()
	log := sqldbtest.Logger()
	q, err := queue.New(db, log, queue.Options{PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := credstore.NewKeyring([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{db: db, queue: q, chain: &chain{}, src: &script{calls: map[string]int{}, plan: plan}}
	l := launch.NewService(db, q, e.chain, acmeApp{}, keys, &launch.DryRunLauncher{Dir: t.TempDir()}, "http://gateway.test", log)
	e.svc = intake.NewService(db, q, l, log)
	e.svc.AddSource(e.src)
	events, cancel := q.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled)
	t.Cleanup(cancel)
	e.events = events
	return e
}

func (e *env) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if err := e.queue.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		stop, c := context.WithTimeout(context.Background(), 10*time.Second)
		defer c()
		_ = e.queue.Stop(stop)
	})
}

// waitState waits on job events until the delivery is in state want.
func (e *env) waitState(t *testing.T, id, want string) intake.Record {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		r, err := e.svc.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if r.State == want {
			return r
		}
		select {
		case <-e.events:
		case <-timeout:
			t.Fatalf("delivery %s: state %q (outcome %q, error %q), want %q", id, r.State, r.Outcome, r.Error, want)
		}
	}
}

// due makes backed-off retries runnable now, as River's scheduler does when
// their backoff ends.
func (e *env) due(t *testing.T) {
	t.Helper()
	if _, err := e.db.Exec(context.Background(), `UPDATE river_job SET state = 'available', scheduled_at = $1 WHERE state = 'retryable'`, time.Now().UTC().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
}

func (e *env) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := e.db.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func delivery(id string) intake.Delivery {
	return intake.Delivery{Source: "test", DeliveryID: id, Event: "issue.assigned", Body: []byte(`{"n":1}`)}
}

// launchPlan asks for one workspace keyed by the body (the same comment
// delivered under two delivery ids is one trigger).
func launchPlan(d intake.Delivery, then func(ws *launch.Workspace, err error)) intake.Plan {
	return intake.Plan{
		OrgID: "org_1",
		Trigger: &launch.Trigger{OrgID: "org_1", UserID: "usr_1", TriggerKey: "test:" + string(d.Body),
			Source: launch.Source{Kind: "test"}, Task: launch.Task{Title: "Fix it"}, Repository: launch.Repository{FullName: "acme/app"}},
		Then: func(_ context.Context, _ sqldb.Tx, ws *launch.Workspace, err error) error {
			if then != nil {
				then(ws, err)
			}
			return nil
		},
	}
}

// Twenty copies of one delivery at once: one row, one job, one workspace,
// one Interpret, and the source's follow-up sees the workspace.
func TestConcurrentCopiesProcessOnce(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		var thens atomic.Int32
		var seen atomic.Value
		e := newEnv(t, db, func(d intake.Delivery, _ int) (intake.Plan, error) {
			return launchPlan(d, func(ws *launch.Workspace, err error) {
				thens.Add(1)
				if ws != nil && err == nil {
					seen.Store(ws.ID)
				}
			}), nil
		})
		const copies = 20
		type result struct {
			d   intake.Delivery
			dup bool
			err error
		}
		results := make(chan result, copies)
		var ready sync.WaitGroup
		ready.Add(copies)
		for i := 0; i < copies; i++ {
			go func() {
				ready.Done()
				ready.Wait()
				d, dup, err := e.svc.Record(context.Background(), delivery("d-1"))
				results <- result{d, dup, err}
			}()
		}
		var accepted int
		ids := map[string]bool{}
		for i := 0; i < copies; i++ {
			r := <-results
			if r.err != nil {
				t.Fatalf("record: %v", r.err)
			}
			if !r.dup {
				accepted++
			}
			ids[r.d.ID] = true
		}
		if accepted != 1 || len(ids) != 1 {
			t.Fatalf("accepted %d copies with %d ids, want 1 and 1", accepted, len(ids))
		}
		if n := e.count(t, `SELECT COUNT(*) FROM deliveries`); n != 1 {
			t.Fatalf("%d delivery rows, want 1", n)
		}
		if n := e.count(t, `SELECT COUNT(*) FROM river_job WHERE kind = 'process_delivery'`); n != 1 {
			t.Fatalf("%d process jobs, want 1", n)
		}
		var id string
		for k := range ids {
			id = k
		}
		e.start(t)
		r := e.waitState(t, id, "processed")
		if r.Outcome != intake.OutcomeLaunched || r.WorkspaceID == "" || r.OrgID != "org_1" || r.Attempts != 1 || r.Error != "" {
			t.Fatalf("record = %+v", r)
		}
		if n := e.count(t, `SELECT COUNT(*) FROM workspaces`); n != 1 {
			t.Fatalf("%d workspaces, want 1", n)
		}
		if n := e.count(t, `SELECT COUNT(*) FROM workspaces WHERE id = $1 AND delivery_id = $2`, r.WorkspaceID, id); n != 1 {
			t.Fatalf("workspace %s does not name delivery %s", r.WorkspaceID, id)
		}
		if n := e.count(t, `SELECT COUNT(*) FROM river_job WHERE kind = 'process_delivery' AND state = 'completed'`); n != 1 {
			t.Fatalf("%d completed process jobs, want 1", n)
		}
		if thens.Load() != 1 || seen.Load() != r.WorkspaceID {
			t.Fatalf("Then ran %d times with workspace %v, want once with %s", thens.Load(), seen.Load(), r.WorkspaceID)
		}
		if got := e.src.count("d-1"); got != 1 {
			t.Fatalf("interpreted %d times, want 1", got)
		}

		// The same trigger under another delivery id launches nothing new.
		other, dup, err := e.svc.Record(context.Background(), delivery("d-2"))
		if err != nil || dup {
			t.Fatalf("second delivery: dup=%v err=%v", dup, err)
		}
		if r := e.waitState(t, other.ID, "processed"); r.Outcome != intake.OutcomeDuplicate || r.WorkspaceID != "" {
			t.Fatalf("second delivery = %+v", r)
		}
		if n := e.count(t, `SELECT COUNT(*) FROM workspaces`); n != 1 {
			t.Fatalf("%d workspaces after the second delivery, want 1", n)
		}
		list, err := e.svc.List(context.Background(), "org_1", 0)
		if err != nil || len(list) != 2 || list[0].ID != other.ID || list[1].ID != id || list[1].State != "processed" {
			t.Fatalf("list (newest first) = %+v, %v", list, err)
		}
	})
}

// Outcomes of deliveries that launch nothing, and of deliveries that cannot
// be processed.
func TestOutcomes(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		plans := map[string]func(intake.Delivery) (intake.Plan, error){
			"ignored": func(intake.Delivery) (intake.Plan, error) {
				return intake.Plan{OrgID: "org_1", Outcome: "ignored: not a mention"}, nil
			},
			"permanent": func(intake.Delivery) (intake.Plan, error) {
				return intake.Plan{}, fmt.Errorf("parse body: %w", intake.ErrPermanent)
			},
			"then-permanent": func(d intake.Delivery) (intake.Plan, error) {
				p := launchPlan(d, nil)
				p.Then = func(context.Context, sqldb.Tx, *launch.Workspace, error) error {
					return fmt.Errorf("unknown repository: %w", intake.ErrPermanent)
				}
				return p, nil
			},
		}
		e := newEnv(t, db, func(d intake.Delivery, _ int) (intake.Plan, error) { return plans[d.DeliveryID](d) })
		tests := []struct {
			source, id, outcome, errText string
		}{
			{"test", "ignored", "ignored: not a mention", ""},
			{"test", "permanent", "error: parse body: permanent", "parse body: permanent"},
			{"test", "then-permanent", "error: source follow-up: unknown repository: permanent", "source follow-up: unknown repository: permanent"},
			{"elsewhere", "no-source", intake.OutcomeNoSource, ""},
		}
		ids := map[string]string{}
		for _, tt := range tests {
			d := delivery(tt.id)
			d.Source = tt.source
			stored, dup, err := e.svc.Record(context.Background(), d)
			if err != nil || dup {
				t.Fatalf("record %s: dup=%v err=%v", tt.id, dup, err)
			}
			ids[tt.id] = stored.ID
		}
		e.start(t)
		for _, tt := range tests {
			r := e.waitState(t, ids[tt.id], "processed")
			if r.Outcome != tt.outcome || r.Error != tt.errText || r.Attempts != 1 || r.WorkspaceID != "" {
				t.Errorf("%s: outcome %q error %q attempts %d workspace %q, want %q %q 1 none", tt.id, r.Outcome, r.Error, r.Attempts, r.WorkspaceID, tt.outcome, tt.errText)
			}
		}
		if got := e.src.count("permanent"); got != 1 {
			t.Errorf("a permanent error was interpreted %d times, want 1", got)
		}
		if n := e.count(t, `SELECT COUNT(*) FROM workspaces`); n != 0 {
			t.Errorf("%d workspaces, want 0 (the failed follow-up rolls its launch back)", n)
		}
	})
}

// A failing Interpret retries with backoff (state retrying, the error shown)
// and succeeds later; one that keeps failing ends dead.
func TestRetryAndDead(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, func(d intake.Delivery, call int) (intake.Plan, error) {
			if d.DeliveryID == "flaky" && call >= 3 {
				return launchPlan(d, nil), nil
			}
			return intake.Plan{}, fmt.Errorf("linear API: 502 bad gateway (call %d)", call)
		})
		flaky, _, err := e.svc.Record(context.Background(), delivery("flaky"))
		if err != nil {
			t.Fatal(err)
		}
		broken, _, err := e.svc.Record(context.Background(), delivery("broken"))
		if err != nil {
			t.Fatal(err)
		}
		e.start(t)
		r := e.waitState(t, flaky.ID, "retrying")
		if r.Error == "" || r.Outcome != "" || r.ProcessedAt != nil {
			t.Fatalf("retrying record = %+v", r)
		}
		for i := 0; r.State != "processed" && i < 10; i++ {
			e.due(t)
			r, _ = e.svc.Get(context.Background(), flaky.ID)
			if r.State != "processed" {
				select {
				case <-e.events:
				case <-time.After(5 * time.Second):
				}
			}
		}
		r = e.waitState(t, flaky.ID, "processed")
		if r.Outcome != intake.OutcomeLaunched || r.Attempts != 3 {
			t.Fatalf("flaky: outcome %q after %d attempts, want launched after 3", r.Outcome, r.Attempts)
		}

		// The broken one (retried along with the flaky one so far): allow it one
		// more attempt only, then it is dead.
		e.waitState(t, broken.ID, "retrying")
		if _, err := db.Exec(context.Background(), `UPDATE river_job SET max_attempts = attempt + 1 WHERE kind = 'process_delivery' AND state = 'retryable'`); err != nil {
			t.Fatal(err)
		}
		e.due(t)
		r = e.waitState(t, broken.ID, "dead")
		if r.ProcessedAt != nil || r.Outcome != "" || r.Error == "" || r.Attempts < 2 {
			t.Fatalf("dead record = %+v", r)
		}
	})
}

// Replay reprocesses the stored body: a delivery that launched nothing (no
// credentials then) launches now, and a second replay launches nothing more.
func TestReplay(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		var launchErrs []error
		var mu sync.Mutex
		e := newEnv(t, db, func(d intake.Delivery, _ int) (intake.Plan, error) {
			return launchPlan(d, func(_ *launch.Workspace, err error) {
				mu.Lock()
				launchErrs = append(launchErrs, err)
				mu.Unlock()
			}), nil
		})
		e.chain.empty.Store(true)
		stored, _, err := e.svc.Record(context.Background(), delivery("d-1"))
		if err != nil {
			t.Fatal(err)
		}
		e.start(t)
		r := e.waitState(t, stored.ID, "processed")
		if r.Outcome != intake.OutcomeNoCredentials || r.WorkspaceID != "" {
			t.Fatalf("first pass = %+v", r)
		}

		e.chain.empty.Store(false)
		if err := e.svc.Replay(context.Background(), "org_1", stored.ID); err != nil {
			t.Fatal(err)
		}
		r = e.waitState(t, stored.ID, "processed")
		if r.Outcome != intake.OutcomeLaunched || r.WorkspaceID == "" {
			t.Fatalf("replay = %+v", r)
		}
		ws := r.WorkspaceID

		if err := e.svc.Replay(context.Background(), "org_1", stored.ID); err != nil {
			t.Fatal(err)
		}
		r = e.waitState(t, stored.ID, "processed")
		if r.Outcome != intake.OutcomeDuplicate || r.WorkspaceID != ws {
			t.Fatalf("second replay = %+v, want duplicate keeping workspace %s", r, ws)
		}
		if n := e.count(t, `SELECT COUNT(*) FROM workspaces`); n != 1 {
			t.Fatalf("%d workspaces, want 1", n)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(launchErrs) != 3 || !errors.Is(launchErrs[0], launch.ErrNoCredentials) || launchErrs[1] != nil || !errors.Is(launchErrs[2], launch.ErrDuplicate) {
			t.Fatalf("Then saw launch errors %v, want [no credentials, nil, duplicate]", launchErrs)
		}
		if err := e.svc.Replay(context.Background(), "org_1", "dlv_missing"); !errors.Is(err, errs.ErrNotFound) {
			t.Fatalf("replay of a missing delivery: %v", err)
		}
		before, err := e.svc.Get(context.Background(), stored.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Replay(context.Background(), "org_2", stored.ID); !errors.Is(err, errs.ErrNotFound) {
			t.Fatalf("replay by another org: %v", err)
		}
		if after, _ := e.svc.Get(context.Background(), stored.ID); after.Outcome != before.Outcome || after.ProcessedAt == nil {
			t.Fatalf("another org's replay changed the delivery: %+v", after)
		}
	})
}

// Record refuses nameless deliveries, and a database that is gone makes it
// fail with the unavailable kind (503 with Retry-After at the HTTP layer).
func TestRecordErrors(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		e := newEnv(t, db, nil)
		if _, _, err := e.svc.Record(context.Background(), intake.Delivery{Source: "test"}); !errors.Is(err, errs.ErrInvalid) {
			t.Fatalf("no delivery id: %v, want invalid", err)
		}
		db.Close()
		_, _, err := e.svc.Record(context.Background(), delivery("d-1"))
		if !errors.Is(err, errs.ErrUnavailable) {
			t.Fatalf("closed database: %v, want unavailable", err)
		}
	})
}

// Bodies past the retention are emptied in batches; the rows keep their
// outcome and idempotency key, a replay of one is refused (409) and leaves
// its outcome, and newer deliveries keep their body.
func TestBodyRetention(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		e := newEnv(t, db, func(d intake.Delivery, _ int) (intake.Plan, error) {
			return intake.Plan{OrgID: "org_1", Outcome: "ignored: " + d.DeliveryID}, nil
		})
		now := time.Now().UTC()
		const keep = 30 * 24 * time.Hour
		ids := map[string]string{}
		for name, age := range map[string]time.Duration{"old": keep + time.Hour, "new": keep - time.Hour} {
			d := delivery(name)
			d.ReceivedAt = now.Add(-age)
			stored, _, err := e.svc.Record(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			ids[name] = stored.ID
		}
		e.start(t)
		e.waitState(t, ids["old"], "processed")
		e.waitState(t, ids["new"], "processed")
		// Many more old ones than one batch empties, as on a first purge.
		const bulk = 1100
		err := db.InTx(ctx, func(tx sqldb.Tx) error {
			for i := 0; i < bulk; i++ {
				if _, err := tx.Exec(ctx, `INSERT INTO deliveries (id, source, delivery_id, event, body, received_at, outcome, processed_at)
					VALUES ($1, 'test', $2, 'issue.assigned', $3, $4, 'ignored: bulk', $4)`,
					sqldb.NewID("dlv"), fmt.Sprintf("bulk-%d", i), []byte(`{"n":2}`), now.Add(-keep-time.Duration(i+1)*time.Minute)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		n, err := intake.BodyRetention(keep).Purge(ctx, db, now)
		if err != nil || n != bulk+1 {
			t.Fatalf("purge: %d bodies emptied, %v; want %d", n, err, bulk+1)
		}
		if n, err := intake.BodyRetention(keep).Purge(ctx, db, now); err != nil || n != 0 {
			t.Fatalf("second purge: %d, %v; want 0", n, err)
		}
		if left := e.count(t, `SELECT COUNT(*) FROM deliveries WHERE length(body) > 0`); left != 1 {
			t.Fatalf("%d deliveries keep a body, want 1 (the new one)", left)
		}
		if rows := e.count(t, `SELECT COUNT(*) FROM deliveries`); rows != bulk+2 {
			t.Fatalf("%d rows, want %d (rows stay)", rows, bulk+2)
		}

		old, err := e.svc.Get(ctx, ids["old"])
		if err != nil || old.Outcome != "ignored: old" || old.State != "processed" {
			t.Fatalf("old delivery after the purge = %+v, %v", old, err)
		}
		if err := e.svc.Replay(ctx, "org_1", ids["old"]); !errors.Is(err, intake.ErrBodyDropped) || !errors.Is(err, errs.ErrConflict) {
			t.Fatalf("replay of an emptied delivery: %v, want body_dropped (conflict)", err)
		}
		if again, _ := e.svc.Get(ctx, ids["old"]); again.Outcome != "ignored: old" || again.ProcessedAt == nil {
			t.Fatalf("a refused replay changed the delivery: %+v", again)
		}
		// Its id still answers a sender's retry as a duplicate.
		d := delivery("old")
		if _, dup, err := e.svc.Record(ctx, d); err != nil || !dup {
			t.Fatalf("the old delivery again: dup=%v err=%v, want a duplicate", dup, err)
		}
		if err := e.svc.Replay(ctx, "org_1", ids["new"]); err != nil {
			t.Fatalf("replay of a delivery within the retention: %v", err)
		}
		e.waitState(t, ids["new"], "processed")
	})
}

// A trigger whose repository belongs to no installation bound to the org
// launches nothing: the delivery is processed at once (no retry) with the
// outcome repository_not_installed, and the source hears why.
func TestRepositoryNotInstalledIsRecorded(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		seen := make(chan error, 1)
		e := newEnv(t, db, func(d intake.Delivery, _ int) (intake.Plan, error) {
			plan := launchPlan(d, func(_ *launch.Workspace, err error) { seen <- err })
			plan.Trigger.Repository.FullName = "otherco/private"
			return plan, nil
		})
		stored, _, err := e.svc.Record(context.Background(), delivery("d-foreign"))
		if err != nil {
			t.Fatal(err)
		}
		e.start(t)
		r := e.waitState(t, stored.ID, "processed")
		if r.Outcome != intake.OutcomeRepositoryNotInstalled || r.WorkspaceID != "" || r.OrgID != "org_1" || r.Attempts != 1 {
			t.Fatalf("record = %+v", r)
		}
		if err := <-seen; !errors.Is(err, launch.ErrRepositoryNotInstalled) {
			t.Fatalf("Then saw %v, want repository_not_installed", err)
		}
		if n := e.count(t, `SELECT COUNT(*) FROM workspaces`); n != 0 {
			t.Fatalf("%d workspaces, want 0", n)
		}
	})
}
