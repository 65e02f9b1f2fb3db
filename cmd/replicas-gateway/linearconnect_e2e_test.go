package main

import (
	"testing"

	"github.com/tryreplicas/gateway/integrations/linear/lineartest"
)

// An admin cannot claim another company's Linear workspace: whatever
// organization_id and app_user_id say, the token's own viewer decides, and a
// mismatch (or a token Linear refuses) stores nothing. On both databases.
func TestLinearConnectChecksTheOrganization(t *testing.T) {
	t.Parallel()
	for name, env := range map[string]func(*testing.T) map[string]string{
		"postgres": pgEnv,
		"sqlite":   func(*testing.T) map[string]string { return map[string]string{} },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fake := lineartest.New("lin_api_victim_key", appUser, linOrg)
			t.Cleanup(fake.Close)
			vars := env(t)
			vars["LINEAR_WEBHOOK_SECRET"], vars["LINEAR_API_URL"] = "lin-secret", fake.URL
			g := startGateway(t, vars)
			orgID, _ := seed(t, g, true)
			admin := map[string]string{"Authorization": "Bearer " + adaToken(t, g, orgID, adminOf(t, g, orgID)), "Content-Type": "application/json"}
			base := g.url + "/api/v1/orgs/" + orgID + "/integrations/linear"
			refused := []struct {
				name, body, code string
				want             int
			}{
				{"another organization with both ids", `{"access_token":"lin_api_victim_key","organization_id":"another-company","app_user_id":"` + appUser + `"}`, "linear_organization_mismatch", 422},
				{"another organization", `{"access_token":"lin_api_victim_key","organization_id":"another-company"}`, "linear_organization_mismatch", 422},
				{"a token Linear refuses, with both ids", `{"access_token":"lin_api_made_up","organization_id":"` + linOrg + `","app_user_id":"` + appUser + `"}`, "linear_unreachable", 400},
			}
			for _, tc := range refused {
				code, ans := post2(t, "PUT", base, admin, tc.body)
				if code != tc.want || ans["error"] != tc.code {
					t.Errorf("%s: %d %v, want %d %s", tc.name, code, ans, tc.want, tc.code)
				}
			}
			if n := g.count(t, `SELECT COUNT(*) FROM linear_connections`); n != 0 {
				t.Fatalf("%d connections stored after refusals", n)
			}
			if n := g.count(t, `SELECT COUNT(*) FROM audit_log WHERE action = 'linear.connect'`); n != 0 {
				t.Fatalf("%d connects audited after refusals", n)
			}
			code, ans := post2(t, "PUT", base, admin, `{"access_token":"lin_api_victim_key","organization_id":"`+linOrg+`","app_user_id":"`+appUser+`"}`)
			if code != 200 || ans["organization_id"] != linOrg || ans["app_user_id"] != appUser {
				t.Fatalf("connect with the token's own organization = %d %v", code, ans)
			}
		})
	}
}
