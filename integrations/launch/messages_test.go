package launch_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// requests records every launcher request.
type requests chan launch.Request

func (r requests) Launch(_ context.Context, req launch.Request) (launch.Result, error) {
	r <- req
	return launch.Result{}, nil
}

// next waits for the next launcher request.
func (r requests) next(t *testing.T) launch.Request {
	t.Helper()
	select {
	case req := <-r:
		return req
	case <-time.After(20 * time.Second):
		t.Fatal("no launcher request")
		return launch.Request{}
	}
}

func onThread(key, user, body string) launch.Trigger {
	tr := trigger(key)
	tr.UserID, tr.Thread, tr.Message = user, "github:42#7", body
	tr.Author = launch.Author{Login: "login-" + user}
	tr.Task.Body = body
	return tr
}

// follow commits a trigger the way intake does: a follow-up's error is an
// outcome, and the transaction commits.
func follow(t *testing.T, db *sqldb.DB, s *launch.Service, tr launch.Trigger) (launch.Workspace, error) {
	t.Helper()
	var w launch.Workspace
	var outcome error
	err := db.InTx(context.Background(), func(tx sqldb.Tx) error {
		var err error
		w, err = s.LaunchTx(context.Background(), tx, tr)
		if _, ok := launch.Outcome(err); ok {
			outcome = err
			return nil
		}
		return err
	})
	if err != nil {
		return w, err
	}
	return w, outcome
}

func messages(t *testing.T, s *launch.Service, id string) []launch.Message {
	t.Helper()
	list, err := s.Messages(context.Background(), id, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func kindsAndBodies(list []launch.Message) string {
	var b strings.Builder
	for i, m := range list {
		if m.Seq != int64(i+1) {
			fmt.Fprintf(&b, "[seq %d at %d]", m.Seq, i)
		}
		fmt.Fprintf(&b, "%s:%s|", m.Kind, m.Body)
	}
	return b.String()
}

// TestConversationOnThread: the same person's triggers on a thread are
// messages to their active workspace, another person gets their own, a
// hibernated workspace is woken, a stop stops it, and the next trigger
// starts a workspace that links the stopped one.
func TestConversationOnThread(t *testing.T) {
	t.Parallel()
	for _, d := range sqldbtest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			reqs := make(requests, 20)
			db, s, q, h := setup(t, d, reqs)
			join(t, db, "org_1", "usr_2")
			start(t, q)

			w1, err := follow(t, db, s, onThread("c1", "usr_1", "fix the test"))
			if err != nil || w1.Thread != "github:42#7" {
				t.Fatalf("first mention: %+v, %v", w1, err)
			}
			if r := reqs.next(t); r.Type != launch.RequestLaunch || r.WorkspaceToken == "" {
				t.Fatalf("first request = %+v", r)
			}
			got, err := follow(t, db, s, onThread("c2", "usr_1", "also the lint"))
			if !errors.Is(err, launch.ErrFollowUp) || got.ID != w1.ID {
				t.Fatalf("second mention: %+v, %v", got, err)
			}
			if _, err := follow(t, db, s, onThread("c2", "usr_1", "also the lint")); !errors.Is(err, launch.ErrDuplicate) {
				t.Fatalf("redelivered mention: %v", err)
			}
			list := messages(t, s, w1.ID)
			if k := kindsAndBodies(list); k != "prompt:fix the test|prompt:also the lint|" {
				t.Fatalf("messages = %s", k)
			}
			if a := list[1].Author; a.UserID != "usr_1" || a.Login != "login-usr_1" || a.Email != "usr_1@example.com" {
				t.Fatalf("author = %+v", a)
			}
			w2, err := follow(t, db, s, onThread("c3", "usr_2", "my own"))
			if err != nil || w2.ID == w1.ID {
				t.Fatalf("another person: %+v, %v", w2, err)
			}
			reqs.next(t) // w2's launch

			waitStatus(t, h, w1.ID, launch.StatusLaunched)
			if _, err := s.Update(ctx, w1.ID, launch.Update{Status: launch.StatusHibernated}); err != nil {
				t.Fatal(err)
			}
			if _, err := follow(t, db, s, onThread("c4", "usr_1", "wake up")); !errors.Is(err, launch.ErrFollowUp) {
				t.Fatal(err)
			}
			if r := reqs.next(t); r.Type != launch.RequestWake || r.WorkspaceID != w1.ID || r.Seq != 3 || r.WorkspaceToken != "" {
				t.Fatalf("wake request = %+v", r)
			}
			stop := onThread("c5", "usr_1", "@tryreplicas stop")
			stop.Stop = true
			got, err = follow(t, db, s, stop)
			if !errors.Is(err, launch.ErrStopping) || got.Status != launch.StatusStopping {
				t.Fatalf("stop: %+v, %v", got, err)
			}
			if r := reqs.next(t); r.Type != launch.RequestStop || r.WorkspaceID != w1.ID || r.Seq != 4 {
				t.Fatalf("stop request = %+v", r)
			}
			waitStatus(t, h, w1.ID, launch.StatusCancelled)
			if k := kindsAndBodies(messages(t, s, w1.ID)); !strings.HasSuffix(k, "prompt:wake up|stop:@tryreplicas stop|") {
				t.Fatalf("messages after stop = %s", k)
			}
			// The page reads the newest, oldest first, of one workspace only.
			if last, err := s.LatestMessages(ctx, w1.ID, 2); err != nil || kindsAndBodies(last) != "[seq 3 at 0]prompt:wake up|[seq 4 at 1]stop:@tryreplicas stop|" {
				t.Fatalf("latest two = %s, %v", kindsAndBodies(last), err)
			}
			if all, _ := s.LatestMessages(ctx, w1.ID, 10); len(all) != 4 || all[0].Seq != 1 || all[0].Body != "fix the test" {
				t.Fatalf("latest ten = %s", kindsAndBodies(all))
			}
			if none, err := s.LatestMessages(ctx, "ws_none", 10); err != nil || none == nil || len(none) != 0 {
				t.Fatalf("unknown workspace = %v, %v", none, err)
			}
			if _, err := follow(t, db, s, stop); !errors.Is(err, launch.ErrDuplicate) {
				t.Fatalf("stop redelivered: %v", err)
			}
			stop.TriggerKey = "c6"
			if _, err := follow(t, db, s, stop); !errors.Is(err, launch.ErrNothingToStop) {
				t.Fatalf("stop with nothing running: %v", err)
			}

			w3, err := follow(t, db, s, onThread("c7", "usr_1", "start over"))
			if err != nil || w3.PreviousWorkspaceID != w1.ID {
				t.Fatalf("after the stop: %+v, %v", w3, err)
			}
			first := messages(t, s, w3.ID)
			if len(first) != 1 || !strings.Contains(first[0].Body, "start over") || !strings.Contains(first[0].Body, "http://gateway.test/workspaces/"+w1.ID) {
				t.Fatalf("first message of the next workspace = %+v", first)
			}
		})
	}
}

