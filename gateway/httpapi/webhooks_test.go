// The webhook endpoints and the deliveries API on both databases: verify,
// record, answer 200 accepted/duplicate; 401/400 from the verifier; 404 for
// an integration that is not configured; 413; 503 with Retry-After when the
// database is gone; listing and replay for admins of the delivery's org.
package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/httpapi"
	"github.com/tryreplicas/gateway/gateway/queue"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/intake"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// headerVerifier accepts X-Test-Signature "good", calls "garbled" malformed
// and refuses anything else.
type headerVerifier struct{}

func (headerVerifier) Verify(h http.Header, body []byte) (intake.Delivery, error) {
	switch h.Get("X-Test-Signature") {
	case "good":
		return intake.Delivery{DeliveryID: h.Get("X-Test-Delivery"), Event: "thing.happened", Body: body}, nil
	case "garbled":
		return intake.Delivery{}, errs.Invalid("the payload is not JSON")
	default:
		return intake.Delivery{}, errs.New(errs.ErrUnauthorized, "bad_signature", "invalid signature")
	}
}

// orgSource files every delivery under one org and launches nothing.
type orgSource struct{ orgID string }

func (orgSource) Name() string { return "test" }

func (s orgSource) Interpret(context.Context, intake.Delivery) (intake.Plan, error) {
	return intake.Plan{OrgID: s.orgID, Outcome: "ignored: test"}, nil
}

func postWebhook(t *testing.T, h http.Handler, path, sig, id string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("X-Test-Signature", sig)
	req.Header.Set("X-Test-Delivery", id)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func decode(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	out := map[string]any{}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("answer is not JSON: %q", rec.Body.String())
	}
	return out
}

