package launch_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/tryreplicas/gateway/credstore"
	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/queue"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// openToken reads the sealed workspace token the way the launch job does.
func openToken(t *testing.T, h *harness, id string) string {
	t.Helper()
	var keyID string
	var ct []byte
	if err := h.db.QueryRow(context.Background(), `SELECT token_key_id, token_sealed FROM workspaces WHERE id = $1`, id).Scan(&keyID, &ct); err != nil {
		t.Fatalf("read sealed token: %v", err)
	}
	pt, err := h.keys.Open(keyID, ct, []byte(id))
	if err != nil {
		t.Fatalf("open sealed token: %v", err)
	}
	return string(pt)
}

func TestLifecycleTable(t *testing.T) {
	t.Parallel()
	all := []launch.Status{launch.StatusQueued, launch.StatusLaunching, launch.StatusLaunched, launch.StatusRunning,
		launch.StatusHibernated, launch.StatusFinished, launch.StatusFailed, launch.StatusCancelled, launch.StatusStopping}
	allowed := map[launch.Status][]launch.Status{
		launch.StatusQueued:     {launch.StatusLaunching, launch.StatusLaunched, launch.StatusFailed, launch.StatusCancelled, launch.StatusStopping},
		launch.StatusLaunching:  {launch.StatusLaunching, launch.StatusLaunched, launch.StatusFailed, launch.StatusCancelled, launch.StatusStopping},
		launch.StatusLaunched:   {launch.StatusRunning, launch.StatusHibernated, launch.StatusFinished, launch.StatusFailed, launch.StatusCancelled, launch.StatusStopping},
		launch.StatusRunning:    {launch.StatusRunning, launch.StatusHibernated, launch.StatusFinished, launch.StatusFailed, launch.StatusCancelled, launch.StatusStopping},
		launch.StatusHibernated: {launch.StatusRunning, launch.StatusHibernated, launch.StatusFinished, launch.StatusFailed, launch.StatusCancelled, launch.StatusStopping},
		launch.StatusFinished:   nil,
		launch.StatusFailed:     nil,
		launch.StatusCancelled:  nil,
		launch.StatusStopping:   {launch.StatusStopping, launch.StatusFinished, launch.StatusFailed, launch.StatusCancelled},
	}
	for _, from := range all {
		for _, to := range all {
			want := false
			for _, ok := range allowed[from] {
				want = want || ok == to
			}
			if got := launch.CanMove(from, to); got != want {
				t.Errorf("CanMove(%s, %s) = %v, want %v", from, to, got, want)
			}
		}
		if want := from == launch.StatusFinished || from == launch.StatusFailed || from == launch.StatusCancelled; from.Terminal() != want {
			t.Errorf("%s.Terminal() = %v", from, !want)
		}
	}
}