// TestConcurrentMentionsOneWorkspace: mentions of one person on one thread
// at once make one workspace whose messages are numbered without gaps.
func TestConcurrentMentionsOneWorkspace(t *testing.T) {
	t.Parallel()
	for _, d := range sqldbtest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, s, _, _ := setup(t, d, &launch.DryRunLauncher{Dir: t.TempDir()})
			const n = 8
			var wg sync.WaitGroup
			errc := make(chan error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errc <- db.InTx(ctx, func(tx sqldb.Tx) error {
						_, err := s.LaunchTx(ctx, tx, onThread(fmt.Sprintf("m%d", i), "usr_1", fmt.Sprintf("mention %d", i)))
						if err != nil && !errors.Is(err, launch.ErrFollowUp) {
							return err
						}
						return nil
					})
				}()
			}
			wg.Wait()
			close(errc)
			for err := range errc {
				if err != nil {
					t.Fatal(err)
				}
			}
			var ws, msgs, maxSeq int
			if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM workspaces`).Scan(&ws); err != nil {
				t.Fatal(err)
			}
			if err := db.QueryRow(ctx, `SELECT COUNT(*), MAX(seq) FROM workspace_messages`).Scan(&msgs, &maxSeq); err != nil {
				t.Fatal(err)
			}
			if ws != 1 || msgs != n || maxSeq != n {
				t.Fatalf("%d workspaces, %d messages up to %d; want 1, %d, %d", ws, msgs, maxSeq, n, n)
			}
		})
	}
}

// TestLongPoll: a wait ends with the message written meanwhile, or empty at
// its end; bad cursors and waits are refused; only the owner sends.
func TestLongPoll(t *testing.T) {
	t.Parallel()
	for _, d := range sqldbtest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, s, _, _ := setup(t, d, &launch.DryRunLauncher{Dir: t.TempDir()})
			t.Cleanup(s.Close)
			w, err := follow(t, db, s, onThread("p1", "usr_1", "task"))
			if err != nil {
				t.Fatal(err)
			}
			for _, bad := range []struct {
				after int64
				wait  time.Duration
			}{{-1, 0}, {0, 61 * time.Second}, {0, -time.Second}} {
				if _, err := s.Messages(ctx, w.ID, bad.after, bad.wait); !errors.Is(err, errs.ErrInvalid) {
					t.Errorf("after %d wait %s: %v", bad.after, bad.wait, err)
				}
			}
			began := time.Now()
			if list, err := s.Messages(ctx, w.ID, 1, 300*time.Millisecond); err != nil || len(list) != 0 || time.Since(began) < 300*time.Millisecond {
				t.Fatalf("empty wait = %v, %v after %s", list, err, time.Since(began))
			}
			type answer struct {
				list []launch.Message
				err  error
				at   time.Time
			}
			got := make(chan answer, 1)
			go func() {
				list, err := s.Messages(ctx, w.ID, 1, 30*time.Second)
				got <- answer{list, err, time.Now()}
			}()
			time.Sleep(100 * time.Millisecond) // let the poll start waiting; it must work either way
			if _, err := s.Send(ctx, w.ID, launch.Actor{OrgID: "org_1", UserID: "usr_2"}, "not mine"); !errors.Is(err, launch.ErrNotFound) {
				t.Fatalf("someone else's message: %v", err)
			}
			if _, err := s.Send(ctx, w.ID, launch.Actor{OrgID: "org_1", UserID: "usr_1"}, strings.Repeat("x", launch.MaxMessageBody+1)); !errors.Is(err, errs.ErrInvalid) {
				t.Fatalf("an oversized message: %v", err)
			}
			sent := time.Now()
			m, err := s.Send(ctx, w.ID, launch.Actor{OrgID: "org_1", UserID: "usr_1"}, "more")
			if err != nil || m.Seq != 2 {
				t.Fatalf("send = %+v, %v", m, err)
			}
			a := <-got
			if a.err != nil || len(a.list) != 1 || a.list[0].Body != "more" {
				t.Fatalf("long poll = %+v", a)
			}
			if lag := a.at.Sub(sent); lag > time.Second {
				t.Fatalf("long poll woke %s after the message", lag)
			}
		})
	}
}

// TestCrossReplicaWake: two services on two connection pools of one
// PostgreSQL database, like two replicas: a message written through one
// wakes a long poll held by the other within a second, also after the
// listener's connection was killed.
func TestCrossReplicaWake(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbA, a, _, hA := setup(t, sqldb.Postgres, &launch.DryRunLauncher{Dir: t.TempDir()})
	var schema string
	if err := dbA.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	dbB, err := sqldb.OpenPostgres(ctx, sqldbtest.URL(t), schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dbB.Close)
	b := launch.NewService(dbB, mustQueue(t, dbB), fixedChain{}, acmeApp, hA.keys, &launch.DryRunLauncher{Dir: t.TempDir()}, "http://gateway.test", sqldbtest.Logger())
	t.Cleanup(b.Close)
	w, err := follow(t, dbA, a, onThread("x1", "usr_1", "task"))
	if err != nil {
		t.Fatal(err)
	}
	for round, kill := range []bool{false, true} {
		after := int64(round + 1)
		if kill { // the listener's connection dies; it reconnects and catches up
			var killed int
			if err := dbA.QueryRow(ctx, `SELECT COUNT(pg_terminate_backend(pid)) FROM (SELECT pid FROM pg_stat_activity
				WHERE query = 'LISTEN replicas_workspace_messages' AND pid <> pg_backend_pid() OFFSET 0) listeners`).Scan(&killed); err != nil || killed == 0 {
				t.Fatalf("killed %d listeners: %v", killed, err)
			}
		}
		got := make(chan time.Time, 1)
		go func() {
			list, err := b.Messages(ctx, w.ID, after, 30*time.Second)
			if err != nil || len(list) != 1 {
				t.Errorf("round %d: long poll = %v, %v", round, list, err)
			}
			got <- time.Now()
		}()
		time.Sleep(200 * time.Millisecond) // let the poll start waiting; it must work either way
		sent := time.Now()
		if _, err := a.Send(ctx, w.ID, launch.Actor{OrgID: "org_1", UserID: "usr_1"}, fmt.Sprintf("round %d", round)); err != nil {
			t.Fatal(err)
		}
		lag := (<-got).Sub(sent)
		t.Logf("round %d (listener killed: %v): delivered to the other pool after %s", round, kill, lag)
		if lag > time.Second {
			t.Fatalf("round %d: delivery took %s", round, lag)
		}
	}
}
