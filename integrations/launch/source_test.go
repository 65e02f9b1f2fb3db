package launch_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// Source details are typed, and their JSON is what the untyped details map
// wrote: rows stored before decode into the typed fields on both databases,
// and a new row stores the same bytes an old one holds.
func TestSourceDetailsKeepTheirJSON(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		old  string // the source column as the details map wrote it
		want launch.Source
	}{
		{"github",
			`{"kind":"github","url":"https://github.com/Codertocat/Hello-World/pull/1#issuecomment-492700400","details":{"comment_id":"492700400","comment_kind":"issue_comment","installation_id":"1","pull_request":"1","repository":"Codertocat/Hello-World","sender":"Codertocat"}}`,
			launch.Source{Kind: launch.SourceGitHub, URL: "https://github.com/Codertocat/Hello-World/pull/1#issuecomment-492700400", GitHub: &launch.GitHubSource{
				CommentID: 492700400, CommentKind: "issue_comment", InstallationID: 1, PullRequest: 1, Repository: "Codertocat/Hello-World", Sender: "Codertocat"}}},
		{"linear session",
			`{"kind":"linear","url":"https://linear.app/acme/issue/ENG-42","details":{"agent_session_id":"session-1","identifier":"ENG-42","issue_id":"issue-1","organization_id":"lin-org","team":"ENG"}}`,
			launch.Source{Kind: launch.SourceLinear, URL: "https://linear.app/acme/issue/ENG-42", Linear: &launch.LinearSource{
				AgentSessionID: "session-1", Identifier: "ENG-42", IssueID: "issue-1", OrganizationID: "lin-org", Team: "ENG"}}},
		{"linear issue",
			`{"kind":"linear","url":"https://linear.app/acme/issue/ENG-43","details":{"identifier":"ENG-43","issue_id":"issue-2","organization_id":"lin-org"}}`,
			launch.Source{Kind: launch.SourceLinear, URL: "https://linear.app/acme/issue/ENG-43", Linear: &launch.LinearSource{
				Identifier: "ENG-43", IssueID: "issue-2", OrganizationID: "lin-org"}}},
		{"api", `{"kind":"api","details":{"requested_by":"usr_1"}}`,
			launch.Source{Kind: launch.SourceAPI, API: &launch.APISource{RequestedBy: "usr_1"}}},
		{"no details", `{"kind":"test"}`, launch.Source{Kind: "test"}},
	}
	for _, d := range sqldbtest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, s, _, _ := setup(t, d, &launch.DryRunLauncher{Dir: t.TempDir()})
			for _, tc := range cases {
				tr := trigger("source-" + tc.name)
				tr.Source = tc.want
				w, err := create(t, db, s, tr)
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				var stored string
				if err := db.QueryRow(ctx, `SELECT source FROM workspaces WHERE id = $1`, w.ID).Scan(&stored); err != nil {
					t.Fatal(err)
				}
				if stored != tc.old {
					t.Errorf("%s: stored %s, want %s", tc.name, stored, tc.old)
				}
				if _, err := db.Exec(ctx, `UPDATE workspaces SET source = $1 WHERE id = $2`, tc.old, w.ID); err != nil {
					t.Fatal(err)
				}
				got, err := s.Store().Get(ctx, db, w.ID)
				if err != nil {
					t.Fatalf("%s: decode the old row: %v", tc.name, err)
				}
				if !reflect.DeepEqual(got.Source, tc.want) {
					t.Errorf("%s: decoded %+v, want %+v", tc.name, got.Source, tc.want)
				}
				b, err := json.Marshal(launch.NewRequest(got, "https://gw.example", "rpw_x"))
				if err != nil {
					t.Fatal(err)
				}
				var req struct{ Source json.RawMessage }
				if err := json.Unmarshal(b, &req); err != nil || string(req.Source) != tc.old {
					t.Errorf("%s: launch request source %s, want %s (%v)", tc.name, req.Source, tc.old, err)
				}
			}
		})
	}
}
