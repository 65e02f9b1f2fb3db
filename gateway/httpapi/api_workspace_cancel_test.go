package httpapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/github"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// Cancel over HTTP: the owner or an admin of the workspace's org; anyone
// else (another member, another org's admin, the owner's own token of another
// org) is told it does not exist. The workspace token dies at once, as it does
// when the owner leaves the org or goes unused past its expiry; using it
// pushes the expiry forward.
func TestWorkspaceCancelAndTokenLife(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, []sqldb.Set{identity.Migrations, launch.Migrations, github.Migrations}, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		a, b := bootstrapOrg(t, db, "org-a", "admin@a.example"), bootstrapOrg(t, db, "org-b", "admin@b.example")
		orgA, tokA, orgB, tokB := a.Org, a.Token, b.Org, b.Token
		_, tokMia := member(t, db, orgA.ID, "mia@a.example")
		_, tokMiaInB := member(t, db, orgB.ID, "mia@a.example")
		mo, tokMo := member(t, db, orgA.ID, "mo@a.example")

		gh := github.NewStore()
		install(t, db, gh, github.Installation{ID: 10, AccountLogin: "acme", AccountID: 1, AccountType: "Organization", Status: "active", RepositorySelection: "selected"}, orgA.ID, "acme/app")
		h, keys := workspaceAPI(t, db, apiChain{}, gh)

		create := func(token string) (id, wsToken string) {
			t.Helper()
			code, w := call(t, h, "POST", "/api/v1/orgs/"+orgA.ID+"/workspaces", token, `{"task":{"title":"Fix it"},"repository":{"full_name":"acme/app"}}`)
			if code != http.StatusCreated {
				t.Fatalf("create = %d %v", code, w)
			}
			id = w["id"].(string)
			return id, workspaceToken(t, db, keys, id)
		}
		event := func(wsToken string) int {
			t.Helper()
			code, _ := call(t, h, "POST", "/api/v1/workspace/events", wsToken, `{"status":"running"}`)
			return code
		}
		w1, tok1 := create(tokMia)
		w2, tok2 := create(tokMia)
		_, tok3 := create(tokMo)
		w4, tok4 := create(tokMia)
		for _, tok := range []string{tok1, tok2, tok3, tok4} {
			if code := event(tok); code != http.StatusOK {
				t.Fatalf("a live workspace token answered %d", code)
			}
		}

		cases := []struct {
			name, id, token string
			want            int
			wantErr         string
		}{
			{"no token", w1, "", 401, "unauthorized"},
			{"another member", w1, tokMo, 404, "not_found"},
			{"another org's admin", w1, tokB, 404, "not_found"},
			{"the owner's token of another org", w1, tokMiaInB, 404, "not_found"},
			{"unknown workspace", "ws_nope", tokA, 404, "not_found"},
			{"the owner", w1, tokMia, 200, ""},
			{"the owner again", w1, tokMia, 409, "conflict"},
			{"an admin of the org", w2, tokA, 200, ""},
		}
		for _, tc := range cases {
			code, body := call(t, h, "POST", "/api/v1/workspaces/"+tc.id+"/cancel", tc.token, "")
			if code != tc.want {
				t.Fatalf("%s: %d %v, want %d", tc.name, code, body, tc.want)
			}
			if tc.wantErr != "" && body["error"] != tc.wantErr {
				t.Errorf("%s: body %v, want error %q", tc.name, body, tc.wantErr)
			}
			if tc.want == 200 && (body["id"] != tc.id || body["status"] != "cancelled") {
				t.Errorf("%s: answer %v, want the cancelled workspace", tc.name, body)
			}
		}
		if _, got := call(t, h, "GET", "/api/v1/workspaces/"+w1, tokMia, ""); got["status"] != "cancelled" {
			t.Errorf("cancelled workspace reads %v", got)
		}

		// Cancelled: both tokens die; the others live on.
		if a, b, c := event(tok1), event(tok2), event(tok4); a != 401 || b != 401 || c != 200 {
			t.Errorf("after cancelling: tokens answer %d, %d (want 401) and %d (want 200)", a, b, c)
		}
		// The owner leaves the org: their workspace's token dies.
		if _, err := db.Exec(ctx, `DELETE FROM memberships WHERE org_id = $1 AND user_id = $2`, orgA.ID, mo.ID); err != nil {
			t.Fatal(err)
		}
		if code := event(tok3); code != 401 {
			t.Errorf("token of a workspace whose owner left answers %d", code)
		}
		// Use extends the expiry to a full TTL from now; a passed expiry is dead.
		if _, err := db.Exec(ctx, `UPDATE workspaces SET token_expires_at = $1 WHERE id = $2`, time.Now().Add(time.Hour), w4); err != nil {
			t.Fatal(err)
		}
		if code := event(tok4); code != 200 {
			t.Fatalf("token an hour from expiry answers %d", code)
		}
		var expires time.Time
		if err := db.QueryRow(ctx, `SELECT token_expires_at FROM workspaces WHERE id = $1`, w4).Scan(&expires); err != nil {
			t.Fatal(err)
		}
		if d := time.Until(expires); d < launch.DefaultTokenTTL-time.Minute || d > launch.DefaultTokenTTL {
			t.Errorf("after use the token expires in %s, want about %s", d, launch.DefaultTokenTTL)
		}
		if _, err := db.Exec(ctx, `UPDATE workspaces SET token_expires_at = $1 WHERE id = $2`, time.Now().Add(-time.Second), w4); err != nil {
			t.Fatal(err)
		}
		if code := event(tok4); code != 401 {
			t.Errorf("expired token answers %d", code)
		}
	})
}
