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
	"github.com/tryreplicas/gateway/gateway/queue"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/integrations/intake"
	"github.com/tryreplicas/gateway/integrations/launch"
)

type oneKey struct{}

func (oneKey) ResolveChain(_ context.Context, _ sqldb.Querier, _, userID, _ string) (string, []launch.ChainEntry, error) {
	if userID == "usr_nocreds" {
		return "", nil, credstore.ErrNoCredentials
	}
	return "claude", []launch.ChainEntry{{CredentialID: "cred_1", Scope: "org", Method: "api_key"}}, nil
}

// fakeSource turns the body into a plan: "launch:<user>", "ignore", "bad",
// "flaky" (fails once).
type fakeSource struct {
	thens atomic.Int32
	flaky atomic.Int32
}

func (f *fakeSource) Name() string { return "fake" }

func (f *fakeSource) Interpret(_ context.Context, d intake.Delivery) (intake.Plan, error) {
	then := func(context.Context, sqldb.Tx, *launch.Workspace, error) error { f.thens.Add(1); return nil }
	switch body := string(d.Body); {
	case body == "ignore":
		return intake.Plan{OrgID: "org_1", Outcome: "ignored: not a mention", Then: then}, nil
	case body == "bad":
		return intake.Plan{}, fmt.Errorf("unreadable: %w", intake.ErrPermanent)
	case body == "flaky" && f.flaky.Add(1) == 1:
		return intake.Plan{}, errors.New("source API timed out")
	default:
		user := "usr_1"
		if body == "nocreds" {
			user = "usr_nocreds"
		}
		return intake.Plan{OrgID: "org_1", Then: then, Trigger: &launch.Trigger{OrgID: "org_1", UserID: user, TriggerKey: "fake:" + body,
			Source: launch.Source{Kind: "fake"}, Task: launch.Task{Title: body}, Repository: launch.Repository{FullName: "acme/app"}}}, nil
	}
}

type harness struct {
	db     *sqldb.DB
	svc    *intake.Service
	src    *fakeSource
	events <-chan *river.Event
}

func setup(t *testing.T, d sqldb.Dialect) *harness {
	t.Helper()
	db := sqldbtest.New(t, d, launch.Migrations, intake.Migrations)
	q, err := queue.New(db, sqldbtest.Logger(), queue.Options{PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := credstore.NewKeyring([]byte("0123456789abcdef0123456789abcdef"))
	l := launch.NewService(db, q, oneKey{}, keys, &launch.DryRunLauncher{Dir: t.TempDir()}, "http://gw", sqldbtest.Logger())
	h := &harness{db: db, svc: intake.NewService(db, q, l, sqldbtest.Logger()), src: &fakeSource{}}
	h.svc.AddSource(h.src)
	events, cancel := q.Subscribe(river.EventKindJobCompleted, river.EventKindJobCancelled, river.EventKindJobFailed)
	t.Cleanup(cancel)
	h.events = events
	ctx, stop := context.WithCancel(context.Background())
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop()
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = q.Stop(c)
	})
	return h
}

func (h *harness) record(t *testing.T, id, body string) intake.Delivery {
	t.Helper()
	d, _, err := h.svc.Record(context.Background(), intake.Delivery{Source: "fake", DeliveryID: id, Event: "test", Body: []byte(body)})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// wait waits on job events until the delivery is processed (or dead).
func (h *harness) wait(t *testing.T, id string, state string) intake.Record {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		r, err := h.svc.Get(context.Background(), id)
		if err == nil && r.State == state {
			return r
		}
		select {
		case <-h.events:
		case <-time.After(100 * time.Millisecond): // backed-off retries: make them due
			_, _ = h.db.Exec(context.Background(), `UPDATE river_job SET scheduled_at = $1 WHERE state = 'retryable'`, time.Now().UTC().Add(-time.Second))
		case <-timeout:
			t.Fatalf("delivery %s never reached %s (last: %+v)", id, state, r)
		}
	}
}

