package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/tryreplicas/gateway/credstore"
	"github.com/tryreplicas/gateway/gateway/httpapi"
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
	return httpapi.New(httpapi.Deps{Logger: sqldbtest.Logger(), DB: db, Identity: identity.NewService(db, ids), Credentials: credstore.NewService(db, credstore.NewStore(keys, ids), ids), PublicURL: "http://gateway.test"}).Handler()
}

// org is a bootstrapped org with its first admin and the admin's token.
type org struct {
	identity.Org
	Admin identity.User
	Token string
}

// bootstrapOrg creates org slug with its first admin (email).
func bootstrapOrg(t *testing.T, db *sqldb.DB, slug, email string) org {
	t.Helper()
	o, admin, tok, err := identity.NewStore().Bootstrap(context.Background(), db, slug, email, "")
	if err != nil {
		t.Fatal(err)
	}
	return org{Org: o, Admin: admin, Token: tok}
}

// join invites email into org with the admin's token and accepts the link
// without authentication (an email of no user yet): the new member's id and
// first API token.
func join(t *testing.T, h http.Handler, orgID, adminTok, email string) (userID, token string) {
	t.Helper()
	code, inv := call(t, h, "POST", "/api/v1/orgs/"+orgID+"/members", adminTok, `{"email":"`+email+`","name":"Someone"}`)
	if code != 201 {
		t.Fatalf("invite %s = %d %v", email, code, inv)
	}
	code, acc := call(t, h, "POST", "/api/v1/invitations/"+linkToken(t, inv)+"/accept", "", "")
	if code != 201 || acc["user_id"] == nil || !strings.HasPrefix(fmt.Sprint(acc["token"]), "rpl_") {
		t.Fatalf("accept %s = %d %v", email, code, acc)
	}
	return acc["user_id"].(string), acc["token"].(string)
}

