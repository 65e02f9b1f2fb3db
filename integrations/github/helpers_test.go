// Test helpers: GitHub's example payloads from testdata/github with edits,
// and an App on a fresh database with org "acme", a linked member (Ada, as
// Codertocat under an old login), an outsider, installation 1 bound to the
// org, and a fake GitHub API.
package github

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/gateway/queue"
	"github.com/tryreplicas/gateway/gateway/secret"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/github/githubtest"
	"github.com/tryreplicas/gateway/integrations/intake"
	"github.com/tryreplicas/gateway/integrations/launch"
	"github.com/tryreplicas/gateway/testdata"
)

var sets = []sqldb.Set{Migrations}

// GitHub ids in the testdata payloads.
const (
	codertocat   = 21031067 // sender of every example
	installation = 1
	outsiderID   = 4242
)

// set replaces the value at a dotted path of a payload.
func set(path string, v any) func(map[string]any) {
	return func(p map[string]any) {
		keys := strings.Split(path, ".")
		m := p
		for _, k := range keys[:len(keys)-1] {
			m = m[k].(map[string]any)
		}
		m[keys[len(keys)-1]] = v
	}
}

// build is testdata/github/file with edits applied.
func build(t testing.TB, file string, edits ...func(map[string]any)) []byte {
	t.Helper()
	raw, err := testdata.FS.ReadFile("github/" + file)
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	for _, e := range edits {
		e(p)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type env struct {
	app      *App
	db       *sqldb.DB
	q        *queue.Queue
	fake     *githubtest.Server
	ids      *identity.Store
	orgID    string
	ada      identity.User
	outsider identity.User
}

func newEnv(t *testing.T, db *sqldb.DB) *env {
	t.Helper()
	ctx := context.Background()
	fake, err := githubtest.New(42)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	q, err := queue.New(db, sqldbtest.Logger(), queue.Options{PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{db: db, q: q, fake: fake, ids: identity.NewStore()}
	cfg := Config{AppID: 42, PrivateKey: secret.Secret(fake.PrivateKey), WebhookSecret: "sec", AppSlug: "tryreplicas", BotLogin: "tryreplicas",
		APIURL: fake.URL, PublicURL: "https://gw.example/", StateKey: "0123456789abcdef0123456789abcdef"}
	e.app = New(cfg, db, e.ids, q, sqldbtest.Logger())
	org, err := e.ids.CreateOrg(ctx, db, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	e.orgID = org.ID
	if e.ada, err = e.ids.EnsureUser(ctx, db, "ada@example.com", "Ada"); err != nil {
		t.Fatal(err)
	}
	if err := e.ids.AddMember(ctx, db, org.ID, e.ada.ID, identity.RoleMember); err != nil {
		t.Fatal(err)
	}
	if e.outsider, err = e.ids.EnsureUser(ctx, db, "out@example.com", "Out"); err != nil {
		t.Fatal(err)
	}
	for _, l := range []identity.LinkRequest{
		{UserID: e.ada.ID, GitHubID: codertocat, Login: "Codertocat-old", Via: identity.LinkedViaAdmin, ActorID: "system"},
		{UserID: e.outsider.ID, GitHubID: outsiderID, Login: "outsider", Via: identity.LinkedViaAdmin, ActorID: "system"},
	} {
		if _, err := e.ids.LinkGitHub(ctx, db, l); err != nil {
			t.Fatal(err)
		}
	}
	for _, in := range []Installation{
		{ID: installation, AccountLogin: "Codertocat", AccountID: codertocat, AccountType: "User", Status: "active"},
		{ID: 2, AccountLogin: "suspended-org", AccountID: 7, AccountType: "Organization", Status: "suspended"},
	} {
		if err := e.app.Store().Upsert(ctx, db, in); err != nil {
			t.Fatal(err)
		}
		if err := e.app.Store().Bind(ctx, db, in.ID, org.ID); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// commit runs what intake does after Interpret: Then in one transaction.
func (e *env) commit(t *testing.T, plan intake.Plan, ws *launch.Workspace, launchErr error) {
	t.Helper()
	if plan.Then == nil {
		return
	}
	ctx := context.Background()
	if err := e.db.InTx(ctx, func(tx sqldb.Tx) error { return plan.Then(ctx, tx, ws, launchErr) }); err != nil {
		t.Fatal(err)
	}
}

// jobs counts the queued jobs of a kind.
func (e *env) jobs(t *testing.T, kind string) int {
	t.Helper()
	var n int
	if err := e.db.QueryRow(context.Background(), `SELECT COUNT(*) FROM river_job WHERE kind = $1`, kind).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
