package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tryreplicas/gateway/credstore"
	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/httpapi"
	"github.com/tryreplicas/gateway/gateway/queue"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/activity"
	"github.com/tryreplicas/gateway/integrations/github"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// apiChain resolves one API key for everybody except the users in none.
type apiChain struct{ none map[string]bool }

func (r apiChain) ResolveChain(_ context.Context, _ sqldb.Querier, _, userID, agent string) (string, []launch.ChainEntry, error) {
	if r.none[userID] {
		return "", nil, errs.New(errs.ErrUnprocessable, "no_credentials", "at least one coding agent must be configured")
	}
	if agent == "" {
		agent = "claude"
	}
	return agent, []launch.ChainEntry{{CredentialID: "cred_" + userID, Scope: "user", Method: "api_key"}}, nil
}

func TestWorkspacesAPI(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, []sqldb.Set{identity.Migrations, launch.Migrations, github.Migrations}, func(t *testing.T, db *sqldb.DB) {
		a, b := bootstrapOrg(t, db, "org-a", "admin@a.example"), bootstrapOrg(t, db, "org-b", "admin@b.example")
		orgA, adminA, tokA, orgBRec, adminB, tokB := a.Org, a.Admin, a.Token, b.Org, b.Admin, b.Token
		gh := github.NewStore()
		install(t, db, gh, github.Installation{ID: 10, AccountLogin: "acme", AccountID: 1, AccountType: "Organization", Status: "active", RepositorySelection: "selected"}, orgA.ID, "acme/app")
		h, keys := workspaceAPI(t, db, apiChain{none: map[string]bool{adminB.ID: true}}, gh)

		miaID, tokMia := join(t, h, orgA.ID, tokA, "mia@a.example")

		create := `{"task":{"title":"Fix the flaky test","body":"see CI","url":"https://example.com/i/1"},"repository":{"full_name":"acme/app","ref":"main"}}`
		code, made := call(t, h, "POST", "/api/v1/orgs/"+orgA.ID+"/workspaces", tokMia, create)
		if code != http.StatusCreated {
			t.Fatalf("create = %d %v", code, made)
		}
		for _, k := range []string{"id", "org_id", "user_id", "agent", "status", "source", "task", "chain", "created_at", "updated_at"} {
			if _, ok := made[k]; !ok {
				t.Errorf("workspace answer lacks %q: %v", k, made)
			}
		}
		chain, _ := made["chain"].([]any)
		if made["user_id"] != miaID || made["org_id"] != orgA.ID || made["status"] != "queued" || made["agent"] != "claude" ||
			made["source"].(map[string]any)["kind"] != "api" || len(chain) != 1 ||
			fmt.Sprint(chain[0]) != fmt.Sprint(map[string]any{"credential_id": "cred_" + miaID, "scope": "user", "method": "api_key"}) {
			t.Errorf("created = %v", made)
		}
		if strings.Contains(fmt.Sprint(made), "rpw_") {
			t.Fatalf("the workspace token appears in the answer: %v", made)
		}
		miaWS := made["id"].(string)
		_, adminMade := call(t, h, "POST", "/api/v1/orgs/"+orgA.ID+"/workspaces", tokA, strings.Replace(create, `}}`, `},"agent":"codex"}`, 1))
		adminWS := adminMade["id"].(string)
		if adminMade["agent"] != "codex" {
			t.Errorf("agent choice ignored: %v", adminMade)
		}

		cases := []struct {
			name, method, path, token, body string
			want                            int
			wantErr                         string
			wantIDs                         []string // for lists
		}{
			{"no title", "POST", "/api/v1/orgs/" + orgA.ID + "/workspaces", tokMia, `{"task":{},"repository":{"full_name":"acme/app"}}`, 400, "invalid_request", nil},
			{"no repository", "POST", "/api/v1/orgs/" + orgA.ID + "/workspaces", tokMia, `{"task":{"title":"x"}}`, 400, "invalid_request", nil},
			{"malformed", "POST", "/api/v1/orgs/" + orgA.ID + "/workspaces", tokMia, `{"task":`, 400, "invalid_request", nil},
			{"no credentials", "POST", "/api/v1/orgs/{orgB}/workspaces", tokB, create, 422, "no_credentials", nil},
			{"other org cannot create", "POST", "/api/v1/orgs/" + orgA.ID + "/workspaces", tokB, create, 403, "forbidden", nil},
			{"no token", "GET", "/api/v1/orgs/" + orgA.ID + "/workspaces", "", "", 401, "unauthorized", nil},
			{"member lists own", "GET", "/api/v1/orgs/" + orgA.ID + "/workspaces", tokMia, "", 200, "", []string{miaWS}},
			{"member cannot list others", "GET", "/api/v1/orgs/" + orgA.ID + "/workspaces?user=" + adminA.ID, tokMia, "", 200, "", []string{miaWS}},
			{"admin lists all", "GET", "/api/v1/orgs/" + orgA.ID + "/workspaces", tokA, "", 200, "", []string{adminWS, miaWS}},
			{"admin filters by user", "GET", "/api/v1/orgs/" + orgA.ID + "/workspaces?user=" + miaID, tokA, "", 200, "", []string{miaWS}},
			{"other org cannot list", "GET", "/api/v1/orgs/" + orgA.ID + "/workspaces", tokB, "", 403, "forbidden", nil},
			{"other org lists its own (none)", "GET", "/api/v1/orgs/{orgB}/workspaces", tokB, "", 200, "", []string{}},
			{"member reads own", "GET", "/api/v1/workspaces/" + miaWS, tokMia, "", 200, "", nil},
			{"admin reads member's", "GET", "/api/v1/workspaces/" + miaWS, tokA, "", 200, "", nil},
			{"member cannot read admin's", "GET", "/api/v1/workspaces/" + adminWS, tokMia, "", 404, "not_found", nil},
			{"other org cannot read", "GET", "/api/v1/workspaces/" + miaWS, tokB, "", 404, "not_found", nil},
			{"unknown id", "GET", "/api/v1/workspaces/ws_nope", tokA, "", 404, "not_found", nil},
		}
		orgB := orgBRec.ID
		for _, tc := range cases {
			path := strings.ReplaceAll(tc.path, "{orgB}", orgB)
			code, body := call(t, h, tc.method, path, tc.token, tc.body)
			if code != tc.want {
				t.Errorf("%s: status = %d, want %d (%v)", tc.name, code, tc.want, body)
				continue
			}
			if tc.wantErr != "" && (body["error"] != tc.wantErr || body["message"] == "") {
				t.Errorf("%s: body = %v, want error %q", tc.name, body, tc.wantErr)
			}
			if tc.wantIDs != nil {
				list, _ := body["workspaces"].([]any)
				var got []string
				for _, w := range list {
					got = append(got, w.(map[string]any)["id"].(string))
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.wantIDs) {
					t.Errorf("%s: ids = %v, want %v", tc.name, got, tc.wantIDs)
				}
			}
			if strings.Contains(fmt.Sprint(body), "rpw_") {
				t.Errorf("%s: the workspace token appears in the answer", tc.name)
			}
		}

		// The runtime side: only the workspace token, and only while it lives.
		wsTok := workspaceToken(t, db, keys, miaWS)
		events := []struct {
			name, token, body string
			want              int
			status            string
		}{
			{"no token", "", `{"status":"running"}`, 401, ""},
			{"an API token is not a workspace token", tokMia, `{"status":"running"}`, 401, ""},
			{"unknown status", wsTok, `{"status":"launched"}`, 400, ""},
			{"running", wsTok, `{"status":"running","summary":"cloning acme/app"}`, 200, "running"},
			{"hibernated", wsTok, `{"status":"hibernated"}`, 200, "hibernated"},
			{"running again", wsTok, `{"status":"running"}`, 200, "running"},
			{"finished", wsTok, `{"status":"finished","summary":"opened a PR","url":"https://github.com/acme/app/pull/7"}`, 200, "finished"},
			{"token revoked once finished", wsTok, `{"status":"running"}`, 401, ""},
		}
		for _, e := range events {
			code, body := call(t, h, "POST", "/api/v1/workspace/events", e.token, e.body)
			if code != e.want || (e.status != "" && body["status"] != e.status) {
				t.Errorf("event %s: %d %v, want %d %s", e.name, code, body, e.want, e.status)
			}
		}
		_, final := call(t, h, "GET", "/api/v1/workspaces/"+miaWS, tokMia, "")
		if final["status"] != "finished" || final["summary"] != "opened a PR" || final["result_url"] != "https://github.com/acme/app/pull/7" {
			t.Errorf("after events = %v", final)
		}
	})
}