func (h *harness) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := h.db.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestConcurrentCopiesProcessOnce(t *testing.T) {
	t.Parallel()
	for _, d := range sqldbtest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h := setup(t, d)
			var wg sync.WaitGroup
			var dups atomic.Int32
			ids := make(chan string, 20)
			for i := 0; i < 20; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					d, dup, err := h.svc.Record(context.Background(), intake.Delivery{Source: "fake", DeliveryID: "same-delivery", Event: "test", Body: []byte("pr-1")})
					if err != nil {
						t.Error(err)
						return
					}
					if dup {
						dups.Add(1)
					}
					ids <- d.ID
				}()
			}
			wg.Wait()
			close(ids)
			first := <-ids
			for id := range ids {
				if id != first {
					t.Fatalf("copies got different ids %s and %s", id, first)
				}
			}
			if dups.Load() != 19 {
				t.Fatalf("%d duplicates, want 19", dups.Load())
			}
			r := h.wait(t, first, "processed")
			if r.Outcome != "launched" || r.WorkspaceID == "" {
				t.Fatalf("record = %+v", r)
			}
			// The same trigger under another delivery id launches nothing new.
			other := h.record(t, "second-delivery", "pr-1")
			if r := h.wait(t, other.ID, "processed"); r.Outcome != "duplicate: already launched" {
				t.Fatalf("second delivery = %+v", r)
			}
			if n := h.count(t, `SELECT COUNT(*) FROM deliveries`); n != 2 {
				t.Fatalf("%d delivery rows", n)
			}
			if n := h.count(t, `SELECT COUNT(*) FROM workspaces`); n != 1 {
				t.Fatalf("%d workspaces, want 1", n)
			}
		})
	}
}

func TestOutcomes(t *testing.T) {
	t.Parallel()
	h := setup(t, sqldb.SQLite)
	cases := []struct{ body, state, outcome string }{
		{"ignore", "processed", "ignored: not a mention"},
		{"bad", "processed", "error: unreadable: permanent"},
		{"nocreds", "processed", "no_credentials"},
		{"flaky", "processed", "launched"},
	}
	for i, tc := range cases {
		d := h.record(t, fmt.Sprint("d", i), tc.body)
		r := h.wait(t, d.ID, tc.state)
		if r.Outcome != tc.outcome {
			t.Errorf("%s: outcome %q, want %q", tc.body, r.Outcome, tc.outcome)
		}
	}
	if h.src.thens.Load() != 3 { // ignore, nocreds, flaky
		t.Errorf("Then ran %d times, want 3", h.src.thens.Load())
	}
	list, err := h.svc.List(context.Background(), "org_1", 10)
	if err != nil || len(list) != 3 {
		t.Fatalf("org list = %d, %v", len(list), err)
	}
}

func TestReplay(t *testing.T) {
	t.Parallel()
	h := setup(t, sqldb.SQLite)
	d := h.record(t, "r1", "ignore")
	h.wait(t, d.ID, "processed")
	if err := h.svc.Replay(context.Background(), d.ID); err != nil {
		t.Fatal(err)
	}
	h.wait(t, d.ID, "processed")
	if h.src.thens.Load() != 2 {
		t.Fatalf("replay did not reprocess: %d", h.src.thens.Load())
	}
	if err := h.svc.Replay(context.Background(), "dlv_missing"); err == nil {
		t.Fatal("replay of a missing delivery succeeded")
	}
}

func TestDatabaseDownIsUnavailable(t *testing.T) {
	t.Parallel()
	h := setup(t, sqldb.SQLite)
	h.db.Close()
	_, _, err := h.svc.Record(context.Background(), intake.Delivery{Source: "fake", DeliveryID: "x", Event: "e", Body: []byte("ignore")})
	if err == nil || !sqldb.IsUnavailable(err) {
		t.Fatalf("record on a closed database: %v (unavailable: %v)", err, sqldb.IsUnavailable(err))
	}
}
