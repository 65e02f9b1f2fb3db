package activity

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/integrations/launch"
)

func TestValidate(t *testing.T) {
	long := strings.Repeat("x", MaxBody+1)
	cases := []struct {
		name string
		a    Activity
		ok   bool
	}{
		{"thought", Activity{Type: Thought, Body: "reading the code"}, true},
		{"ephemeral thought", Activity{Type: Thought, Body: "…", Ephemeral: true}, true},
		{"action", Activity{Type: Action, Action: "Edit", Parameter: "cart.go"}, true},
		{"action with result", Activity{Type: Action, Action: "Run", Parameter: "go test", Result: "ok"}, true},
		{"response", Activity{Type: Response, Body: "Done."}, true},
		{"error", Activity{Type: Error, Body: "tests fail"}, true},
		{"elicitation", Activity{Type: Elicitation, Body: "Which branch?"}, true},
		{"unknown type", Activity{Type: "prompt", Body: "x"}, false},
		{"no type", Activity{Body: "x"}, false},
		{"thought without body", Activity{Type: Thought, Body: "  "}, false},
		{"action without action", Activity{Type: Action, Parameter: "x"}, false},
		{"action with body", Activity{Type: Action, Action: "Edit", Body: "x"}, false},
		{"thought with action fields", Activity{Type: Thought, Body: "x", Action: "Edit"}, false},
		{"ephemeral response", Activity{Type: Response, Body: "x", Ephemeral: true}, false},
		{"body too long", Activity{Type: Thought, Body: long}, false},
		{"parameter too long", Activity{Type: Action, Action: "Edit", Parameter: long}, false},
		{"invalid UTF-8", Activity{Type: Thought, Body: "\xff"}, false},
	}
	for _, tc := range cases {
		err := tc.a.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
		if err != nil && !errors.Is(err, errs.ErrInvalid) {
			t.Errorf("%s: error %v is not invalid input", tc.name, err)
		}
	}
}

type relay struct {
	mu  sync.Mutex
	got []Activity
	err error
}

func (r *relay) RelayTx(_ context.Context, _ sqldb.Tx, _ launch.Workspace, a Activity) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, a)
	return r.err
}

func storeWorkspace(t *testing.T, db *sqldb.DB, id string, status launch.Status) launch.Workspace {
	t.Helper()
	now := time.Now().UTC()
	_, err := db.Exec(context.Background(), `INSERT INTO workspaces (id, org_id, user_id, agent, status, source, task, repository, chain, token_hash, created_at, updated_at, token_expires_at)
		VALUES ($1, 'org', 'user', 'claude', $2, '{"kind":"github"}', '{}', '{}', '[]', $3, $4, $4, $4)`, id, string(status), []byte(id), now)
	if err != nil {
		t.Fatal(err)
	}
	return launch.Workspace{ID: id, Status: status, Source: launch.Source{Kind: launch.SourceGitHub}}
}