// workspaceToken opens the sealed token as the launch job would.
// workspaceAPI serves the API over a launch service with dry-run launches:
// chain resolves credentials and gh says which repositories are installed.
// keys seal the workspace tokens.
func workspaceAPI(t *testing.T, db *sqldb.DB, chain launch.ChainResolver, gh *github.Store) (h http.Handler, keys *credstore.Keyring) {
	t.Helper()
	keys, err := credstore.NewKeyring([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	q, err := queue.New(db, sqldbtest.Logger(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ws := launch.NewService(db, q, chain, gh, keys, &launch.DryRunLauncher{Dir: t.TempDir()}, "http://gateway.test", sqldbtest.Logger())
	ids := identity.NewStore()
	return httpapi.New(httpapi.Deps{Logger: sqldbtest.Logger(), DB: db, Identity: identity.NewService(db, ids), Workspaces: ws, Messages: ws,
		Activities: activity.NewService(db), PublicURL: "http://gateway.test"}).Handler(), keys
}

// member makes email a member of org in the store and gives them an API
// token of their own.
func member(t *testing.T, db *sqldb.DB, orgID, email string) (identity.User, string) {
	t.Helper()
	ctx, ids := context.Background(), identity.NewStore()
	u, err := ids.EnsureUser(ctx, db, email, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := ids.AddMember(ctx, db, orgID, u.ID, identity.RoleMember); err != nil {
		t.Fatal(err)
	}
	tok, _, err := ids.IssueToken(ctx, db, orgID, u.ID, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return u, tok
}

func workspaceToken(t *testing.T, db *sqldb.DB, keys *credstore.Keyring, id string) string {
	t.Helper()
	var keyID string
	var ct []byte
	if err := db.QueryRow(context.Background(), `SELECT token_key_id, token_sealed FROM workspaces WHERE id = $1`, id).Scan(&keyID, &ct); err != nil {
		t.Fatal(err)
	}
	pt, err := keys.Open(keyID, ct, []byte(id))
	if err != nil {
		t.Fatal(err)
	}
	return string(pt)
}