func TestWebhooksAndDeliveries(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, []sqldb.Set{identity.Migrations, launch.Migrations, intake.Migrations}, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		ids := identity.NewStore()
		a, b := bootstrapOrg(t, db, "org-a", "admin@a.example"), bootstrapOrg(t, db, "org-b", "admin@b.example")
		orgA, adminA, adminB := a.Org, a.Token, b.Token
		member, err := ids.EnsureUser(ctx, db, "dev@a.example", "Dev")
		if err != nil {
			t.Fatal(err)
		}
		if err := ids.AddMember(ctx, db, orgA.ID, member.ID, identity.RoleMember); err != nil {
			t.Fatal(err)
		}
		memberTok, _, err := ids.IssueToken(ctx, db, orgA.ID, member.ID, member.ID)
		if err != nil {
			t.Fatal(err)
		}

		log := sqldbtest.Logger()
		q, err := queue.New(db, log, queue.Options{PollInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		svc := intake.NewService(db, q, nil, log) // the source never asks for a workspace
		svc.AddSource(orgSource{orgA.ID})
		events, unsubscribe := q.Subscribe(river.EventKindJobCompleted)
		defer unsubscribe()
		h := httpapi.New(httpapi.Deps{Logger: log, DB: db, Identity: identity.NewService(db, ids), Deliveries: svc,
			Webhooks: map[string]httpapi.WebhookVerifier{"test": headerVerifier{}}}).Handler()

		payload := []byte(`{"action":"created"}`)
		for _, want := range []string{"accepted", "duplicate", "duplicate"} {
			rec := postWebhook(t, h, "/webhooks/test", "good", "d-1", payload)
			if rec.Code != http.StatusOK {
				t.Fatalf("delivery: %d %s", rec.Code, rec.Body)
			}
			if got := decode(t, rec); len(got) != 2 || got["status"] != want || got["delivery_id"] != "d-1" {
				t.Fatalf("answer %v, want exactly status %q and delivery_id d-1", got, want)
			}
			if rec.Header().Get(httpapi.RequestIDHeader) == "" {
				t.Fatal("webhook answer has no request id")
			}
		}

		refusals := []struct {
			name, path, sig string
			body            []byte
			status          int
			code            string
		}{
			{"bad signature", "/webhooks/test", "forged", payload, 401, "bad_signature"},
			{"malformed", "/webhooks/test", "garbled", payload, 400, "invalid_request"},
			{"no delivery id", "/webhooks/test", "good", payload, 400, "invalid_request"},
			{"not configured", "/webhooks/linear", "good", payload, 404, "not_configured"},
			{"too large", "/webhooks/test", "good", bytes.Repeat([]byte("x"), httpapi.WebhookBodyLimit+1), 413, "too_large"},
		}
		for _, tt := range refusals {
			id := "d-refused"
			if tt.name == "no delivery id" {
				id = ""
			}
			rec := postWebhook(t, h, tt.path, tt.sig, id, tt.body)
			if got := decode(t, rec); rec.Code != tt.status || got["error"] != tt.code {
				t.Errorf("%s: %d %v, want %d %s", tt.name, rec.Code, got, tt.status, tt.code)
			}
		}
		if n := countRows(t, db, `SELECT COUNT(*) FROM deliveries`); n != 1 {
			t.Fatalf("%d deliveries stored, want 1 (refusals store nothing)", n)
		}

		// Process it, then list it.
		runCtx, stop := context.WithCancel(ctx)
		if err := q.Start(runCtx); err != nil {
			t.Fatal(err)
		}
		var stopped sync.Once
		stopQueue := func() {
			stopped.Do(func() {
				stop()
				c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = q.Stop(c)
			})
		}
		defer stopQueue()
		list := waitListed(t, h, events, orgA.ID, adminA, 1)
		d := list[0]
		if d["source"] != "test" || d["delivery_id"] != "d-1" || d["event"] != "thing.happened" || d["outcome"] != "ignored: test" ||
			d["state"] != "processed" || d["attempts"] != 1.0 || d["received_at"] == nil {
			t.Fatalf("listed delivery = %v", d)
		}
		id := d["id"].(string)

		access := []struct {
			name, method, path, token string
			status                    int
		}{
			{"member lists", "GET", "/api/v1/orgs/" + orgA.ID + "/deliveries", memberTok, 403},
			{"other org lists", "GET", "/api/v1/orgs/" + orgA.ID + "/deliveries", adminB, 403},
			{"no token", "GET", "/api/v1/orgs/" + orgA.ID + "/deliveries", "", 401},
			{"member replays", "POST", "/api/v1/deliveries/" + id + "/replay", memberTok, 403},
			{"other org replays", "POST", "/api/v1/deliveries/" + id + "/replay", adminB, 404},
			{"missing delivery", "POST", "/api/v1/deliveries/dlv_missing/replay", adminA, 404},
		}
		for _, tt := range access {
			if code, body := call(t, h, tt.method, tt.path, tt.token, ""); code != tt.status {
				t.Errorf("%s: %d %v, want %d", tt.name, code, body, tt.status)
			}
		}
		if code, body := call(t, h, "POST", "/api/v1/deliveries/"+id+"/replay", adminA, ""); code != http.StatusAccepted {
			t.Fatalf("replay: %d %v", code, body)
		}
		waitListed(t, h, events, orgA.ID, adminA, 1)
		if n := countRows(t, db, `SELECT COUNT(*) FROM river_job WHERE kind = 'process_delivery' AND state = 'completed'`); n != 2 {
			t.Fatalf("%d completed process jobs after a replay, want 2", n)
		}

		// The database goes away: every sender of a batch is told to retry.
		stopQueue() // before the database goes, or River retries resigning
		db.Close()
		svc.SetBatching(intake.Batching{Wait: time.Hour, Size: 3}) // the batch closes when all three joined
		recs := make(chan *httptest.ResponseRecorder, 3)
		for _, id := range []string{"d-2", "d-3", "d-2"} {
			go func() { recs <- postWebhook(t, h, "/webhooks/test", "good", id, payload) }()
		}
		for range 3 {
			rec := <-recs
			if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
				t.Fatalf("database down: %d (Retry-After %q) %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
			}
		}
	})
}

// waitListed waits on completed jobs until the org's list shows n processed
// deliveries, and returns it.
func waitListed(t *testing.T, h http.Handler, events <-chan *river.Event, orgID, token string, n int) []map[string]any {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		code, body := call(t, h, "GET", "/api/v1/orgs/"+orgID+"/deliveries", token, "")
		if code != http.StatusOK {
			t.Fatalf("list deliveries: %d %v", code, body)
		}
		raw, _ := body["deliveries"].([]any)
		var list []map[string]any
		processed := 0
		for _, x := range raw {
			d := x.(map[string]any)
			list = append(list, d)
			if d["state"] == "processed" {
				processed++
			}
		}
		if processed == n && len(list) == n {
			return list
		}
		select {
		case <-events:
		case <-timeout:
			t.Fatalf("deliveries never became %d processed: %v", n, list)
		}
	}
}

func countRows(t *testing.T, db *sqldb.DB, q string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
