// The trigger command against a receiver that checks the signatures
// independently (its own HMAC) and the rewritten payload fields.
package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func hmacHex(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// received is one request the fake gateway got.
type received struct {
	path string
	h    http.Header
	body map[string]any
	raw  []byte
}

func TestTriggerSignsAndRewrites(t *testing.T) {
	t.Parallel()
	const secret = "s3cret"
	got := make(chan received, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			http.Error(w, "not json", 400)
			return
		}
		got <- received{r.URL.Path, r.Header, body, raw}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"accepted","delivery_id":"x"}`))
	}))
	defer srv.Close()

	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, r received)
	}{
		{"github-mention", []string{"--login", "ada", "--github-id", "77", "--repo", "acme/app", "--pr", "12", "--body", "@tryreplicas fix it"}, func(t *testing.T, r received) {
			if r.path != "/webhooks/github" || r.h.Get("X-Hub-Signature-256") != "sha256="+hmacHex(secret, r.raw) ||
				r.h.Get("X-GitHub-Event") != "issue_comment" || r.h.Get("X-GitHub-Delivery") == "" {
				t.Fatalf("github request: path %s headers %v", r.path, r.h)
			}
			sender := r.body["sender"].(map[string]any)
			comment := r.body["comment"].(map[string]any)
			issue := r.body["issue"].(map[string]any)
			repo := r.body["repository"].(map[string]any)
			if r.body["action"] != "created" || sender["login"] != "ada" || sender["id"] != 77.0 || comment["body"] != "@tryreplicas fix it" ||
				issue["number"] != 12.0 || issue["pull_request"] == nil || repo["full_name"] != "acme/app" {
				t.Fatalf("github payload not rewritten: sender %v, comment body %v, issue %v/%v, repo %v", sender, comment["body"], issue["number"], issue["pull_request"], repo["full_name"])
			}
		}},
		{"linear-assign", []string{"--email", "dev@acme.example", "--issue", "issue-1"}, func(t *testing.T, r received) {
			if r.path != "/webhooks/linear" || r.h.Get("Linear-Signature") != hmacHex(secret, r.raw) ||
				r.h.Get("Linear-Event") != "Issue" || r.h.Get("Linear-Delivery") == "" {
				t.Fatalf("linear request: path %s headers %v", r.path, r.h)
			}
			data := r.body["data"].(map[string]any)
			actor := r.body["actor"].(map[string]any)
			from := r.body["updatedFrom"].(map[string]any)
			ts, _ := r.body["webhookTimestamp"].(float64)
			if age := time.Since(time.UnixMilli(int64(ts))); age < 0 || age > 10*time.Second {
				t.Fatalf("webhookTimestamp %v is not fresh", ts)
			}
			if r.body["type"] != "Issue" || r.body["action"] != "update" || data["id"] != "issue-1" || actor["email"] != "dev@acme.example" ||
				data["assigneeId"] == nil || data["assigneeId"] == from["assigneeId"] {
				t.Fatalf("linear payload: type %v action %v data.id %v actor %v assignee %v (was %v)", r.body["type"], r.body["action"], data["id"], actor, data["assigneeId"], from["assigneeId"])
			}
		}},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		args := append([]string{"trigger", tt.name, "--url", srv.URL, "--secret", secret}, tt.args...)
		if err := run(context.Background(), args, func(string) string { return "" }, &out, &errOut); err != nil {
			t.Fatalf("%s: %v: %s", tt.name, err, errOut.String())
		}
		if !strings.HasPrefix(out.String(), "200 ") || !strings.Contains(out.String(), `"accepted"`) {
			t.Fatalf("%s: printed %q, want the status and the answer", tt.name, out.String())
		}
		tt.check(t, <-got)
	}
	var errOut bytes.Buffer
	if err := run(context.Background(), []string{"trigger", "github-mention", "--url", srv.URL}, func(string) string { return "" }, io.Discard, &errOut); err == nil {
		t.Fatal("a trigger without --secret ran")
	}
}
