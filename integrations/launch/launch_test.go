package launch_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/tryreplicas/gateway/credstore"
	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/queue"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// fixedChain resolves every trigger to one API key, or to nothing.
type fixedChain struct{ empty bool }

func (f fixedChain) ResolveChain(_ context.Context, _ sqldb.Querier, _, _, agent string) (string, []launch.ChainEntry, error) {
	if f.empty {
		return "", nil, launch.ErrNoCredentials
	}
	return "claude", []launch.ChainEntry{{CredentialID: "cred_1", Scope: "user", Method: "api_key"}}, nil
}

type recorder struct{ statuses chan launch.Status }

func (r recorder) ReportTx(_ context.Context, _ sqldb.Tx, ws launch.Workspace) error {
	r.statuses <- ws.Status
	return nil
}

type harness struct {
	db      *sqldb.DB
	s       *launch.Service
	events  <-chan *river.Event
	reports chan launch.Status
	keys    *credstore.Keyring
}

func setup(t *testing.T, d sqldb.Dialect, l launch.Launcher) (*sqldb.DB, *launch.Service, *queue.Queue, *harness) {
	t.Helper()
	db := sqldbtest.New(t, d, launch.Migrations)
	for _, m := range [][2]string{{"org_1", "usr_1"}, {"org_a", "usr_1"}, {"org_a", "usr_2"}, {"org_b", "usr_1"}} {
		join(t, db, m[0], m[1])
	}
	q, err := queue.New(db, sqldbtest.Logger(), queue.Options{PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := credstore.NewKeyring([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	s := launch.NewService(db, q, fixedChain{}, acmeApp, keys, l, "http://gateway.test", sqldbtest.Logger())
	s.RetryDelay = func(int) time.Duration { return 10 * time.Millisecond }
	reports := make(chan launch.Status, 100)
	s.RegisterReporter("test", recorder{reports})
	events, cancel := q.Subscribe(river.EventKindJobCompleted, river.EventKindJobCancelled, river.EventKindJobFailed)
	t.Cleanup(cancel)
	return db, s, q, &harness{db: db, s: s, events: events, reports: reports, keys: keys}
}

// join makes user a member of org (creating both): a workspace token works
// only while its owner is a member of its org.
func join(t *testing.T, db *sqldb.DB, org, user string) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	for _, stmt := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO orgs (id, slug, name, created_at) VALUES ($1, $1, $1, $2) ON CONFLICT (id) DO NOTHING`, []any{org, now}},
		{`INSERT INTO users (id, email, name, created_at) VALUES ($1, $2, $1, $3) ON CONFLICT (id) DO NOTHING`, []any{user, user + "@example.com", now}},
		{`INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, 'member', $3)`, []any{org, user, now}},
	} {
		if _, err := db.Exec(ctx, stmt.sql, stmt.args...); err != nil {
			t.Fatalf("join %s to %s: %v", user, org, err)
		}
	}
}

func start(t *testing.T, q *queue.Queue) {
	ctx, cancel := context.WithCancel(context.Background())
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		stop, c := context.WithTimeout(context.Background(), 10*time.Second)
		defer c()
		_ = q.Stop(stop)
	})
}

func trigger(key string) launch.Trigger {
	return launch.Trigger{OrgID: "org_1", UserID: "usr_1", TriggerKey: key, Source: launch.Source{Kind: "test"},
		Task: launch.Task{Title: "Fix it", Body: "please", URL: "https://example.com/1"}, Repository: launch.Repository{FullName: "acme/app", Ref: "main"}}
}

func create(t *testing.T, db *sqldb.DB, s *launch.Service, tr launch.Trigger) (launch.Workspace, error) {
	var w launch.Workspace
	err := db.InTx(context.Background(), func(tx sqldb.Tx) error {
		var err error
		w, err = s.LaunchTx(context.Background(), tx, tr)
		return err
	})
	return w, err
}

// waitStatus waits for launch jobs to end until workspace id has status want.
func waitStatus(t *testing.T, h *harness, id string, want launch.Status) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		if w, err := h.s.Store().Get(context.Background(), h.db, id); err == nil && w.Status == want {
			return
		}
		select {
		case <-h.events:
		case <-timeout:
			t.Fatalf("workspace never became %s", want)
		}
	}
}

func TestDryRunLaunchAndLifecycle(t *testing.T) {
	t.Parallel()
	for _, d := range sqldbtest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			db, s, q, h := setup(t, d, &launch.DryRunLauncher{Dir: dir})
			start(t, q)
			w, err := create(t, db, s, trigger("k1"))
			if err != nil {
				t.Fatal(err)
			}
			if w.Status != launch.StatusQueued || len(w.Chain) != 1 {
				t.Fatalf("created = %+v", w)
			}
			if _, err := create(t, db, s, trigger("k1")); !errors.Is(err, launch.ErrDuplicate) {
				t.Fatalf("same trigger twice: %v", err)
			}
			waitStatus(t, h, w.ID, launch.StatusLaunched)
			got, err := s.Store().Get(context.Background(), db, w.ID)
			if err != nil || !got.DryRun || got.LaunchFile == "" {
				t.Fatalf("launched = %+v, %v", got, err)
			}
			file, err := os.ReadFile(got.LaunchFile)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(file), `"workspace_token": "[redacted]"`) || strings.Contains(string(file), "rpw_") {
				t.Fatalf("dry-run file leaks the token:\n%s", file)
			}
			steps := []struct {
				to launch.Status
				ok bool
			}{{launch.StatusRunning, true}, {launch.StatusHibernated, true}, {launch.StatusRunning, true}, {launch.StatusQueued, false}, {launch.StatusFinished, true}, {launch.StatusRunning, false}}
			for _, st := range steps {
				_, err := s.Update(context.Background(), w.ID, launch.Update{Status: st.to, Summary: "step"})
				if (err == nil) != st.ok {
					t.Fatalf("-> %s: err = %v, want ok=%v", st.to, err, st.ok)
				}
			}
		})
	}
}

func TestTokenAuthenticationAndRevocation(t *testing.T) {
	t.Parallel()
	var token string
	l := launcherFunc(func(_ context.Context, r launch.Request) (launch.Result, error) {
		token = r.WorkspaceToken
		return launch.Result{}, nil
	})
	db, s, q, h := setup(t, sqldb.SQLite, l)
	start(t, q)
	w, err := create(t, db, s, trigger(""))
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, h, w.ID, launch.StatusLaunched)
	if !strings.HasPrefix(token, "rpw_") {
		t.Fatalf("launcher got token %q", token)
	}
	got, err := s.Authenticate(context.Background(), token)
	if err != nil || got.ID != w.ID {
		t.Fatalf("authenticate = %+v, %v", got, err)
	}
	if _, err := s.Authenticate(context.Background(), token+"x"); !errors.Is(err, errs.ErrUnauthorized) {
		t.Fatalf("bad token: %v", err)
	}
	if _, err := s.Update(context.Background(), w.ID, launch.Update{Status: launch.StatusFailed, Error: "boom"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(context.Background(), token); !errors.Is(err, errs.ErrUnauthorized) {
		t.Fatalf("token of a failed workspace still works: %v", err)
	}
	dump := sqldbtest.Dump(t, db)
	if strings.Contains(dump, token) {
		t.Fatal("workspace token stored in plain text")
	}
}

type launcherFunc func(context.Context, launch.Request) (launch.Result, error)

func (f launcherFunc) Launch(ctx context.Context, r launch.Request) (launch.Result, error) {
	return f(ctx, r)
}

func TestHTTPLauncher(t *testing.T) {
	t.Parallel()
	const secret = "whsec_" + "c2lnbmluZy1zZWNyZXQtZm9yLXRlc3Rz"
	key, _ := base64.StdEncoding.DecodeString("c2lnbmluZy1zZWNyZXQtZm9yLXRlc3Rz")
	cases := []struct {
		name    string
		answers []int
		want    launch.Status
		calls   int32
	}{
		{"retries 5xx then launches", []int{500, 503, 200}, launch.StatusLaunched, 3},
		{"4xx fails at once", []int{400}, launch.StatusFailed, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				mac := hmac.New(sha256.New, key)
				mac.Write([]byte(r.Header.Get("webhook-id") + "." + r.Header.Get("webhook-timestamp") + "."))
				mac.Write(body)
				if r.Header.Get("webhook-signature") != "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)) {
					t.Errorf("bad Standard Webhooks signature")
				}
				var req map[string]any
				if err := json.Unmarshal(body, &req); err != nil {
					t.Errorf("body: %v", err)
				}
				for _, k := range []string{"workspace_id", "org_id", "user_id", "agent", "source", "task", "repository", "gateway_url", "workspace_token"} {
					if _, ok := req[k]; !ok {
						t.Errorf("launch request lacks %s", k)
					}
				}
				n := calls.Add(1)
				w.WriteHeader(tc.answers[min(int(n), len(tc.answers))-1])
			}))
			defer srv.Close()
			db, s, q, h := setup(t, sqldb.SQLite, &launch.HTTPLauncher{URL: srv.URL, Secret: secret})
			start(t, q)
			w, err := create(t, db, s, trigger(""))
			if err != nil {
				t.Fatal(err)
			}
			retryNow(t, h, w.ID, tc.want)
			got, _ := s.Store().Get(context.Background(), db, w.ID)
			if got.Status != tc.want || calls.Load() != tc.calls {
				t.Fatalf("status %s after %d calls, want %s after %d (%s)", got.Status, calls.Load(), tc.want, tc.calls, got.Error)
			}
		})
	}
}

// retryNow makes River's backed-off retries due at once until want is reported.
func retryNow(t *testing.T, h *harness, id string, want launch.Status) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if w, err := h.s.Store().Get(context.Background(), h.db, id); err == nil && w.Status == want {
			return
		}
		select {
		case <-h.events:
		case <-tick.C:
			if _, err := h.db.Exec(context.Background(), `UPDATE river_job SET scheduled_at = $1 WHERE state = 'retryable'`, time.Now().UTC().Add(-time.Second)); err != nil {
				t.Fatal(err)
			}
		case <-deadline:
			t.Fatalf("never reported %s", want)
		}
	}
}

func TestExecLauncher(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "env.txt")
	l := &launch.ExecLauncher{Command: `env | grep ^REPLICAS_ > ` + out + ` && cat "$REPLICAS_TASK_FILE" >> ` + out}
	db, s, q, h := setup(t, sqldb.SQLite, l)
	start(t, q)
	w, err := create(t, db, s, trigger(""))
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, h, w.ID, launch.StatusLaunched)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"REPLICAS_WORKSPACE_ID=" + w.ID, "REPLICAS_GATEWAY_URL=http://gateway.test", "REPLICAS_WORKSPACE_TOKEN=rpw_", "REPLICAS_TASK_FILE=", `"title":"Fix it"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("exec output lacks %q:\n%s", want, b)
		}
	}
}

// A provisioner that echoes the request in its error answer never leaks the
// workspace token, wherever the answer's cut would fall: the answer is
// redacted before it is shortened.
func TestHTTPLauncherErrorNeverHoldsTokenPart(t *testing.T) {
	t.Parallel()
	const token = "rpw_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
	for pad := 0; pad <= 512; pad += 6 {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			w.WriteHeader(http.StatusBadRequest)
			// The token lands across byte 512 for some pads.
			_, _ = w.Write([]byte(strings.Repeat("x", pad) + " echo: " + string(body)))
		}))
		l := &launch.HTTPLauncher{URL: srv.URL, Client: srv.Client()}
		_, err := l.Launch(context.Background(), launch.Request{WorkspaceID: "ws_1", WorkspaceToken: token})
		srv.Close()
		if err == nil {
			t.Fatalf("pad %d: a 400 launched", pad)
		}
		for n := 8; n <= len(token); n++ {
			if strings.Contains(err.Error(), token[:n]) {
				t.Fatalf("pad %d: the error holds %d characters of the token: %v", pad, n, err)
			}
		}
	}
}
