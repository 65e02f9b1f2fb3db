package workspaceclient_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/credstore/workspaceclient"
)

// fakeConversation serves messages 1..n; answers listed in fail (by request
// number) are errors instead, and after n the token is refused.
type fakeConversation struct {
	mu       sync.Mutex
	n        int64
	requests int
	fail     map[int]int // request number → status
	afters   []string
	revoked  bool
}

func (f *fakeConversation) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	f.afters = append(f.afters, r.URL.Query().Get("after")+"/"+r.URL.Query().Get("wait"))
	if r.Header.Get("Authorization") != "Bearer ws-token" || f.revoked {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if code := f.fail[f.requests]; code != 0 {
		w.WriteHeader(code)
		return
	}
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	// Answer at most two per poll, so the cursor has to move.
	out := `{"messages":[`
	for seq, sent := after+1, 0; seq <= f.n && sent < 2; seq, sent = seq+1, sent+1 {
		if sent > 0 {
			out += ","
		}
		out += fmt.Sprintf(`{"seq":%d,"kind":"prompt","body":"m%d","author":{"user_id":"usr_1"}}`, seq, seq)
	}
	if after >= f.n {
		f.revoked = true // the next poll finds the workspace ended
	}
	_, _ = w.Write([]byte(out + `]}`))
}

func TestMessagesIterator(t *testing.T) {
	t.Parallel()
	f := &fakeConversation{n: 5, fail: map[int]int{2: http.StatusServiceUnavailable, 3: http.StatusBadGateway}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := &workspaceclient.Client{BaseURL: srv.URL, Token: "ws-token", Backoff: time.Millisecond, PollWait: 7 * time.Second}
	var got []int64
	var end error
	for m, err := range c.Messages(context.Background(), 1) {
		if err != nil {
			end = err
			break
		}
		got = append(got, m.Seq)
	}
	if fmt.Sprint(got) != "[2 3 4 5]" || !errors.Is(end, workspaceclient.ErrWorkspaceEnded) {
		t.Fatalf("got %v, ended with %v", got, end)
	}
	// The cursor resumed where it was after the errors; the wait was sent.
	if fmt.Sprint(f.afters) != "[1/7 3/7 3/7 3/7 5/7 5/7]" {
		t.Fatalf("polls: %v", f.afters)
	}
}

func TestMessagesIteratorStops(t *testing.T) {
	t.Parallel()
	f := &fakeConversation{n: 10, fail: map[int]int{}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := &workspaceclient.Client{BaseURL: srv.URL, Token: "ws-token"}
	// Breaking out of the loop stops polling.
	n := 0
	for _, err := range c.Messages(context.Background(), 0) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 3 {
			break
		}
	}
	// A cancelled context ends the sequence with its error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, err := range c.Messages(ctx, 0) {
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled: %v", err)
		}
	}
	// A request the gateway refuses ends it too.
	bad := &workspaceclient.Client{BaseURL: srv.URL, Token: "wrong"}
	for _, err := range bad.Messages(context.Background(), 0) {
		if !errors.Is(err, workspaceclient.ErrWorkspaceEnded) {
			t.Fatalf("refused: %v", err)
		}
	}
}
