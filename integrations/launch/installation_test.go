package launch_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// installationsFunc answers which installation holds a repository.
type installationsFunc func(orgID, fullName string) int64

func (f installationsFunc) InstallationFor(_ context.Context, _ sqldb.Querier, orgID, fullName string) (int64, error) {
	return f(orgID, fullName), nil
}

// acmeApp: installation 7 holds acme/app (for every org), nothing else is installed.
var acmeApp = installationsFunc(func(_, fullName string) int64 {
	if fullName == "acme/app" {
		return 7
	}
	return 0
})

// A workspace's repository must belong to an installation bound to its org:
// otherwise nothing is created. A trigger that names its installation (a
// GitHub webhook) keeps it; a workspace without a repository has none.
func TestRepositoryMustBeInstalled(t *testing.T) {
	t.Parallel()
	for _, d := range sqldbtest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			db, s, _, _ := setup(t, d, &launch.DryRunLauncher{Dir: t.TempDir()})
			cases := []struct {
				name         string
				repo         string
				installation int64 // named by the trigger
				want         int64 // 0 with wantErr: refused
				wantErr      error
			}{
				{"installed repository", "acme/app", 0, 7, nil},
				{"another company's repository", "otherco/private", 0, 0, launch.ErrRepositoryNotInstalled},
				{"trigger names its installation", "Codertocat/Hello-World", 42, 42, nil},
				{"no repository", "", 0, 0, nil},
			}
			for i, tc := range cases {
				tr := trigger(tc.name)
				tr.Repository.FullName, tr.InstallationID = tc.repo, tc.installation
				w, err := create(t, db, s, tr)
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("%s: err = %v, want %v", tc.name, err, tc.wantErr)
				}
				if tc.wantErr != nil {
					var e *errs.Error
					if !errors.As(err, &e) || e.Code != "repository_not_installed" || !errors.Is(err, errs.ErrUnprocessable) {
						t.Fatalf("%s: %#v is not a 422 repository_not_installed", tc.name, err)
					}
					if _, err := s.Store().ByTriggerKey(context.Background(), db, tr.TriggerKey); !errors.Is(err, launch.ErrNotFound) {
						t.Fatalf("%s: a workspace was stored: %v", tc.name, err)
					}
					continue
				}
				got, err := s.Store().Get(context.Background(), db, w.ID)
				if err != nil || got.InstallationID != tc.want || w.InstallationID != tc.want {
					t.Fatalf("case %d %s: installation %d (created %d), %v; want %d", i, tc.name, got.InstallationID, w.InstallationID, err, tc.want)
				}
			}
		})
	}
}

// Every launcher hands the provisioner the installation id, so it can mint an
// installation token scoped to it.
func TestLaunchRequestCarriesInstallation(t *testing.T) {
	t.Parallel()
	bodies := make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies <- b
	}))
	defer srv.Close()
	taskCopy := filepath.Join(t.TempDir(), "task.json")
	cases := []struct {
		name     string
		launcher launch.Launcher
		body     func(w launch.Workspace) []byte // the request as the provisioner got it
	}{
		{"http", &launch.HTTPLauncher{URL: srv.URL, Secret: "raw-secret"}, func(launch.Workspace) []byte { return <-bodies }},
		{"exec", &launch.ExecLauncher{Command: `cp "$REPLICAS_TASK_FILE" ` + taskCopy}, func(launch.Workspace) []byte {
			b, _ := os.ReadFile(taskCopy)
			return b
		}},
		{"dry run", &launch.DryRunLauncher{Dir: t.TempDir()}, func(w launch.Workspace) []byte {
			b, _ := os.ReadFile(w.LaunchFile)
			return b
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db, s, q, h := setup(t, sqldb.SQLite, tc.launcher)
			start(t, q)
			w, err := create(t, db, s, trigger(""))
			if err != nil {
				t.Fatal(err)
			}
			waitStatus(t, h, w.ID, launch.StatusLaunched)
			w, _ = s.Store().Get(context.Background(), db, w.ID)
			var req struct {
				InstallationID int64 `json:"installation_id"`
				Repository     struct {
					FullName string `json:"full_name"`
				} `json:"repository"`
			}
			if err := json.Unmarshal(tc.body(w), &req); err != nil {
				t.Fatal(err)
			}
			if req.InstallationID != 7 || req.Repository.FullName != "acme/app" {
				t.Fatalf("launch request: %+v, want installation 7 for acme/app", req)
			}
		})
	}
}