// miaTokenID is the id of a user's first API token.
func miaTokenID(t *testing.T, db *sqldb.DB, userID string) string {
	t.Helper()
	var id string
	if err := db.QueryRow(context.Background(), `SELECT id FROM api_tokens WHERE user_id = $1 ORDER BY created_at LIMIT 1`, userID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// linkToken is the token at the end of an invitation's url.
func linkToken(t *testing.T, inv map[string]any) string {
	t.Helper()
	u, _ := inv["url"].(string)
	_, tok, ok := strings.Cut(u, "/invitations/")
	if !ok || !strings.HasPrefix(u, "http://gateway.test/invitations/") || tok == "" {
		t.Fatalf("invitation url = %q", u)
	}
	return tok
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
		code, inv := call(t, h, "POST", "/api/v1/orgs/"+orgA.ID+"/members", tokA, `{"email":"Mia@A.example","name":"Mia","role":"member"}`)
		if code != 201 || inv["email"] != "mia@a.example" || inv["role"] != "member" || inv["invitation_id"] == nil || inv["expires_at"] == nil {
			t.Fatalf("invite member = %d %v", code, inv)
		}
		code, acc := call(t, h, "POST", "/api/v1/invitations/"+linkToken(t, inv)+"/accept", "", "")
		if code != 201 || acc["org_id"] != orgA.ID || !strings.HasPrefix(fmt.Sprint(acc["token"]), "rpl_") {
			t.Fatalf("accept = %d %v", code, acc)
		}
		miaID, tokMia := acc["user_id"].(string), acc["token"].(string)
		if code, again := call(t, h, "POST", "/api/v1/invitations/"+linkToken(t, inv)+"/accept", "", ""); code != 404 || again["error"] != "invitation_not_found" {
			t.Errorf("second use of the link = %d %v", code, again)
		}

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
			{"nobody mints tokens for another member", "POST", "/api/v1/orgs/" + orgA.ID + "/members/" + miaID + "/tokens", tokA, "", 404, "not_found"},
			{"member mints own token", "POST", "/api/v1/me/tokens", tokMia, "", 201, ""},
			{"member cannot mint a token for an org they are not in", "POST", "/api/v1/me/tokens", tokMia, `{"org":"` + orgB.ID + `"}`, 403, "forbidden"},
			{"member cannot list invitations", "GET", "/api/v1/orgs/" + orgA.ID + "/invitations", tokMia, "", 403, "forbidden"},
			{"member cannot mint org tokens", "POST", "/api/v1/orgs/" + orgA.ID + "/tokens", tokMia, "", 403, "forbidden"},
			{"admin cannot revoke a member's own token", "DELETE", "/api/v1/orgs/" + orgA.ID + "/tokens/" + miaTokenID(t, db, miaID), tokA, "", 404, "not_found"},
			{"member cannot change roles", "PATCH", "/api/v1/orgs/" + orgA.ID + "/members/" + miaID, tokMia, `{"role":"admin"}`, 403, "forbidden"},
			{"member cannot remove the admin", "DELETE", "/api/v1/orgs/" + orgA.ID + "/members/" + adminA.ID, tokMia, "", 403, "forbidden"},
			{"org B admin cannot add to org A", "POST", "/api/v1/orgs/" + orgA.ID + "/members", tokB, `{"email":"x@b.example"}`, 403, "forbidden"},
			{"org B admin cannot list org A", "GET", "/api/v1/orgs/" + orgA.ID + "/members", tokB, "", 403, "forbidden"},
			{"org B admin cannot remove org A members", "DELETE", "/api/v1/orgs/" + orgA.ID + "/members/" + miaID, tokB, "", 403, "forbidden"},
			{"org A admin cannot read org B audit", "GET", "/api/v1/orgs/" + orgB.ID + "/audit", tokA, "", 403, "forbidden"},
			{"re-inviting a member", "POST", "/api/v1/orgs/" + orgA.ID + "/members", tokA, `{"email":"MIA@a.example"}`, 409, "already_member"},
			{"bad role", "POST", "/api/v1/orgs/" + orgA.ID + "/members", tokA, `{"email":"y@a.example","role":"owner"}`, 400, "invalid_request"},
			{"bad email", "POST", "/api/v1/orgs/" + orgA.ID + "/members", tokA, `{"email":"nope"}`, 400, "invalid_request"},
			{"email of 5000 characters", "POST", "/api/v1/orgs/" + orgA.ID + "/members", tokA, `{"email":"` + strings.Repeat("a", 4990) + `@a.example"}`, 400, "invalid_request"},
			{"email of 255 characters", "POST", "/api/v1/orgs/" + orgA.ID + "/members", tokA, `{"email":"` + strings.Repeat("a", 245) + `@a.example"}`, 400, "invalid_request"},
			{"email with two @", "POST", "/api/v1/orgs/" + orgA.ID + "/members", tokA, `{"email":"a@b@a.example"}`, 400, "invalid_request"},
			{"email with a space", "POST", "/api/v1/orgs/" + orgA.ID + "/members", tokA, `{"email":"a b@a.example"}`, 400, "invalid_request"},
			{"email with a control character", "POST", "/api/v1/orgs/" + orgA.ID + "/members", tokA, `{"email":"a\u0007b@a.example"}`, 400, "invalid_request"},
			{"email with a newline", "POST", "/api/v1/orgs/" + orgA.ID + "/members", tokA, `{"email":"ab@a.example\nBcc: x@evil.example"}`, 400, "invalid_request"},
			{"email of 254 characters", "POST", "/api/v1/orgs/" + orgA.ID + "/members", tokA, `{"email":"` + strings.Repeat("a", 244) + `@a.example"}`, 201, ""},
			{"demoting the last admin", "PATCH", "/api/v1/orgs/" + orgA.ID + "/members/" + adminA.ID, tokA, `{"role":"member"}`, 409, "last_admin"},
			{"the last admin leaving", "DELETE", "/api/v1/orgs/" + orgA.ID + "/members/" + adminA.ID, tokA, "", 409, "last_admin"},
			{"malformed json", "POST", "/api/v1/orgs/" + orgA.ID + "/members", tokA, `{"email":`, 400, "invalid_request"},
			{"unknown invitation", "POST", "/api/v1/invitations/rpi_nothing/accept", "", "", 404, "invitation_not_found"},
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

// TestCrossOrgTakeoverRefused is the attack of an admin of org B on Alice,
// a user of org A: inviting her email gives the attacker nothing that acts
// as her; only Alice's own acceptance makes her a member of B.
func TestCrossOrgTakeoverRefused(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, []sqldb.Set{identity.Migrations, credstore.Migrations}, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		a, b := bootstrapOrg(t, db, "org-a", "admin@a.example"), bootstrapOrg(t, db, "org-b", "mallory@b.example")
		orgA, tokA, orgB, tokB := a.Org, a.Token, b.Org, b.Token
		h := newServer(t, db)
		aliceID, tokAlice := join(t, h, orgA.ID, tokA, "alice@a.example")
		const secret = "sk-ant-api03-ALICESECRET-abcd"
		if code, body := call(t, h, "PUT", "/api/v1/me/credentials/claude/api_key", tokAlice, `{"api_key":"`+secret+`"}`); code != 200 {
			t.Fatalf("alice puts her key = %d %v", code, body)
		}

		// Mallory invites Alice's email: an invitation, not a member, not a token.
		code, inv := call(t, h, "POST", "/api/v1/orgs/"+orgB.ID+"/members", tokB, `{"email":"alice@a.example"}`)
		if code != 201 || inv["token"] != nil {
			t.Fatalf("invite alice = %d %v", code, inv)
		}
		if code, ms := call(t, h, "GET", "/api/v1/orgs/"+orgB.ID+"/members", tokB, ""); code != 200 || strings.Contains(fmt.Sprint(ms), aliceID) {
			t.Fatalf("alice is a member of B before accepting: %v", ms)
		}
		link := linkToken(t, inv)
		attempts := []struct {
			name, method, path, token, body string
			want                            int
		}{
			{"accept the link without signing in", "POST", "/api/v1/invitations/" + link + "/accept", "", "", 401},
			{"mint a token for alice", "POST", "/api/v1/orgs/" + orgB.ID + "/members/" + aliceID + "/tokens", tokB, "", 404},
			{"mint a token in org A", "POST", "/api/v1/me/tokens", tokB, `{"org":"` + orgA.ID + `"}`, 403},
			{"accept the link as mallory", "POST", "/api/v1/invitations/" + link + "/accept", tokB, "", 409},
		}
		for _, a := range attempts {
			if code, body := call(t, h, a.method, a.path, a.token, a.body); code != a.want {
				t.Errorf("%s = %d %v, want %d", a.name, code, body, a.want)
			}
		}
		// Accepting as Mallory makes Mallory (already a member of B) nothing
		// new, and Alice is still not in B.
		var n int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM memberships WHERE user_id = $1`, aliceID).Scan(&n); err != nil || n != 1 {
			t.Fatalf("alice's memberships = %d (%v), want only org A", n, err)
		}
		// Nothing Mallory holds reads or replaces Alice's credentials.
		for _, tok := range []string{tokB} {
			if code, body := call(t, h, "GET", "/api/v1/me/credentials", tok, ""); code != 200 || strings.Contains(fmt.Sprint(body), "ALICE") || strings.Contains(fmt.Sprint(body), "abcd") {
				t.Errorf("mallory's /me/credentials = %d %v", code, body)
			}
		}
		if code, body := call(t, h, "GET", "/api/v1/orgs/"+orgB.ID+"/credentials/resolve?user="+aliceID, tokB, ""); code != 404 {
			t.Errorf("mallory resolves alice's chain = %d %v", code, body)
		}
		var adminTokens int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM api_tokens WHERE user_id = $1`, aliceID).Scan(&adminTokens); err != nil || adminTokens != 1 {
			t.Errorf("alice has %d API tokens (%v), want only her own", adminTokens, err)
		}

		// Alice herself accepts a fresh invitation with her own token.
		_, inv = call(t, h, "POST", "/api/v1/orgs/"+orgB.ID+"/members", tokB, `{"email":"alice@a.example"}`)
		if code, acc := call(t, h, "POST", "/api/v1/invitations/"+linkToken(t, inv)+"/accept", tokAlice, ""); code != 200 || acc["user_id"] != aliceID || acc["org_id"] != orgB.ID || acc["token"] != nil {
			t.Fatalf("alice accepts = %d %v", code, acc)
		}
		code, own := call(t, h, "POST", "/api/v1/me/tokens", tokAlice, `{"org":"org-b"}`)
		if code != 201 || own["org_id"] != orgB.ID {
			t.Fatalf("alice's own token for B = %d %v", code, own)
		}
		if code, me := call(t, h, "GET", "/api/v1/me", own["token"].(string), ""); code != 200 || me["id"] != aliceID {
			t.Fatalf("alice's B token = %d %v", code, me)
		}

		// Mallory removes Alice from B: her B tokens stop, her A token works.
		if code, body := call(t, h, "DELETE", "/api/v1/orgs/"+orgB.ID+"/members/"+aliceID, tokB, ""); code != 204 {
			t.Fatalf("remove alice = %d %v", code, body)
		}
		if code, _ := call(t, h, "GET", "/api/v1/me", own["token"].(string), ""); code != 401 {
			t.Errorf("alice's B token after removal = %d, want 401", code)
		}
		if code, _ := call(t, h, "GET", "/api/v1/me", tokAlice, ""); code != 200 {
			t.Errorf("alice's A token after removal from B = %d, want 200", code)
		}
		// Re-inviting her does not revive the old token.
		_, inv = call(t, h, "POST", "/api/v1/orgs/"+orgB.ID+"/members", tokB, `{"email":"alice@a.example"}`)
		call(t, h, "POST", "/api/v1/invitations/"+linkToken(t, inv)+"/accept", tokAlice, "")
		if code, _ := call(t, h, "GET", "/api/v1/me", own["token"].(string), ""); code != 401 {
			t.Errorf("alice's old B token after rejoining = %d, want 401", code)
		}
	})
}

