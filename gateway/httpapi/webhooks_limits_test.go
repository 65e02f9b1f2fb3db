// Bounded webhook intake: each source's body cap (GitHub's own 25 MB
// maximum, 1 MB for Linear) and the cap on requests received at once.
package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/tryreplicas/gateway/gateway/httpapi"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/integrations/intake"
)

// memDeliveries records deliveries in memory (the limits come before any
// storage).
type memDeliveries struct {
	mu   sync.Mutex
	seen int
}

func (m *memDeliveries) Record(_ context.Context, d intake.Delivery) (intake.Delivery, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seen++
	return d, false, nil
}
func (m *memDeliveries) List(context.Context, string, int) ([]intake.Record, error) { return nil, nil }
func (m *memDeliveries) Get(context.Context, string) (intake.Record, error) {
	return intake.Record{}, intake.ErrNotFound
}
func (m *memDeliveries) Replay(context.Context, string, string) error { return nil }

func limitsHandler(maxInflight int) (http.Handler, *memDeliveries) {
	m := &memDeliveries{}
	h := httpapi.New(httpapi.Deps{Logger: sqldbtest.Logger(), Deliveries: m, WebhookMaxInflight: maxInflight,
		Webhooks: map[string]httpapi.WebhookVerifier{"github": headerVerifier{}, "linear": headerVerifier{}}}).Handler()
	return h, m
}

func TestWebhookBodyCapBySource(t *testing.T) {
	t.Parallel()
	h, m := limitsHandler(0)
	cases := []struct {
		source string
		size   int
		status int
	}{
		{"linear", httpapi.SmallWebhookBodyLimit, 200},
		{"linear", httpapi.SmallWebhookBodyLimit + 1, 413},
		{"linear", 5 << 20, 413},
		{"github", httpapi.SmallWebhookBodyLimit + 1, 200},
		{"github", httpapi.WebhookBodyLimit, 200},
		{"github", httpapi.WebhookBodyLimit + 1, 413},
	}
	for _, tc := range cases {
		rec := postWebhook(t, h, "/webhooks/"+tc.source, "good", "d-size", bytes.Repeat([]byte("x"), tc.size))
		if rec.Code != tc.status {
			t.Errorf("%s body of %d bytes: %d %s, want %d", tc.source, tc.size, rec.Code, rec.Body, tc.status)
		}
		if tc.status == 413 && decode(t, rec)["error"] != "too_large" {
			t.Errorf("%s body of %d bytes: %s, want too_large", tc.source, tc.size, rec.Body)
		}
	}
	if m.seen != 3 {
		t.Errorf("%d deliveries recorded, want 3 (refused bodies record nothing)", m.seen)
	}
}

// heldBody is a request body whose sender is slow: its first Read reports
// that the server is receiving it, then waits for release.
type heldBody struct {
	receiving chan<- struct{}
	release   <-chan struct{}
	once      sync.Once
	r         io.Reader
}

func (b *heldBody) Read(p []byte) (int, error) {
	b.once.Do(func() {
		b.receiving <- struct{}{}
		<-b.release
	})
	return b.r.Read(p)
}

func (b *heldBody) Close() error { return nil }

func TestWebhookInflightCap(t *testing.T) {
	t.Parallel()
	const capacity = 3
	h, m := limitsHandler(capacity)
	receiving := make(chan struct{})
	release := make(chan struct{})
	held := make(chan *httptest.ResponseRecorder, capacity)
	for i := 0; i < capacity; i++ {
		source := []string{"github", "linear"}[i%2]
		req := httptest.NewRequest(http.MethodPost, "/webhooks/"+source, nil)
		req.Body = &heldBody{receiving: receiving, release: release, r: bytes.NewReader([]byte(`{"action":"created"}`))}
		req.Header.Set("X-Test-Signature", "good")
		req.Header.Set("X-Test-Delivery", "held")
		go func() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			held <- rec
		}()
	}
	for i := 0; i < capacity; i++ {
		<-receiving // every held request is being received
	}

	// One more, of either source, is refused at once without being read.
	for _, source := range []string{"github", "linear"} {
		rec := postWebhook(t, h, "/webhooks/"+source, "good", "extra", []byte(`{"action":"created"}`))
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || decode(t, rec)["error"] != "busy" {
			t.Fatalf("%s delivery over the cap: %d (Retry-After %q) %s, want 503 busy with Retry-After",
				source, rec.Code, rec.Header().Get("Retry-After"), rec.Body)
		}
	}
	// The rest of the server is not affected.
	if code, _ := call(t, h, http.MethodGet, "/healthz", "", ""); code != http.StatusOK {
		t.Fatalf("healthz while webhooks are at the cap: %d", code)
	}

	close(release)
	for i := 0; i < capacity; i++ {
		if rec := <-held; rec.Code != http.StatusOK {
			t.Fatalf("held delivery: %d %s", rec.Code, rec.Body)
		}
	}
	// The slots are free again.
	if rec := postWebhook(t, h, "/webhooks/linear", "good", "after", []byte(`{"action":"created"}`)); rec.Code != http.StatusOK {
		t.Fatalf("delivery after the held ones: %d %s", rec.Code, rec.Body)
	}
	if m.seen != capacity+1 {
		t.Fatalf("%d deliveries recorded, want %d", m.seen, capacity+1)
	}
}
