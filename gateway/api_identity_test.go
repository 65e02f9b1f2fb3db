package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tryreplicas/gateway/credstore"
	"github.com/tryreplicas/gateway/gateway"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/identity"
)

// call sends a JSON request to h and decodes the JSON answer.
func call(t *testing.T, h http.Handler, method, path, token, body string) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	out := map[string]any{}
	if rec.Body.Len() > 0 {
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s %s: answer is not JSON: %q", method, path, rec.Body.String())
		}
	}
	return rec.Code, out
}

func newServer(t *testing.T, db *sqldb.DB) http.Handler {
	ids := identity.NewStore()
	keys, err := credstore.NewKeyring([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return gateway.New(gateway.Deps{Logger: sqldbtest.Logger(), DB: db, Identity: ids, Credentials: credstore.NewStore(keys, ids)}).Handler()
}

func TestIdentityAPI(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, []sqldb.Set{identity.Migrations}, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		ids := identity.NewStore()
		orgA, adminA, tokA, err := ids.Bootstrap(ctx, db, "org-a", "admin@a.example", "Admin A")
		if err != nil {
			t.Fatal(err)
		}
		orgB, _, tokB, err := ids.Bootstrap(ctx, db, "org-b", "admin@b.example", "Admin B")
		if err != nil {
			t.Fatal(err)
		}
		h := newServer(t, db)

		code, me := call(t, h, "GET", "/api/v1/me", tokA, "")
		if code != 200 || me["id"] != adminA.ID || me["role"] != "admin" {
			t.Fatalf("me = %d %v", code, me)
		}
		code, member := call(t, h, "POST", "/api/v1/orgs/"+orgA.ID+"/members", tokA, `{"email":"Mia@A.example","name":"Mia","role":"member"}`)
		if code != 201 || member["email"] != "mia@a.example" {
			t.Fatalf("add member = %d %v", code, member)
		}
		miaID := member["id"].(string)
		code, tok := call(t, h, "POST", "/api/v1/orgs/"+orgA.ID+"/members/"+miaID+"/tokens", tokA, "")
		if code != 201 || !strings.HasPrefix(tok["token"].(string), "rpl_") {
			t.Fatalf("issue token = %d %v", code, tok)
		}
		tokMia := tok["token"].(string)

		cases := []struct {
			name, method, path, token, body string
			want                            int
			wantErr                         string
		}{
			{"no token", "GET", "/api/v1/me", "", "", 401, "unauthorized"},
			{"wrong token", "GET", "/api/v1/me", tokA + "x", "", 401, "unauthorized"},
			{"malformed header", "GET", "/api/v1/me", "", "", 401, "unauthorized"},
			{"member reads me", "GET", "/api/v1/me", tokMia, "", 200, ""},
			{"member cannot add members", "POST", "/api/v1/orgs/" + orgA.ID + "/members", tokMia, `{"email":"x@a.example"}`, 403, "forbidden"},
			{"member cannot mint tokens for admin", "POST", "/api/v1/orgs/" + orgA.ID + "/members/" + adminA.ID + "/tokens", tokMia, "", 403, "forbidden"},
			{"member mints own token", "POST", "/api/v1/orgs/" + orgA.ID + "/members/" + miaID + "/tokens", tokMia, "", 201, ""},
			{"org B admin cannot add to org A", "POST", "/api/v1/orgs/" + orgA.ID + "/members", tokB, `{"email":"x@b.example"}`, 403, "forbidden"},
			{"org B admin cannot list org A", "GET", "/api/v1/orgs/" + orgA.ID + "/members", tokB, "", 403, "forbidden"},
			{"org B admin cannot mint org A tokens", "POST", "/api/v1/orgs/" + orgA.ID + "/members/" + miaID + "/tokens", tokB, "", 403, "forbidden"},
			{"org A admin cannot mint token for a non-member", "POST", "/api/v1/orgs/" + orgA.ID + "/members/usr_nobody/tokens", tokA, "", 404, "not_found"},
			{"org A admin cannot read org B audit", "GET", "/api/v1/orgs/" + orgB.ID + "/audit", tokA, "", 403, "forbidden"},
			{"bad role", "POST", "/api/v1/orgs/" + orgA.ID + "/members", tokA, `{"email":"y@a.example","role":"owner"}`, 400, "invalid_request"},
			{"bad email", "POST", "/api/v1/orgs/" + orgA.ID + "/members", tokA, `{"email":"nope"}`, 400, "invalid_request"},
			{"malformed json", "POST", "/api/v1/orgs/" + orgA.ID + "/members", tokA, `{"email":`, 400, "invalid_request"},
			{"unknown route", "GET", "/api/v1/nothing", tokA, "", 404, "not_found"},
			{"audit log for admin", "GET", "/api/v1/orgs/" + orgA.ID + "/audit", tokA, "", 200, ""},
		}
		for _, tc := range cases {
			code, body := call(t, h, tc.method, tc.path, tc.token, tc.body)
			if code != tc.want {
				t.Errorf("%s: status = %d, want %d (%v)", tc.name, code, tc.want, body)
			}
			if tc.wantErr != "" && (body["error"] != tc.wantErr || body["message"] == "") {
				t.Errorf("%s: body = %v, want error %q with a message", tc.name, body, tc.wantErr)
			}
		}
	})
}

func TestHealthReadyMetrics(t *testing.T) {
	t.Parallel()
	db := sqldbtest.New(t, sqldb.SQLite, identity.Migrations)
	h := newServer(t, db)
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := call(t, h, "GET", path, "", ""); code != 200 {
			t.Errorf("%s = %d %v", path, code, body)
		}
	}
	req := httptest.NewRequest("GET", "/metrics", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if !strings.Contains(rec.Body.String(), `replicas_http_requests_total{method="GET",route="/readyz",status="200"} 1`) {
		t.Errorf("metrics miss the readyz request:\n%s", rec.Body.String())
	}
	if rec.Header().Get("X-Request-ID") == "" {
		t.Error("no request id header")
	}
	db.Close()
	if code, body := call(t, h, "GET", "/readyz", "", ""); code != 503 {
		t.Errorf("readyz with the database closed = %d %v", code, body)
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	db := sqldbtest.New(t, sqldb.SQLite, identity.Migrations)
	ctx := context.Background()
	org, _, tok, err := identity.NewStore().Bootstrap(ctx, db, "acme", "a@example.com", "")
	if err != nil {
		t.Fatal(err)
	}
	big := `{"email":"b@example.com","name":"` + strings.Repeat("x", gateway.APIBodyLimit) + `"}`
	code, body := call(t, newServer(t, db), "POST", "/api/v1/orgs/"+org.ID+"/members", tok, big)
	if code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body = %d %v", code, body)
	}
}