// TestOrgAutomationTokens: admin-made tokens act in their org as admin, have
// no user, and have no personal powers.
func TestOrgAutomationTokens(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, []sqldb.Set{identity.Migrations, credstore.Migrations}, func(t *testing.T, db *sqldb.DB) {
		a, orgB := bootstrapOrg(t, db, "org-a", "admin@a.example"), bootstrapOrg(t, db, "org-b", "admin@b.example")
		orgA, tokA := a.Org, a.Token
		h := newServer(t, db)
		code, made := call(t, h, "POST", "/api/v1/orgs/"+orgA.ID+"/tokens", tokA, `{"name":"ci"}`)
		if code != 201 || !strings.HasPrefix(fmt.Sprint(made["token"]), "rpo_") {
			t.Fatalf("org token = %d %v", code, made)
		}
		ci := made["token"].(string)
		_, inv := call(t, h, "POST", "/api/v1/orgs/"+orgA.ID+"/members", tokA, `{"email":"new@a.example"}`)
		cases := []struct {
			name, method, path, body string
			want                     int
		}{
			{"me", "GET", "/api/v1/me", "", 403},
			{"me credentials", "GET", "/api/v1/me/credentials", "", 403},
			{"me put credential", "PUT", "/api/v1/me/credentials/claude/api_key", `{"api_key":"sk-ant-api03-x-abcd"}`, 403},
			{"me tokens", "POST", "/api/v1/me/tokens", "", 403},
			{"me preferences", "PUT", "/api/v1/me/preferences", `{"agent":"claude"}`, 403},
			{"accept an invitation", "POST", "/api/v1/invitations/" + linkToken(t, inv) + "/accept", "", 403},
			{"list members", "GET", "/api/v1/orgs/" + orgA.ID + "/members", "", 200},
			{"put an org credential", "PUT", "/api/v1/orgs/" + orgA.ID + "/credentials/claude/api_key", `{"api_key":"sk-ant-api03-ORG-wxyz"}`, 200},
			{"invite", "POST", "/api/v1/orgs/" + orgA.ID + "/members", `{"email":"bot-made@a.example"}`, 201},
			{"another org", "GET", "/api/v1/orgs/" + orgB.ID + "/members", "", 403},
		}
		for _, tc := range cases {
			if code, body := call(t, h, tc.method, tc.path, ci, tc.body); code != tc.want {
				t.Errorf("%s = %d %v, want %d", tc.name, code, body, tc.want)
			}
		}
		_, audit := call(t, h, "GET", "/api/v1/orgs/"+orgA.ID+"/audit", tokA, "")
		if !strings.Contains(fmt.Sprint(audit), "token:"+made["id"].(string)) {
			t.Errorf("audit does not name the org token as actor: %v", audit)
		}
		if code, _ := call(t, h, "DELETE", "/api/v1/orgs/"+orgA.ID+"/tokens/"+made["id"].(string), tokA, ""); code != 204 {
			t.Fatalf("revoke org token = %d", code)
		}
		if code, _ := call(t, h, "GET", "/api/v1/orgs/"+orgA.ID+"/members", ci, ""); code != 401 {
			t.Errorf("revoked org token = %d, want 401", code)
		}
	})
}

