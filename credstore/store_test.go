package credstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/credstore"
	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/identity"
)

var sets = []sqldb.Set{credstore.Migrations}

func keyring(t testing.TB, keys ...byte) *credstore.Keyring {
	t.Helper()
	var ks [][]byte
	for _, b := range keys {
		ks = append(ks, []byte(strings.Repeat(string(rune(b)), 32)))
	}
	k, err := credstore.NewKeyring(ks[0], ks[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type fixture struct {
	db    *sqldb.DB
	store *credstore.Store
	org   string
	user  string
	by    credstore.Change
}

func newFixture(t *testing.T, db *sqldb.DB) fixture {
	t.Helper()
	ids := identity.NewStore()
	org, admin, _, err := ids.Bootstrap(context.Background(), db, "acme", "admin@example.com", "")
	if err != nil {
		t.Fatal(err)
	}
	return fixture{db: db, store: credstore.NewStore(keyring(t, 'a'), ids), org: org.ID, user: admin.ID, by: credstore.Change{ActorID: admin.ID, OrgID: org.ID}}
}

var samples = map[string]credstore.Secret{
	"claude/oauth":   {AccessToken: "sk-ant-oat01-ACCESS-MARKER-1111", RefreshToken: "sk-ant-ort01-REFRESH-MARKER-2222", ExpiresAt: time.Now().Add(time.Hour)},
	"claude/api_key": {APIKey: "sk-ant-api03-APIKEY-MARKER-3333"},
	"claude/bedrock": {AccessKeyID: "AKIAMARKER4444", SecretAccessKey: "BEDROCK-SECRET-MARKER-5555", Region: "us-east-1"},
	"codex/oauth":    {AccessToken: "CODEX-ACCESS-MARKER-6666", RefreshToken: "CODEX-REFRESH-MARKER-7777", IDToken: "CODEX-ID-MARKER-8888", AccountID: "acct-1", ExpiresAt: time.Now().Add(time.Hour)},
	"codex/api_key":  {APIKey: "sk-proj-CODEXKEY-MARKER-9999"},
}

func (f fixture) put(t *testing.T, scope string, agent credstore.Agent, method credstore.Method) credstore.Credential {
	t.Helper()
	owner := credstore.Owner{Scope: scope, ID: f.org}
	if scope == credstore.ScopeUser {
		owner.ID = f.user
	}
	c, err := f.store.Put(context.Background(), f.db, owner, agent, method, samples[string(agent)+"/"+string(method)], f.by)
	if err != nil {
		t.Fatalf("put %s %s/%s: %v", scope, agent, method, err)
	}
	return c
}

func TestResolve(t *testing.T) {
	t.Parallel()
	type cred struct {
		scope  string
		agent  credstore.Agent
		method credstore.Method
	}
	cases := []struct {
		name      string
		creds     []cred
		unusable  []int // indexes into creds
		userPref  credstore.Agent
		orgPref   credstore.Agent
		agent     credstore.Agent
		wantAgent credstore.Agent
		wantChain []string // scope/method
		wantErr   error
	}{
		{name: "none", wantErr: credstore.ErrNoCredentials},
		{name: "user only", creds: []cred{{"user", "claude", "api_key"}, {"user", "claude", "oauth"}}, wantAgent: "claude", wantChain: []string{"user/oauth", "user/api_key"}},
		{name: "org only", creds: []cred{{"org", "claude", "bedrock"}, {"org", "claude", "api_key"}}, wantAgent: "claude", wantChain: []string{"org/api_key", "org/bedrock"}},
		{name: "user before org", creds: []cred{{"org", "claude", "oauth"}, {"user", "claude", "bedrock"}, {"org", "claude", "api_key"}}, wantAgent: "claude", wantChain: []string{"user/bedrock", "org/oauth", "org/api_key"}},
		{name: "unusable skipped", creds: []cred{{"user", "claude", "oauth"}, {"org", "claude", "api_key"}}, unusable: []int{0}, wantAgent: "claude", wantChain: []string{"org/api_key"}},
		{name: "all unusable", creds: []cred{{"user", "claude", "oauth"}}, unusable: []int{0}, wantErr: credstore.ErrNoCredentials},
		{name: "user preference", creds: []cred{{"org", "claude", "api_key"}, {"user", "codex", "api_key"}}, userPref: "codex", wantAgent: "codex", wantChain: []string{"user/api_key"}},
		{name: "org default", creds: []cred{{"org", "claude", "api_key"}, {"org", "codex", "oauth"}}, orgPref: "codex", wantAgent: "codex", wantChain: []string{"org/oauth"}},
		{name: "user preference beats org default", creds: []cred{{"org", "claude", "api_key"}, {"org", "codex", "oauth"}}, userPref: "claude", orgPref: "codex", wantAgent: "claude", wantChain: []string{"org/api_key"}},
		{name: "preferred agent empty falls back", creds: []cred{{"org", "codex", "api_key"}}, userPref: "claude", wantAgent: "codex", wantChain: []string{"org/api_key"}},
		{name: "first agent with a chain", creds: []cred{{"org", "codex", "api_key"}, {"user", "claude", "api_key"}}, wantAgent: "claude", wantChain: []string{"user/api_key"}},
		{name: "explicit agent", creds: []cred{{"org", "codex", "api_key"}, {"user", "claude", "api_key"}}, agent: "codex", wantAgent: "codex", wantChain: []string{"org/api_key"}},
		{name: "explicit agent without chain", creds: []cred{{"user", "claude", "api_key"}}, agent: "codex", wantErr: credstore.ErrNoCredentials},
		{name: "codex chain order", creds: []cred{{"user", "codex", "api_key"}, {"user", "codex", "oauth"}, {"org", "codex", "oauth"}}, wantAgent: "codex", wantChain: []string{"user/oauth", "user/api_key", "org/oauth"}},
	}
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				ctx := context.Background()
				f := newFixture(t, sqldbtest.New(t, db.Dialect(), sets...))
				var made []credstore.Credential
				for _, c := range tc.creds {
					made = append(made, f.put(t, c.scope, c.agent, c.method))
				}
				for _, i := range tc.unusable {
					if err := f.store.MarkUnusable(ctx, f.db, made[i].ID, "refresh rejected", f.by); err != nil {
						t.Fatal(err)
					}
				}
				if tc.userPref != "" {
					if err := f.store.SetPreference(ctx, f.db, credstore.Owner{Scope: "user", ID: f.user}, tc.userPref, f.by); err != nil {
						t.Fatal(err)
					}
				}
				if tc.orgPref != "" {
					if err := f.store.SetPreference(ctx, f.db, credstore.Owner{Scope: "org", ID: f.org}, tc.orgPref, f.by); err != nil {
						t.Fatal(err)
					}
				}
				res, err := f.store.Resolve(ctx, f.db, f.org, f.user, tc.agent)
				if tc.agent == "" { // ResolveAll, for many members at once, agrees
					all, aerr := f.store.ResolveAll(ctx, f.db, f.org, []string{f.user, "someone-else"})
					if aerr != nil {
						t.Fatal(aerr)
					}
					got, ok := all[f.user]
					if ok == (err != nil) || ok && fmt.Sprint(got) != fmt.Sprint(res) {
						t.Fatalf("ResolveAll = %+v %v, Resolve = %+v %v", got, ok, res, err)
					}
					for _, l := range append(all["someone-else"].Chain, all["someone-else"].Skipped...) {
						if l.Scope != credstore.ScopeOrg {
							t.Fatalf("another member got this user's credential: %+v", l)
						}
					}
				}
				if tc.wantErr != nil {
					if !errors.Is(err, tc.wantErr) {
						t.Fatalf("err = %v, want %v", err, tc.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, l := range res.Chain {
					got = append(got, l.Scope+"/"+string(l.Method))
				}
				if res.Agent != tc.wantAgent || fmt.Sprint(got) != fmt.Sprint(tc.wantChain) {
					t.Fatalf("resolved %s %v, want %s %v", res.Agent, got, tc.wantAgent, tc.wantChain)
				}
				if len(tc.unusable) > 0 && len(res.Skipped) != len(tc.unusable) {
					t.Errorf("skipped = %v", res.Skipped)
				}
			})
		}
	})
}

func TestValidation(t *testing.T) {
	t.Parallel()
	db := sqldbtest.New(t, sqldb.SQLite, sets...)
	f := newFixture(t, db)
	owner := credstore.Owner{Scope: "user", ID: f.user}
	cases := []struct {
		agent  credstore.Agent
		method credstore.Method
		in     credstore.Secret
		kind   error
		msg    string
	}{
		{"claude", "api_key", credstore.Secret{APIKey: "sk-proj-x"}, errs.ErrInvalid, `starting with "sk-ant-"`},
		{"claude", "api_key", credstore.Secret{}, errs.ErrInvalid, "api_key is required"},
		{"codex", "api_key", credstore.Secret{APIKey: "pk-123"}, errs.ErrInvalid, `starting with "sk-"`},
		{"claude", "oauth", credstore.Secret{AccessToken: "a"}, errs.ErrInvalid, "refresh_token, expires_at"},
		{"codex", "oauth", credstore.Secret{AccessToken: "a", RefreshToken: "r", ExpiresAt: time.Now()}, errs.ErrInvalid, "id_token, account_id"},
		{"claude", "bedrock", credstore.Secret{AccessKeyID: "AKIA", SecretAccessKey: "s", Region: "narnia"}, errs.ErrInvalid, "not an AWS region"},
		{"claude", "bedrock", credstore.Secret{AccessKeyID: "AKIA"}, errs.ErrInvalid, "secret_access_key, region"},
		{"gemini", "api_key", credstore.Secret{APIKey: "x"}, errs.ErrNotFound, "unknown agent"},
		{"codex", "bedrock", credstore.Secret{}, errs.ErrNotFound, "unknown method"},
	}
	for _, tc := range cases {
		_, err := f.store.Put(context.Background(), db, owner, tc.agent, tc.method, tc.in, f.by)
		if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s/%s %+v: err = %v, want %v containing %q", tc.agent, tc.method, tc.in, err, tc.kind, tc.msg)
		}
	}
	for _, region := range []string{"us-east-1", "eu-central-2", "us-gov-west-1", "ap-southeast-4"} {
		in := credstore.Secret{AccessKeyID: "AKIAX", SecretAccessKey: "s", Region: region}
		if _, err := f.store.Put(context.Background(), db, owner, "claude", "bedrock", in, f.by); err != nil {
			t.Errorf("region %s: %v", region, err)
		}
	}
}

