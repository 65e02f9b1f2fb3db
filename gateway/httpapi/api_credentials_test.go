package httpapi_test

import (
	"strings"
	"testing"

	"github.com/tryreplicas/gateway/credstore"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/identity"
)

func TestCredentialsAPI(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, []sqldb.Set{identity.Migrations, credstore.Migrations}, func(t *testing.T, db *sqldb.DB) {
		a, b := bootstrapOrg(t, db, "org-a", "admin@a.example"), bootstrapOrg(t, db, "org-b", "admin@b.example")
		orgA, tokA, orgB, tokB := a.Org, a.Token, b.Org, b.Token
		h := newServer(t, db)
		miaID, tokMia := join(t, h, orgA.ID, tokA, "mia@a.example")
		orgCred := "/api/v1/orgs/" + orgA.ID + "/credentials/claude/api_key"
		const key = "sk-ant-api03-SECRETSECRET-wxyz"

		cases := []struct {
			name, method, path, token, body string
			want                            int
		}{
			{"admin puts org key", "PUT", orgCred, tokA, `{"api_key":"` + key + `"}`, 200},
			{"admin reads org key", "GET", orgCred, tokA, "", 200},
			{"admin lists org keys", "GET", "/api/v1/orgs/" + orgA.ID + "/credentials", tokA, "", 200},
			{"member cannot read org key", "GET", orgCred, tokMia, "", 403},
			{"member cannot list org keys", "GET", "/api/v1/orgs/" + orgA.ID + "/credentials", tokMia, "", 403},
			{"member cannot change org key", "PUT", orgCred, tokMia, `{"api_key":"sk-ant-x"}`, 403},
			{"member cannot delete org key", "DELETE", orgCred, tokMia, "", 403},
			{"other org admin cannot read", "GET", orgCred, tokB, "", 403},
			{"other org admin cannot write", "PUT", orgCred, tokB, `{"api_key":"sk-ant-x"}`, 403},
			{"bad key is 400", "PUT", orgCred, tokA, `{"api_key":"sk-proj-1"}`, 400},
			{"control character in a key is 400", "PUT", orgCred, tokA, `{"api_key":"sk-ant-api03-a\nANTHROPIC_BASE_URL=http://evil"}`, 400},
			{"space in a token is 400", "PUT", "/api/v1/me/credentials/claude/oauth", tokMia, `{"access_token":"at x","refresh_token":"rt","expires_at":"2030-01-01T00:00:00Z"}`, 400},
			{"unknown agent is 404", "PUT", "/api/v1/orgs/" + orgA.ID + "/credentials/gemini/api_key", tokA, `{"api_key":"x"}`, 404},
			{"unknown method is 404", "PUT", "/api/v1/me/credentials/codex/bedrock", tokMia, `{}`, 404},
			{"member puts personal oauth", "PUT", "/api/v1/me/credentials/claude/oauth", tokMia, `{"access_token":"at-SECRET-1234","refresh_token":"rt-SECRET","expires_at":"2030-01-01T00:00:00Z"}`, 200},
			{"member lists personal", "GET", "/api/v1/me/credentials", tokMia, "", 200},
			{"member sets preference", "PUT", "/api/v1/me/preferences", tokMia, `{"agent":"claude"}`, 200},
			{"bad preference", "PUT", "/api/v1/me/preferences", tokMia, `{"agent":"gpt"}`, 400},
			{"member cannot set org default", "PUT", "/api/v1/orgs/" + orgA.ID + "/preferences", tokMia, `{"default_agent":"codex"}`, 403},
			{"admin sets org default", "PUT", "/api/v1/orgs/" + orgA.ID + "/preferences", tokA, `{"default_agent":"codex"}`, 200},
			{"member resolves own chain", "GET", "/api/v1/orgs/" + orgA.ID + "/credentials/resolve", tokMia, "", 200},
			{"member cannot resolve admin's chain", "GET", "/api/v1/orgs/" + orgA.ID + "/credentials/resolve?user=x", tokMia, "", 403},
			{"other org cannot resolve", "GET", "/api/v1/orgs/" + orgA.ID + "/credentials/resolve?user=" + miaID, tokB, "", 403},
			{"resolve for a non-member", "GET", "/api/v1/orgs/" + orgB.ID + "/credentials/resolve?user=" + miaID, tokB, "", 404},
			{"codex has nothing", "GET", "/api/v1/orgs/" + orgA.ID + "/credentials/resolve?user=" + miaID + "&agent=codex", tokA, "", 422},
		}
		for _, tc := range cases {
			code, body := call(t, h, tc.method, tc.path, tc.token, tc.body)
			if code != tc.want {
				t.Errorf("%s: %d %v, want %d", tc.name, code, body, tc.want)
			}
			for k, v := range body {
				if s, ok := v.(string); ok && strings.Contains(s, "SECRET") && k != "message" {
					t.Errorf("%s: answer leaks a secret in %s", tc.name, k)
				}
			}
		}
		code, res := call(t, h, "GET", "/api/v1/orgs/"+orgA.ID+"/credentials/resolve?user="+miaID, tokA, "")
		chain, _ := res["chain"].([]any)
		if code != 200 || res["agent"] != "claude" || len(chain) != 2 {
			t.Fatalf("resolve = %d %v", code, res)
		}
		first := chain[0].(map[string]any)
		second := chain[1].(map[string]any)
		// The admin sees that Mia has a personal OAuth credential, not its id
		// or hint: personal credentials are hers alone.
		if first["scope"] != "user" || first["method"] != "oauth" || first["hint"] != "" || first["credential_id"] != "" || second["scope"] != "org" || second["hint"] != "wxyz" {
			t.Fatalf("chain shown to the admin = %v", chain)
		}
		_, own := call(t, h, "GET", "/api/v1/orgs/"+orgA.ID+"/credentials/resolve", tokMia, "")
		if mine, _ := own["chain"].([]any); len(mine) != 2 || mine[0].(map[string]any)["hint"] != "1234" || mine[0].(map[string]any)["credential_id"] == "" {
			t.Fatalf("chain shown to Mia = %v", own)
		}
		if code, body := call(t, h, "GET", "/api/v1/orgs/"+orgB.ID+"/credentials/resolve", tokB, ""); code != 422 || body["error"] != "no_credentials" || body["message"] != "at least one coding agent must be configured" {
			t.Fatalf("empty org resolve = %d %v", code, body)
		}
		if code, _ := call(t, h, "DELETE", orgCred, tokA, ""); code != 204 {
			t.Fatalf("delete = %d", code)
		}
		if code, _ := call(t, h, "GET", orgCred, tokA, ""); code != 404 {
			t.Fatalf("get after delete = %d", code)
		}
	})
}
