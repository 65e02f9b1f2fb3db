// Messages across real processes on one PostgreSQL: a message sent through
// one `serve` process wakes a long poll held by another within a second, and
// a kill -9 of the process holding the poll loses nothing: the Go client
// resumes from its cursor once the process is back.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/credstore/workspaceclient"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/integrations/github/githubtest"
	"github.com/tryreplicas/gateway/integrations/launch"
)

func TestMessagesAcrossProcesses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	dsn, _ := sqldbtest.SchemaURL(t)
	fake, err := githubtest.New(4242)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	vars := map[string]string{
		"DATABASE_URL":            dsn,
		"REPLICAS_ENCRYPTION_KEY": testKey,
		"REPLICAS_DATA_DIR":       filepath.Join(dir, "data"),
		"REPLICAS_PUBLIC_URL":     "http://gateway.test",
		"GITHUB_APP_ID":           "4242",
		"GITHUB_APP_PRIVATE_KEY":  string(fake.PrivateKey),
		"GITHUB_API_URL":          fake.URL + "/",
	}
	envFor := func(addr string) []string { return append(childEnv(vars), "REPLICAS_ADDR="+addr) }

	// The seeder opens the database the way admin commands do: Ada, her API
	// token and a workspace whose token the test holds (as its launcher would).
	seeder, err := openApp(ctx, mustConfig(t, func(k string) string { return vars[k] }), sqldbtest.Logger(), queueInsertOnly)
	if err != nil {
		t.Fatal(err)
	}
	orgID, adaID := seed(t, &gw{app: seeder}, true)
	apiToken, _, err := seeder.identity.IssueToken(ctx, seeder.db, orgID, adaID, adaID)
	if err != nil {
		t.Fatal(err)
	}
	w, err := seeder.launch.Launch(ctx, launch.Trigger{OrgID: orgID, UserID: adaID, Source: launch.Source{Kind: launch.SourceAPI},
		Task: launch.Task{Title: "t", Body: "the task"}, Repository: launch.Repository{FullName: "acme/app"}})
	if err != nil {
		t.Fatal(err)
	}
	var keyID string
	var sealed []byte
	if err := seeder.db.QueryRow(ctx, `SELECT token_key_id, token_sealed FROM workspaces WHERE id = $1`, w.ID).Scan(&keyID, &sealed); err != nil {
		t.Fatal(err)
	}
	wsToken, err := seeder.keys.Open(keyID, sealed, []byte(w.ID))
	if err != nil {
		t.Fatal(err)
	}
	seeder.Close()

	logFile, err := os.Create(filepath.Join(dir, "gateway.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	addrA, addrB := freeAddr(t), freeAddr(t)
	baseA, baseB := "http://"+addrA, "http://"+addrB
	startProcess(t, bin, envFor(addrA), logFile, baseA)
	procB := startProcess(t, bin, envFor(addrB), logFile, baseB)

	send := func(body string) {
		t.Helper()
		b, _ := json.Marshal(map[string]string{"body": body})
		req, _ := http.NewRequest(http.MethodPost, baseA+"/api/v1/workspaces/"+w.ID+"/messages", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+apiToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("send through A answered %d", resp.StatusCode)
		}
	}
	poll := func(after int64) (int, time.Time) {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/api/v1/workspace/messages?after=%d&wait=30", baseB, after), nil)
		req.Header.Set("Authorization", "Bearer "+string(wsToken))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return 0, time.Now()
		}
		defer resp.Body.Close()
		var out struct{ Messages []launch.Message }
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Error(err)
		}
		return len(out.Messages), time.Now()
	}

	// Part 1: a long poll held by B wakes when A writes.
	var lags []time.Duration
	for i := range 10 {
		type answer struct {
			n  int
			at time.Time
		}
		got := make(chan answer, 1)
		go func() {
			n, at := poll(int64(i + 1))
			got <- answer{n, at}
		}()
		time.Sleep(300 * time.Millisecond) // let B's poll start waiting; it must work either way
		sent := time.Now()
		send(fmt.Sprintf("message %d", i+2))
		a := <-got
		lag := a.at.Sub(sent)
		if a.n != 1 || lag > time.Second {
			t.Fatalf("round %d: %d messages after %s", i, a.n, lag)
		}
		lags = append(lags, lag)
	}
	slices.Sort(lags)
	t.Logf("A → long poll on B, send to answer (including A's request): p50 %s, max %s over %d rounds", lags[len(lags)/2], lags[len(lags)-1], len(lags))

	// Part 2: kill -9 B while the client's long poll is held there; a
	// message arrives through A meanwhile; B comes back; the client
	// resumes from its cursor and gets every message once, in order.
	client := &workspaceclient.Client{BaseURL: baseB, Token: string(wsToken), Backoff: 100 * time.Millisecond, PollWait: 20 * time.Second}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	const handled = 11 // the task and the ten messages above
	received := make(chan workspaceclient.Message, 10)
	go func() {
		for m, err := range client.Messages(cctx, handled) {
			if err != nil {
				return
			}
			received <- m
		}
	}()
	time.Sleep(500 * time.Millisecond) // the client's poll is held by B; it must work either way
	if err := procB.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-procB.exited
	send("while B is down")
	startProcess(t, bin, envFor(addrB), logFile, baseB)
	send("after B is back")
	var bodies []string
	for len(bodies) < 2 {
		select {
		case m := <-received:
			bodies = append(bodies, fmt.Sprintf("%d:%s", m.Seq, m.Body))
		case <-time.After(30 * time.Second):
			t.Fatalf("the client received %q only (log: %s)", bodies, logFile.Name())
		}
	}
	if got := strings.Join(bodies, ","); got != "12:while B is down,13:after B is back" {
		t.Fatalf("after kill -9: %s", got)
	}
	select {
	case m := <-received:
		t.Fatalf("extra message %+v", m)
	case <-time.After(300 * time.Millisecond):
	}
}