func TestPutReplaceOpenAudit(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		c := f.put(t, "org", "claude", "oauth")
		if err := f.store.MarkUnusable(ctx, db, c.ID, "refresh rejected", f.by); err != nil {
			t.Fatal(err)
		}
		again := f.put(t, "org", "claude", "oauth")
		if again.ID != c.ID || again.Version != c.Version+1 || again.Status != "active" || again.Hint != "1111" {
			t.Fatalf("replaced = %+v (was %+v)", again, c)
		}
		_, sec, err := f.store.Open(ctx, db, c.ID)
		if err != nil || sec.RefreshToken != samples["claude/oauth"].RefreshToken {
			t.Fatalf("open = %+v, %v", sec, err)
		}
		sec.AccessToken = "rotated-AAAA"
		if _, err := f.store.UpdateSecret(ctx, db, c.ID, again.Version, sec); err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.UpdateSecret(ctx, db, c.ID, again.Version, sec); !errors.Is(err, errs.ErrConflict) {
			t.Fatalf("stale update: %v", err)
		}
		if err := f.store.Delete(ctx, db, credstore.Owner{Scope: "org", ID: f.org}, "claude", "oauth", f.by); err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.Get(ctx, db, c.ID); !errors.Is(err, credstore.ErrNotFound) {
			t.Fatalf("after delete: %v", err)
		}
		log, err := identity.NewStore().AuditLog(ctx, db, f.org, 50)
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, e := range log {
			actions = append(actions, e.Action)
			if strings.Contains(fmt.Sprint(e.Detail), "MARKER") {
				t.Errorf("audit entry leaks a secret: %+v", e)
			}
		}
		want := "[credential.delete credential.put credential.unusable credential.put org.bootstrap]"
		if fmt.Sprint(actions) != want {
			t.Errorf("audit actions = %v, want %v", actions, want)
		}
	})
}

