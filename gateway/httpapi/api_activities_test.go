package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/github"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// A workspace posts its activities with its own token: numbered in order,
// validated (400), refused without a token and once the workspace ended (401).
func TestWorkspaceActivities(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, []sqldb.Set{identity.Migrations, launch.Migrations, github.Migrations}, func(t *testing.T, db *sqldb.DB) {
		a := bootstrapOrg(t, db, "org-a", "admin@a.example")
		_, tokMia := member(t, db, a.Org.ID, "mia@a.example")
		gh := github.NewStore()
		install(t, db, gh, github.Installation{ID: 10, AccountLogin: "acme", AccountID: 1, AccountType: "Organization", Status: "active", RepositorySelection: "selected"}, a.Org.ID, "acme/app")
		h, keys := workspaceAPI(t, db, apiChain{}, gh)
		code, w := call(t, h, "POST", "/api/v1/orgs/"+a.Org.ID+"/workspaces", tokMia, `{"task":{"title":"Fix it"},"repository":{"full_name":"acme/app"}}`)
		if code != http.StatusCreated {
			t.Fatalf("create = %d %v", code, w)
		}
		id := w["id"].(string)
		wsToken := workspaceToken(t, db, keys, id)
		cases := []struct {
			name, token, body string
			want              int
			seq               float64
		}{
			{"thought", wsToken, `{"type":"thought","body":"Reading the cart code"}`, 201, 1},
			{"action", wsToken, `{"type":"action","action":"Edit","parameter":"cart.go","result":"ok","ephemeral":true}`, 201, 2},
			{"response", wsToken, `{"type":"response","body":"Done."}`, 201, 3},
			{"unknown type", wsToken, `{"type":"prompt","body":"x"}`, 400, 0},
			{"thought without body", wsToken, `{"type":"thought"}`, 400, 0},
			{"malformed", wsToken, `{"type":`, 400, 0},
			{"no token", "", `{"type":"thought","body":"x"}`, 401, 0},
			{"an API token", tokMia, `{"type":"thought","body":"x"}`, 401, 0},
		}
		for _, tc := range cases {
			code, body := call(t, h, "POST", "/api/v1/workspace/activities", tc.token, tc.body)
			if code != tc.want {
				t.Fatalf("%s: %d %v, want %d", tc.name, code, body, tc.want)
			}
			if tc.want == 201 && (body["seq"] != tc.seq || body["workspace_id"] != id || body["type"] == "") {
				t.Errorf("%s: %v", tc.name, body)
			}
		}
		if code, _ := call(t, h, "POST", "/api/v1/workspaces/"+id+"/cancel", tokMia, ""); code != 200 {
			t.Fatalf("cancel = %d", code)
		}
		if code, _ := call(t, h, "POST", "/api/v1/workspace/activities", wsToken, `{"type":"thought","body":"late"}`); code != 401 {
			t.Fatalf("after cancel = %d", code)
		}
	})
}
