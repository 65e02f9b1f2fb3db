package settingsview_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tryreplicas/gateway/credstore"
	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/github"
	"github.com/tryreplicas/gateway/integrations/linear"
	"github.com/tryreplicas/gateway/integrations/settingsview"
)

var sets = []sqldb.Set{credstore.Migrations}

// fixture is an org with an admin (ada) and a member (bob), real identity
// and credential services on db, and stand-ins for GitHub and Linear.
type fixture struct {
	db       *sqldb.DB
	ids      *identity.Store
	creds    *credstore.Store
	org      string
	ada, bob identity.Principal
	gh       *ghStub
	lin      *linStub
	views    *settingsview.Service
}

func newFixture(t *testing.T, db *sqldb.DB) fixture {
	t.Helper()
	ctx := context.Background()
	ids := identity.NewStore()
	org, ada, _, err := ids.Bootstrap(ctx, db, "acme", "ada@example.com", "Ada")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := ids.EnsureUser(ctx, db, "bob@example.com", "Bob")
	if err != nil {
		t.Fatal(err)
	}
	if err := ids.AddMember(ctx, db, org.ID, bob.ID, identity.RoleMember); err != nil {
		t.Fatal(err)
	}
	k, err := credstore.NewKeyring([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	f := fixture{db: db, ids: ids, creds: credstore.NewStore(k, ids), org: org.ID,
		ada: identity.Principal{UserID: ada.ID, Email: ada.Email, OrgID: org.ID, Role: identity.RoleAdmin},
		bob: identity.Principal{UserID: bob.ID, Email: bob.Email, OrgID: org.ID, Role: identity.RoleMember},
		gh:  &ghStub{}, lin: &linStub{}}
	f.views = settingsview.New(credstore.NewService(db, f.creds, ids), identity.NewService(db, ids), f.gh, f.lin)
	return f
}

func (f fixture) put(t *testing.T, o credstore.Owner, agent credstore.Agent, method credstore.Method, key string) credstore.Credential {
	t.Helper()
	c, err := f.creds.Put(context.Background(), f.db, o, agent, method, credstore.Secret{APIKey: key}, credstore.Change{ActorID: f.ada.UserID, OrgID: f.org})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The user view is the caller's own: their chains, GitHub link, tokens and
// orgs; a member sees no hints of org credentials.
func TestUser(t *testing.T) {
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		f.put(t, credstore.Owner{Scope: credstore.ScopeOrg, ID: f.org}, credstore.AgentClaude, credstore.MethodAPIKey, "sk-ant-api03-ORGKEY-1111")
		if _, err := f.ids.LinkGitHub(ctx, db, identity.LinkRequest{UserID: f.ada.UserID, GitHubID: 42, Login: "ada-gh", Via: identity.LinkedViaOAuth, ActorID: f.ada.UserID}); err != nil {
			t.Fatal(err)
		}
		_, issued, err := identity.NewService(db, f.ids).IssueOwnToken(ctx, f.ada, f.org)
		if err != nil {
			t.Fatal(err)
		}
		v, err := f.views.User(ctx, f.ada)
		if err != nil {
			t.Fatal(err)
		}
		if v.Credentials.Chosen != credstore.AgentClaude || len(v.Credentials.Org) != 1 || v.Credentials.Org[0].Hint == "" {
			t.Fatalf("ada's credentials: %+v", v.Credentials)
		}
		if v.GitHub == nil || v.GitHub.Login != "ada-gh" || !slices.ContainsFunc(v.Tokens, func(ti identity.TokenInfo) bool { return ti.ID == issued.ID }) || len(v.Orgs) != 1 || v.Orgs[0].ID != f.org {
			t.Fatalf("ada's view: github %+v tokens %+v orgs %+v", v.GitHub, v.Tokens, v.Orgs)
		}
		v, err = f.views.User(ctx, f.bob)
		if err != nil {
			t.Fatal(err)
		}
		if v.GitHub != nil || len(v.Tokens) != 0 || len(v.Orgs) != 1 || v.Credentials.Chosen != credstore.AgentClaude || v.Credentials.Org[0].Hint != "" {
			t.Fatalf("bob's view: %+v", v)
		}
	})
}

// The members view lists members with their chains (another member's
// personal credentials by method only, nothing usable as no chain) and the
// pending invitations; only an admin sees it.
func TestMembers(t *testing.T) {
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		bobs := f.put(t, credstore.Owner{Scope: credstore.ScopeUser, ID: f.bob.UserID}, credstore.AgentCodex, credstore.MethodAPIKey, "sk-proj-BOBKEY-2222")
		if _, err := identity.NewService(db, f.ids).Invite(ctx, f.ada, "carol@example.com", "", identity.RoleMember); err != nil {
			t.Fatal(err)
		}
		v, err := f.views.Members(ctx, f.ada)
		if err != nil {
			t.Fatal(err)
		}
		if len(v.Members) != 2 || len(v.Invitations) != 1 || v.Invitations[0].Email != "carol@example.com" {
			t.Fatalf("members view: %+v", v)
		}
		chains := map[string]*credstore.Resolution{}
		for _, m := range v.Members {
			chains[m.Email] = m.Chain
		}
		if chains["ada@example.com"] != nil {
			t.Fatalf("ada has nothing configured, got %+v", chains["ada@example.com"])
		}
		bob := chains["bob@example.com"]
		if bob == nil || bob.Agent != credstore.AgentCodex || len(bob.Chain) != 1 || bob.Chain[0].Method != credstore.MethodAPIKey || bob.Chain[0].Status != bobs.Status {
			t.Fatalf("bob's chain: %+v", bob)
		}
		if bob.Chain[0].Hint != "" || bob.Chain[0].CredentialID != "" {
			t.Fatalf("bob's personal credential shows to ada: %+v", bob.Chain[0])
		}
		// Bob's own chain, were he the caller, keeps its hint.
		all, err := credstore.NewService(db, f.creds, f.ids).ResolveMembers(ctx, f.org, []string{f.bob.UserID}, f.bob.UserID)
		if err != nil || all[f.bob.UserID].Chain[0].Hint != bobs.Hint {
			t.Fatalf("bob's own chain: %+v %v", all, err)
		}
		if _, err := f.views.Members(ctx, f.bob); !errors.Is(err, errs.ErrForbidden) {
			t.Fatalf("a member got the members view: %v", err)
		}
	})
}