// A dump of every table holds no secret in plain text.
func TestNoPlaintextSecretsAtRest(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		f := newFixture(t, db)
		for _, scope := range []string{"org", "user"} {
			for key := range samples {
				agent, method, _ := strings.Cut(key, "/")
				f.put(t, scope, credstore.Agent(agent), credstore.Method(method))
			}
		}
		dump := sqldbtest.Dump(t, db)
		if !strings.Contains(dump, "credential.put") {
			t.Fatal("dump looks empty")
		}
		for key, s := range samples {
			for _, v := range []string{s.APIKey, s.AccessToken, s.RefreshToken, s.IDToken, s.SecretAccessKey} {
				if v != "" && strings.Contains(dump, v[:len(v)-4]) {
					t.Errorf("%s: %q found in the database dump", key, v)
				}
			}
		}
	})
}

func TestKeyRotation(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFixture(t, db) // sealed with key 'a'
		c := f.put(t, "user", "claude", "api_key")
		ids := identity.NewStore()
		rotated := credstore.NewStore(keyring(t, 'b', 'a'), ids)
		if n, err := rotated.Reseal(ctx, db); err != nil || n != 1 {
			t.Fatalf("reseal = %d, %v", n, err)
		}
		onlyNew := credstore.NewStore(keyring(t, 'b'), ids)
		if _, sec, err := onlyNew.Open(ctx, db, c.ID); err != nil || sec.APIKey != samples["claude/api_key"].APIKey {
			t.Fatalf("open after rotation = %v", err)
		}
		if _, _, err := f.store.Open(ctx, db, c.ID); !errors.Is(err, credstore.ErrUnknownKey) {
			t.Fatalf("old keyring opens a resealed secret: %v", err)
		}
	})
}
