package httpapi_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/github"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// TestMessagesAPI: the workspace reads its conversation with its token; its
// owner (only) adds to it; cursors and waits are checked.
func TestMessagesAPI(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, []sqldb.Set{identity.Migrations, launch.Migrations, github.Migrations}, func(t *testing.T, db *sqldb.DB) {
		a := bootstrapOrg(t, db, "org-a", "admin@a.example")
		gh := github.NewStore()
		install(t, db, gh, github.Installation{ID: 10, AccountLogin: "acme", AccountID: 1, AccountType: "Organization", Status: "active", RepositorySelection: "selected"}, a.Org.ID, "acme/app")
		h, keys := workspaceAPI(t, db, apiChain{}, gh)
		miaID, tokMia := join(t, h, a.Org.ID, a.Token, "mia@a.example")
		_, made := call(t, h, "POST", "/api/v1/orgs/"+a.Org.ID+"/workspaces", tokMia,
			`{"task":{"title":"Fix the flaky test","body":"see CI"},"repository":{"full_name":"acme/app"}}`)
		id := made["id"].(string)
		wsTok := workspaceToken(t, db, keys, id)

		cases := []struct {
			name, method, path, token, body string
			want                            int
			seqs                            string
		}{
			{"first message is the task", "GET", "/api/v1/workspace/messages", wsTok, "", 200, "[1]"},
			{"an API token is not a workspace token", "GET", "/api/v1/workspace/messages", tokMia, "", 401, ""},
			{"after the last: none", "GET", "/api/v1/workspace/messages?after=1", wsTok, "", 200, "[]"},
			{"bad cursor", "GET", "/api/v1/workspace/messages?after=x", wsTok, "", 400, ""},
			{"negative cursor", "GET", "/api/v1/workspace/messages?after=-1", wsTok, "", 400, ""},
			{"wait too long", "GET", "/api/v1/workspace/messages?wait=61", wsTok, "", 400, ""},
			{"wait overflowing", "GET", "/api/v1/workspace/messages?wait=9223372036854775807", wsTok, "", 400, ""},
			{"admin cannot speak for the owner", "POST", "/api/v1/workspaces/" + id + "/messages", a.Token, `{"body":"hi"}`, 404, ""},
			{"empty body", "POST", "/api/v1/workspaces/" + id + "/messages", tokMia, `{"body":" "}`, 400, ""},
			{"owner sends", "POST", "/api/v1/workspaces/" + id + "/messages", tokMia, `{"body":"also the lint"}`, 201, ""},
			{"short wait returns at once when there is one", "GET", "/api/v1/workspace/messages?after=1&wait=5", wsTok, "", 200, "[2]"},
			{"all in order", "GET", "/api/v1/workspace/messages?after=0&wait=1", wsTok, "", 200, "[1 2]"},
		}
		for _, tc := range cases {
			code, body := call(t, h, tc.method, tc.path, tc.token, tc.body)
			if code != tc.want {
				t.Errorf("%s: %d %v, want %d", tc.name, code, body, tc.want)
				continue
			}
			if tc.seqs == "" {
				continue
			}
			list, _ := body["messages"].([]any)
			var seqs []any
			for _, m := range list {
				seqs = append(seqs, m.(map[string]any)["seq"])
			}
			if got := fmt.Sprint(seqs); got != tc.seqs && !(tc.seqs == "[]" && got == "[]") {
				t.Errorf("%s: seqs %s, want %s (%v)", tc.name, got, tc.seqs, body)
			}
			if tc.seqs == "[1]" {
				m := list[0].(map[string]any)
				author := m["author"].(map[string]any)
				if m["kind"] != "prompt" || m["body"] != "see CI" || author["user_id"] != miaID || author["email"] != "mia@a.example" {
					t.Errorf("message 1 = %v", m)
				}
			}
		}
		// A held poll outlives the server's write timeout: it sets its own
		// deadline past its wait (the gateway's server: 60 s for waits up to 60 s).
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: h, WriteTimeout: 500 * time.Millisecond}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		req, _ := http.NewRequest(http.MethodGet, "http://"+ln.Addr().String()+"/api/v1/workspace/messages?after=2&wait=1", nil)
		req.Header.Set("Authorization", "Bearer "+wsTok)
		began := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("held poll cut by the write timeout: %v", err)
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || !strings.Contains(string(raw), `"messages":[]`) || time.Since(began) < time.Second {
			t.Fatalf("held poll: %d %s %v after %s", resp.StatusCode, raw, err, time.Since(began))
		}

		if code, _ := call(t, h, "POST", "/api/v1/workspaces/"+id+"/cancel", tokMia, ""); code != http.StatusOK {
			t.Fatal(code)
		}
		if code, body := call(t, h, "GET", "/api/v1/workspace/messages", wsTok, ""); code != 401 {
			t.Errorf("messages after cancel: %d %v", code, body)
		}
	})
}