// Activities are numbered per workspace in order, even when posted at once;
// each is relayed in its transaction (a relay error stores nothing); an
// ended workspace posts nothing.
func TestPost(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, []sqldb.Set{Migrations}, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := NewService(db)
		r := &relay{}
		s.RegisterRelay(launch.SourceGitHub, r)
		ws := storeWorkspace(t, db, "ws_a", launch.StatusRunning)
		other := storeWorkspace(t, db, "ws_b", launch.StatusRunning)
		var wg sync.WaitGroup
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.Post(ctx, ws, Activity{Type: Thought, Body: "step"}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if a, err := s.Post(ctx, other, Activity{Type: Action, Action: "Edit", Parameter: "a.go"}); err != nil || a.Seq != 1 || a.WorkspaceID != "ws_b" {
			t.Fatalf("other workspace: %+v, %v", a, err)
		}
		list, err := s.Store().Latest(ctx, db, ws.ID, 100)
		if err != nil || len(list) != 10 {
			t.Fatalf("latest: %d, %v", len(list), err)
		}
		for i, a := range list {
			if a.Seq != int64(i+1) {
				t.Fatalf("activity %d has seq %d", i, a.Seq)
			}
		}
		if last, _ := s.Store().Latest(ctx, db, ws.ID, 3); len(last) != 3 || last[0].Seq != 8 || last[2].Seq != 10 {
			t.Fatalf("newest three: %+v", last)
		}
		if len(r.got) != 11 {
			t.Fatalf("%d relayed", len(r.got))
		}
		if _, err := s.Post(ctx, ws, Activity{Type: "bogus"}); !errors.Is(err, errs.ErrInvalid) {
			t.Fatalf("invalid activity: %v", err)
		}
		r.err = errors.New("queue down")
		if _, err := s.Post(ctx, ws, Activity{Type: Thought, Body: "lost"}); err == nil {
			t.Fatal("a relay error was ignored")
		}
		if list, _ := s.Store().Latest(ctx, db, ws.ID, 100); len(list) != 10 {
			t.Fatalf("a failed relay stored its activity: %d", len(list))
		}
		r.err = nil
		if _, err := db.Exec(ctx, `UPDATE workspaces SET status = 'finished' WHERE id = $1`, ws.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Post(ctx, ws, Activity{Type: Thought, Body: "late"}); !errors.Is(err, launch.ErrBadToken) {
			t.Fatalf("ended workspace: %v", err)
		}
	})
}

// List shows the newest activities, oldest first, of one workspace only; an
// ephemeral activity stands only while it is the newest.
func TestList(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, []sqldb.Set{Migrations}, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := NewService(db)
		ws := storeWorkspace(t, db, "ws_a", launch.StatusRunning)
		other := storeWorkspace(t, db, "ws_b", launch.StatusRunning)
		seqs := func(list []Activity) []int64 {
			out := make([]int64, len(list))
			for i, a := range list {
				out[i] = a.Seq
			}
			return out
		}
		if list, err := s.List(ctx, ws.ID, 10); err != nil || len(list) != 0 {
			t.Fatalf("no activities yet: %+v, %v", list, err)
		}
		for _, a := range []Activity{
			{Type: Thought, Body: "reading the code"},
			{Type: Thought, Body: "still reading", Ephemeral: true},
			{Type: Action, Action: "Edit", Parameter: "cart.go", Result: "saved"},
			{Type: Action, Action: "Run", Parameter: "go test ./...", Ephemeral: true},
		} {
			if _, err := s.Post(ctx, ws, a); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Post(ctx, other, Activity{Type: Thought, Body: "elsewhere"}); err != nil {
			t.Fatal(err)
		}
		list, err := s.List(ctx, ws.ID, 10)
		if err != nil || !slices.Equal(seqs(list), []int64{1, 3, 4}) {
			t.Fatalf("list = %v, %v", seqs(list), err)
		}
		if a := list[1]; a.Type != Action || a.Action != "Edit" || a.Parameter != "cart.go" || a.Result != "saved" || a.WorkspaceID != ws.ID || a.CreatedAt.IsZero() {
			t.Fatalf("action read back as %+v", a)
		}
		if !list[2].Ephemeral || list[0].Body != "reading the code" {
			t.Fatalf("list = %+v", list)
		}
		if last, _ := s.List(ctx, ws.ID, 2); !slices.Equal(seqs(last), []int64{3, 4}) {
			t.Fatalf("newest two = %v", seqs(last))
		}
		// The next activity replaces the ephemeral one.
		if _, err := s.Post(ctx, ws, Activity{Type: Response, Body: "All tests pass."}); err != nil {
			t.Fatal(err)
		}
		if list, _ := s.List(ctx, ws.ID, 10); !slices.Equal(seqs(list), []int64{1, 3, 5}) || list[2].Body != "All tests pass." {
			t.Fatalf("after the response: %v", seqs(list))
		}
		if list, _ := s.List(ctx, other.ID, 10); !slices.Equal(seqs(list), []int64{1}) || list[0].Body != "elsewhere" {
			t.Fatalf("other workspace: %+v", list)
		}
	})
}