type ghStub struct{ asked []string }

func (g *ghStub) OrgStatus(_ context.Context, orgID string) (github.OrgStatus, error) {
	g.asked = append(g.asked, orgID)
	return github.OrgStatus{PendingInstallations: []int64{7}}, nil
}

type linStub struct {
	connected bool
	asked     []string
}

func (l *linStub) Connection(_ context.Context, orgID string) (linear.Connection, error) {
	l.asked = append(l.asked, orgID)
	if !l.connected {
		return linear.Connection{}, errs.New(errs.ErrNotFound, "not_found", "no Linear connection")
	}
	return linear.Connection{OrgID: orgID, OrganizationID: "lin-org"}, nil
}

func (l *linStub) TeamMappings(_ context.Context, orgID string) ([]linear.TeamMapping, error) {
	l.asked = append(l.asked, orgID)
	return []linear.TeamMapping{{Team: "ENG", Repository: "acme/web"}}, nil
}

// The integrations view is the caller's org's GitHub status, Linear
// connection (none is nil) and team mapping; only an admin sees it, and
// without Linear it is GitHub alone.
func TestIntegrations(t *testing.T) {
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		for _, connected := range []bool{false, true} {
			f.lin.connected = connected
			v, err := f.views.Integrations(ctx, f.ada)
			if err != nil {
				t.Fatal(err)
			}
			if len(v.GitHub.PendingInstallations) != 1 || (v.Linear != nil) != connected || len(v.Teams) != 1 || v.Teams[0].Team != "ENG" {
				t.Fatalf("connected %v: %+v", connected, v)
			}
		}
		for _, org := range append(f.gh.asked, f.lin.asked...) {
			if org != f.org {
				t.Fatalf("asked about org %q", org)
			}
		}
		f.gh.asked, f.lin.asked = nil, nil
		if _, err := f.views.Integrations(ctx, f.bob); !errors.Is(err, errs.ErrForbidden) || len(f.gh.asked)+len(f.lin.asked) > 0 {
			t.Fatalf("a member got the integrations view: %v (asked %v %v)", err, f.gh.asked, f.lin.asked)
		}
		noLinear := settingsview.New(credstore.NewService(db, f.creds, f.ids), identity.NewService(db, f.ids), f.gh, nil)
		if v, err := noLinear.Integrations(ctx, f.ada); err != nil || v.Linear != nil || v.Teams != nil {
			t.Fatalf("without Linear: %+v %v", v, err)
		}
	})
}

// The audit view names members by email and others by id; only an admin
// sees it.
func TestAudit(t *testing.T) {
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		f.put(t, credstore.Owner{Scope: credstore.ScopeOrg, ID: f.org}, credstore.AgentClaude, credstore.MethodAPIKey, "sk-ant-api03-ORGKEY-1111")
		if _, err := f.creds.Put(ctx, db, credstore.Owner{Scope: credstore.ScopeOrg, ID: f.org}, credstore.AgentCodex, credstore.MethodAPIKey,
			credstore.Secret{APIKey: "sk-proj-SYSKEY-3333"}, credstore.Change{ActorID: identity.ActorSystem, OrgID: f.org}); err != nil {
			t.Fatal(err)
		}
		rows, err := f.views.Audit(ctx, f.ada, 50)
		if err != nil {
			t.Fatal(err)
		}
		actors := map[string]bool{}
		for _, r := range rows {
			actors[r.Actor] = true
			if r.ActorID == f.ada.UserID && r.Actor != "ada@example.com" {
				t.Fatalf("ada's entry names %q", r.Actor)
			}
		}
		if !actors["ada@example.com"] || !actors[identity.ActorSystem] {
			t.Fatalf("actors %v in %+v", actors, rows)
		}
		if rows, err := f.views.Audit(ctx, f.ada, 1); err != nil || len(rows) != 1 {
			t.Fatalf("limit 1: %d rows, %v", len(rows), err)
		}
		if _, err := f.views.Audit(ctx, f.bob, 50); !errors.Is(err, errs.ErrForbidden) {
			t.Fatalf("a member got the audit view: %v", err)
		}
	})
}