// TestStoreConformance runs the workspace store on both databases: reads,
// org and user filters, trigger keys, chains, tokens and key rotation.
func TestStoreConformance(t *testing.T) {
	t.Parallel()
	for _, d := range sqldbtest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, s, _, h := setup(t, d, &launch.DryRunLauncher{Dir: t.TempDir()})
			st := s.Store()

			mk := func(org, user, key string) launch.Workspace {
				tr := trigger(key)
				tr.OrgID, tr.UserID, tr.DeliveryID = org, user, "dlv_"+key
				w, err := create(t, db, s, tr)
				if err != nil {
					t.Fatalf("create %s/%s: %v", org, user, err)
				}
				return w
			}
			a1 := mk("org_a", "usr_1", "a1")
			a2 := mk("org_a", "usr_2", "a2")
			a3 := mk("org_a", "usr_1", "")
			b1 := mk("org_b", "usr_1", "b1")

			got, err := st.Get(ctx, db, a1.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != launch.StatusQueued || got.OrgID != "org_a" || got.Source.Kind != "test" || got.Task.Title != "Fix it" ||
				got.Repository.FullName != "acme/app" || got.DeliveryID != "dlv_a1" || got.TriggerKey != "a1" || len(got.Chain) != 1 ||
				got.Chain[0].CredentialID != "cred_1" || got.CreatedAt.IsZero() {
				t.Fatalf("get = %+v", got)
			}
			if _, err := st.Get(ctx, db, "ws_missing"); !errors.Is(err, launch.ErrNotFound) || !errors.Is(err, errs.ErrNotFound) {
				t.Fatalf("missing workspace: %v", err)
			}
			if w, err := st.ByTriggerKey(ctx, db, "b1"); err != nil || w.ID != b1.ID {
				t.Fatalf("by trigger key = %+v, %v", w, err)
			}

			lists := []struct {
				org, user string
				want      []string
			}{
				{"org_a", "", []string{a3.ID, a2.ID, a1.ID}},
				{"org_a", "usr_1", []string{a3.ID, a1.ID}},
				{"org_a", "usr_2", []string{a2.ID}},
				{"org_b", "", []string{b1.ID}},
				{"org_c", "", nil},
			}
			for _, l := range lists {
				ws, err := st.List(ctx, db, l.org, l.user, 0)
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, w := range ws {
					ids = append(ids, w.ID)
				}
				if fmt.Sprint(ids) != fmt.Sprint(l.want) {
					t.Errorf("list %s/%q = %v, want %v (newest first)", l.org, l.user, ids, l.want)
				}
			}

			err = db.InTx(ctx, func(tx sqldb.Tx) error {
				return s.SetChainTx(ctx, tx, a1.ID, "codex", []launch.ChainEntry{{CredentialID: "cred_9", Scope: "org", Method: "oauth"}})
			})
			if err != nil {
				t.Fatal(err)
			}
			if w, _ := st.Get(ctx, db, a1.ID); w.Agent != "codex" || len(w.Chain) != 1 || w.Chain[0].CredentialID != "cred_9" {
				t.Fatalf("after SetChainTx = %+v", w)
			}
			if err := db.InTx(ctx, func(tx sqldb.Tx) error { return s.SetChainTx(ctx, tx, "ws_missing", "codex", nil) }); !errors.Is(err, launch.ErrNotFound) {
				t.Fatalf("SetChainTx on a missing workspace: %v", err)
			}

			// The token authenticates its own workspace only, until it ends.
			tok := openToken(t, h, a2.ID)
			if w, err := s.Authenticate(ctx, tok); err != nil || w.ID != a2.ID {
				t.Fatalf("authenticate = %+v, %v", w, err)
			}
			for _, bad := range []string{"", "rpw_nope", openToken(t, h, a1.ID) + "x"} {
				if _, err := s.Authenticate(ctx, bad); !errors.Is(err, errs.ErrUnauthorized) {
					t.Errorf("authenticate %q: %v", bad, err)
				}
			}

			// A workspace reporting before its launch was recorded passes
			// through launched, and its source hears both.
			if w, err := s.Update(ctx, a2.ID, launch.Update{Status: launch.StatusRunning, Summary: "cloning"}); err != nil || w.Status != launch.StatusRunning || w.Summary != "cloning" {
				t.Fatalf("early running = %+v, %v", w, err)
			}
			if a, b := <-h.reports, <-h.reports; a != launch.StatusLaunched || b != launch.StatusRunning {
				t.Fatalf("reports = %s, %s", a, b)
			}
			if w, err := s.Update(ctx, a2.ID, launch.Update{Status: launch.StatusFinished, ResultURL: "https://github.com/acme/app/pull/2"}); err != nil || w.ResultURL == "" || w.Summary != "cloning" {
				t.Fatalf("finish = %+v, %v", w, err)
			}
			if _, err := s.Authenticate(ctx, tok); !errors.Is(err, errs.ErrUnauthorized) {
				t.Fatalf("token of a finished workspace: %v", err)
			}
			if _, err := s.Update(ctx, a2.ID, launch.Update{Status: launch.StatusRunning}); !errors.Is(err, errs.ErrConflict) {
				t.Fatalf("finished -> running: %v", err)
			}

			// Key rotation: every waiting token moves to the new key.
			newKey := []byte("fedcba9876543210fedcba9876543210")
			rotated, err := credstore.NewKeyring(newKey, []byte("0123456789abcdef0123456789abcdef"))
			if err != nil {
				t.Fatal(err)
			}
			s2 := launch.NewService(db, mustQueue(t, db), fixedChain{}, acmeApp, rotated, &launch.DryRunLauncher{Dir: t.TempDir()}, "", sqldbtest.Logger())
			var n int
			err = db.InTx(ctx, func(tx sqldb.Tx) error {
				var err error
				n, err = s2.Reseal(ctx, tx, rotated.CurrentKeyID())
				return err
			})
			if err != nil || n != 3 { // a2 is finished: its sealed token is gone
				t.Fatalf("reseal = %d, %v", n, err)
			}
			onlyNew, err := credstore.NewKeyring(newKey)
			if err != nil {
				t.Fatal(err)
			}
			h.keys = onlyNew
			if tok := openToken(t, h, a1.ID); len(tok) < 10 {
				t.Fatalf("resealed token = %q", tok)
			}
		})
	}
}

// TestDuplicateTriggerConcurrently: many transactions launch the same trigger
// at once; one workspace results, the others get ErrDuplicate, and every
// transaction can go on and commit (intake records the outcome in it).
func TestDuplicateTriggerConcurrently(t *testing.T) {
	t.Parallel()
	for _, d := range sqldbtest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, s, _, _ := setup(t, d, &launch.DryRunLauncher{Dir: t.TempDir()})
			const n = 8
			var wg sync.WaitGroup
			results := make(chan error, n)
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results <- db.InTx(ctx, func(tx sqldb.Tx) error {
						_, err := s.LaunchTx(ctx, tx, trigger("same-comment"))
						if err != nil && !errors.Is(err, launch.ErrDuplicate) {
							return err
						}
						// Like intake: keep using the transaction after the answer.
						var c int
						if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM workspaces`).Scan(&c); err != nil {
							return fmt.Errorf("transaction unusable after LaunchTx: %w", err)
						}
						return nil
					})
				}()
			}
			wg.Wait()
			close(results)
			for err := range results {
				if err != nil {
					t.Error(err)
				}
			}
			var rows, jobs int
			if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM workspaces`).Scan(&rows); err != nil {
				t.Fatal(err)
			}
			if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM river_job WHERE kind = 'launch_workspace'`).Scan(&jobs); err != nil {
				t.Fatal(err)
			}
			if rows != 1 || jobs != 1 {
				t.Fatalf("%d workspaces and %d launch jobs, want 1 and 1", rows, jobs)
			}
		})
	}
}

func mustQueue(t *testing.T, db *sqldb.DB) *queue.Queue {
	t.Helper()
	q, err := queue.New(db, sqldbtest.Logger(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return q
}
