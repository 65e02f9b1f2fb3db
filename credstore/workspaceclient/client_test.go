package workspaceclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/credstore/workspaceclient"
)

// Every rejection report carries the credential id and the version it was
// handed out with, also when the gateway answers 503 and the report is sent
// again; the replay then uses what the gateway answered.
func TestRejectedAlwaysSendsTheVersion(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var reports []map[string]json.RawMessage
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer ws-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/api/v1/workspace/credential":
			_, _ = w.Write([]byte(`{"credential_id":"cred_1","version":7,"agent":"claude","method":"oauth","env":{"CLAUDE_CODE_OAUTH_TOKEN":"old"}}`))
		case "/api/v1/workspace/credential/rejected":
			var body map[string]json.RawMessage
			_ = json.NewDecoder(r.Body).Decode(&body)
			mu.Lock()
			reports = append(reports, body)
			first := len(reports) == 1
			mu.Unlock()
			if first { // the refresh outcome is unknown: retry
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte(`{"error":"refresh_unavailable","message":"retry"}`))
				return
			}
			_, _ = w.Write([]byte(`{"credential_id":"cred_1","version":8,"agent":"claude","method":"oauth","env":{"CLAUDE_CODE_OAUTH_TOKEN":"new"}}`))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	c := &workspaceclient.Client{BaseURL: srv.URL, Token: "ws-token", Backoff: time.Millisecond}
	var used []string
	err := c.Run(context.Background(), func(_ context.Context, cred workspaceclient.Credential) error {
		used = append(used, cred.Env["CLAUDE_CODE_OAUTH_TOKEN"])
		if cred.Version == 7 {
			return workspaceclient.ErrAuth
		}
		return nil
	})
	if err != nil || len(used) != 2 || used[1] != "new" {
		t.Fatalf("run = %v, used %v", err, used)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reports) != 2 {
		t.Fatalf("%d reports, want 2 (one 503, one retry)", len(reports))
	}
	for i, r := range reports {
		if string(r["credential_id"]) != `"cred_1"` || string(r["version"]) != "7" {
			t.Fatalf("report %d = %s / %s, want cred_1 at version 7", i, r["credential_id"], r["version"])
		}
	}
}

// A credential handed out at version 0 would be refused by the gateway: the
// version is sent as is, never left out.
func TestRejectedSendsVersionZero(t *testing.T) {
	t.Parallel()
	got := make(chan map[string]json.RawMessage, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]json.RawMessage
		_ = json.NewDecoder(r.Body).Decode(&body)
		got <- body
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"version_required","message":"version is required"}`))
	}))
	defer srv.Close()
	c := &workspaceclient.Client{BaseURL: srv.URL, Token: "t"}
	_, err := c.Rejected(context.Background(), workspaceclient.Credential{CredentialID: "cred_1"})
	var ex *workspaceclient.ExhaustedError
	if err == nil || errors.As(err, &ex) {
		t.Fatalf("err = %v, want the 400", err)
	}
	if v, ok := (<-got)["version"]; !ok || string(v) != "0" {
		t.Fatalf("version sent = %q (present %v)", v, ok)
	}
}