// TestInvitationSingleUseUnderConcurrency: of many simultaneous acceptances
// of one link, exactly one creates the user.
func TestInvitationSingleUseUnderConcurrency(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, []sqldb.Set{identity.Migrations}, func(t *testing.T, db *sqldb.DB) {
		o := bootstrapOrg(t, db, "org-a", "admin@a.example")
		h := newServer(t, db)
		_, inv := call(t, h, "POST", "/api/v1/orgs/"+o.ID+"/members", o.Token, `{"email":"race@a.example"}`)
		link := linkToken(t, inv)
		const n = 8
		codes := make(chan int, n)
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req := httptest.NewRequest("POST", "/api/v1/invitations/"+link+"/accept", nil)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				codes <- rec.Code
			}()
		}
		wg.Wait()
		close(codes)
		won := 0
		for c := range codes {
			switch c {
			case 201:
				won++
			case 404, 401, 409, 503:
			default:
				t.Errorf("unexpected status %d", c)
			}
		}
		if won != 1 {
			t.Errorf("%d acceptances won, want exactly 1", won)
		}
	})
}

// TestMembershipLifecycle: invitations listed and revoked, roles changed,
// a member leaving, and the operator's login link.
func TestMembershipLifecycle(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, []sqldb.Set{identity.Migrations}, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		ids := identity.NewStore()
		org, _, tok, err := ids.Bootstrap(ctx, db, "org-a", "admin@a.example", "")
		if err != nil {
			t.Fatal(err)
		}
		h := newServer(t, db)
		_, inv := call(t, h, "POST", "/api/v1/orgs/"+org.ID+"/members", tok, `{"email":"x@a.example"}`)
		_, again := call(t, h, "POST", "/api/v1/orgs/"+org.ID+"/members", tok, `{"email":"x@a.example","role":"admin"}`)
		code, list := call(t, h, "GET", "/api/v1/orgs/"+org.ID+"/invitations", tok, "")
		if items, _ := list["invitations"].([]any); code != 200 || len(items) != 1 || items[0].(map[string]any)["role"] != "admin" {
			t.Fatalf("invitations = %d %v, want only the newer one", code, list)
		}
		if code, _ := call(t, h, "POST", "/api/v1/invitations/"+linkToken(t, inv)+"/accept", "", ""); code != 404 {
			t.Errorf("a replaced invitation still works: %d", code)
		}
		if code, _ := call(t, h, "DELETE", "/api/v1/orgs/"+org.ID+"/invitations/"+again["invitation_id"].(string), tok, ""); code != 204 {
			t.Fatalf("revoke invitation = %d", code)
		}
		if code, _ := call(t, h, "POST", "/api/v1/invitations/"+linkToken(t, again)+"/accept", "", ""); code != 404 {
			t.Errorf("a revoked invitation still works: %d", code)
		}

		bobID, tokBob := join(t, h, org.ID, tok, "bob@a.example")
		if code, m := call(t, h, "PATCH", "/api/v1/orgs/"+org.ID+"/members/"+bobID, tok, `{"role":"admin"}`); code != 200 || m["role"] != "admin" {
			t.Fatalf("promote bob = %d %v", code, m)
		}
		if code, _ := call(t, h, "GET", "/api/v1/orgs/"+org.ID+"/invitations", tokBob, ""); code != 200 {
			t.Errorf("promoted bob lists invitations = %d", code)
		}
		if code, _ := call(t, h, "DELETE", "/api/v1/orgs/"+org.ID+"/members/"+bobID, tokBob, ""); code != 204 {
			t.Fatalf("bob leaves = %d", code)
		}
		if code, _ := call(t, h, "GET", "/api/v1/me", tokBob, ""); code != 401 {
			t.Errorf("bob's token after leaving = %d", code)
		}

		link, _, err := ids.IssueLoginLink(ctx, db, "admin@a.example")
		if err != nil {
			t.Fatal(err)
		}
		code, acc := call(t, h, "POST", "/api/v1/login-links/"+link+"/redeem", "", "")
		if code != 201 || acc["org_id"] != org.ID || !strings.HasPrefix(fmt.Sprint(acc["token"]), "rpl_") {
			t.Fatalf("redeem login link = %d %v", code, acc)
		}
		if code, _ := call(t, h, "POST", "/api/v1/login-links/"+link+"/redeem", "", ""); code != 404 {
			t.Errorf("login link used twice = %d", code)
		}
		if _, _, err := ids.IssueLoginLink(ctx, db, "nobody@a.example"); err == nil {
			t.Error("login link for an unknown email")
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
	big := `{"email":"b@example.com","name":"` + strings.Repeat("x", httpapi.APIBodyLimit) + `"}`
	code, body := call(t, newServer(t, db), "POST", "/api/v1/orgs/"+org.ID+"/members", tok, big)
	if code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body = %d %v", code, body)
	}
}
