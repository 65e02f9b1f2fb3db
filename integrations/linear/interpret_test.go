package linear

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/integrations/intake"
	"github.com/tryreplicas/gateway/testdata"
)

// edits of a fixture
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

func del(path string) func(map[string]any) {
	return func(p map[string]any) {
		keys := strings.Split(path, ".")
		m := p
		for _, k := range keys[:len(keys)-1] {
			m = m[k].(map[string]any)
		}
		delete(m, keys[len(keys)-1])
	}
}

func build(t testing.TB, file string, edits ...func(map[string]any)) []byte {
	p := fixture(t, file)
	for _, e := range edits {
		e(p)
	}
	return encode(t, p)
}

// trigger recognizes every trigger and nothing else, from payloads shaped
// like Linear's.
func TestTrigger(t *testing.T) {
	t.Parallel()
	const (
		assigned  = "issue.update.assigned.json"
		delegated = "issue.update.delegated.json"
		created   = "issue.create.assigned.json"
		session   = "agent_session_event.created.json"
		prompted  = "agent_session_event.prompted.json"
	)
	cases := []struct {
		name    string
		body    []byte
		kind    string // "" when nothing triggers
		who     string
		prompt  string
		outcome string
	}{
		{"assigned to the app", build(t, assigned), "assign", adaID, "", ""},
		{"delegated to the app", build(t, delegated), "delegate", graceID, "", ""},
		{"created assigned", build(t, created), "create", adaID, "", ""},
		{"created delegated", build(t, created, set("data.assigneeId", nil), set("data.delegateId", appUserID)), "create", adaID, "", ""},
		{"session created", build(t, session), "session", adaID, "primary-directive-thread", ""},
		{"session prompted", build(t, prompted), "prompt", graceID, "Also cover carts that only hold gift cards.", ""},
		{"prompted without the activity's user: the creator", build(t, prompted, del("agentActivity.user")), "prompt", adaID, "Also cover", ""},
		{"edit of an assigned issue", build(t, assigned, set("updatedFrom", map[string]any{"title": "old"})), "", "", "", OutcomeNotAssigned},
		{"assigned to someone else", build(t, assigned, set("data.assigneeId", graceID)), "", "", "", OutcomeNotAssigned},
		{"unassigned from the app", build(t, assigned, set("data.assigneeId", nil), set("updatedFrom.assigneeId", appUserID)), "", "", "", OutcomeNotAssigned},
		{"assignee unchanged", build(t, assigned, set("updatedFrom.assigneeId", appUserID)), "", "", "", OutcomeNotAssigned},
		{"delegate edit while assigned", build(t, assigned, set("updatedFrom", map[string]any{"delegateId": nil})), "", "", "", OutcomeNotAssigned},
		{"created for someone else", build(t, created, set("data.assigneeId", graceID)), "", "", "", OutcomeNotAssigned},
		{"assigned by nobody", build(t, assigned, del("actor")), "", "", "", OutcomeAppActor},
		{"removed", build(t, assigned, set("action", "remove")), "", "", "", OutcomeNotAssigned},
		{"comment (Linear's SDK fixture)", mustRead(t, "linear-sdk-test-fixture_comment-create.json"), "", "", "", "ignored: Comment create"},
		{"attachment by an app (captured delivery)", mustRead(t, "captured-real-delivery_attachment-create_oauthapp-actor.json"), "", "", "", "ignored: Attachment create"},
		{"session of another app", build(t, session, set("appUserId", "other-app")), "", "", "", OutcomeNotAssigned},
		{"session without a creator", build(t, session, del("agentSession.creator"), del("agentSession.creatorId")), "", "", "", OutcomeAppActor},
		{"prompt without any user", build(t, prompted, del("agentSession.creator"), del("agentActivity.user")), "", "", "", OutcomeAppActor},
		{"session without an issue", build(t, session, del("agentSession.issue")), "", "", "", "ignored: agent session without an issue"},
		{"session updated", build(t, session, set("action", "updated")), "", "", "", "ignored: agent session updated"},
	}
	for _, tc := range cases {
		p, err := parse(tc.body)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		r, outcome := trigger(p, appUserID)
		switch {
		case tc.kind == "" && (r != nil || outcome != tc.outcome):
			t.Errorf("%s: triggered %+v, outcome %q; want outcome %q", tc.name, r, outcome, tc.outcome)
		case tc.kind != "" && r == nil:
			t.Errorf("%s: nothing triggered (%q), want %s", tc.name, outcome, tc.kind)
		case tc.kind != "" && (r.kind != tc.kind || r.who.ID != tc.who || !strings.Contains(r.prompt, tc.prompt) || r.who.Type != "user"):
			t.Errorf("%s: %s by %s (%s) prompt %q; want %s by %s", tc.name, r.kind, r.who.ID, r.who.Type, r.prompt, tc.kind, tc.who)
		}
	}
}

func mustRead(t testing.TB, name string) []byte {
	b, err := testdata.FS.ReadFile("linear/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzParse: any body parses or errors without panicking, and whatever
// triggers names an issue, a known kind and the app user as its target.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"issue.update.assigned.json", "issue.update.delegated.json", "issue.create.assigned.json",
		"agent_session_event.created.json", "agent_session_event.prompted.json", "linear-sdk-test-fixture_comment-create.json",
		"captured-real-delivery_attachment-create_oauthapp-actor.json"} {
		f.Add(mustRead(f, name))
	}
	f.Add([]byte(`{"type":"Issue","action":"update","data":{"id":"i","assigneeId":"` + appUserID + `"},"updatedFrom":{"assigneeId":7}}`))
	f.Add([]byte(`{"type":"AgentSessionEvent","action":"prompted","agentSession":{"id":"s","issue":{"id":"i"}},"agentActivity":null}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := parse(body)
		if err != nil {
			return
		}
		r, outcome := trigger(p, appUserID)
		if r == nil {
			if outcome == "" {
				t.Fatal("neither a trigger nor an outcome")
			}
			return
		}
		if r.issue.ID == "" || r.who.ID == "" || r.who.Type == "" {
			t.Fatalf("trigger without issue or actor: %+v", r)
		}
		switch r.kind {
		case "assign", "create", "delegate":
			if p.Type != "Issue" || r.sessionID != "" {
				t.Fatalf("issue trigger from %q: %+v", p.Type, r)
			}
			if (p.Data.AssigneeID == nil || *p.Data.AssigneeID != appUserID) && (p.Data.DelegateID == nil || *p.Data.DelegateID != appUserID) {
				t.Fatalf("triggered for an issue not assigned to the app: %+v", r)
			}
		case "session", "prompt":
			if p.Type != "AgentSessionEvent" || r.sessionID == "" {
				t.Fatalf("session trigger from %q: %+v", p.Type, r)
			}
		default:
			t.Fatalf("unknown kind %q", r.kind)
		}
	})
}

// Interpret on both databases with the fake Linear API: the right member,
// emails fetched through GraphQL when the payload has none, the repository
// from the team mapping or the issue's GitHub attachments, and every
// negative launches nothing.
func TestInterpret(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		e := newEnv(t, db, oauthToken)
		e.fake.SetEmail(graceID, " Grace@Example.com ")
		e.fake.SetEmail("app-as-user", "86bdc758@oauthapp.linear.app")
		e.fake.SetAttachments("9e4f1b2a-7c3d-4e5f-8a6b-0c1d2e3f4a5b", "https://linear.app/acme/doc/x", "https://github.com/acme/api/pull/7")
		if err := e.app.store.SetTeamRepository(ctx, db, e.orgID, "WEB", "acme/web"); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name    string
			body    []byte
			user    string // the member launched for; "" = nothing launched
			key     string
			repo    string
			outcome string
			lookups int
		}{
			{"assignment, team mapped", build(t, "issue.update.assigned.json", set("data.team.key", "WEB")), e.ada.ID,
				"linear:issue:2f2b4399-3488-4a74-8c8a-1509f33ca5bf:assign:2026-11-28T10:15:02.118Z", "acme/web", "", 0},
			{"delegation by an actor without email, repository from attachments", build(t, "issue.update.delegated.json"), e.grace.ID,
				"linear:issue:9e4f1b2a-7c3d-4e5f-8a6b-0c1d2e3f4a5b:delegate:2026-11-28T12:30:05.004Z", "acme/api", "", 1},
			{"created assigned", build(t, "issue.create.assigned.json"), e.ada.ID,
				"linear:issue:6c0d7a1e-92b4-4f3c-a8d5-3e71b0c94f22:create:2026-11-28T11:02:40.512Z", "", "", 0},
			{"agent session", build(t, "agent_session_event.created.json", set("agentSession.issue.team.key", "WEB")), e.ada.ID, "linear:session:a7c3e9f1-2b4d-4f6a-8c0e-1d3f5a7b9c2e", "acme/web", "", 0},
			{"prompt in the session", build(t, "agent_session_event.prompted.json"), e.grace.ID, "linear:activity:f0e1d2c3-b4a5-4968-8776-5a4b3c2d1e0f", "", "", 0},
			{"agent session without a repository asks", build(t, "agent_session_event.created.json"), "", "", "", OutcomeAskedRepository, 0},
			{"app acting as a user", build(t, "issue.update.assigned.json", set("actor.email", "86bdc758@OAuthApp.linear.app")), "", "", "", OutcomeAppActor, 0},
			{"integration actor", build(t, "issue.update.assigned.json", set("actor.type", "integration"), del("actor.email")), "", "", "", OutcomeAppActor, 0},
			{"app email found by lookup", build(t, "issue.update.delegated.json", set("actor.id", "app-as-user")), "", "", "", OutcomeAppActor, 1},
			{"unknown email", build(t, "issue.update.assigned.json", set("actor.email", "nobody@example.com")), "", "", "", OutcomeUnknownUser, 0},
			{"edit", build(t, "issue.update.assigned.json", set("updatedFrom", map[string]any{"title": "x"})), "", "", "", OutcomeNotAssigned, 0},
			{"unconnected organization", build(t, "issue.update.assigned.json", set("organizationId", "other")), "", "", "", OutcomeNotConnected, 0},
		}
		for _, tc := range cases {
			before := e.fake.Lookups()
			plan, err := e.app.Interpret(ctx, intake.Delivery{Source: "linear", DeliveryID: "d", Body: tc.body})
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if got := e.fake.Lookups() - before; got != tc.lookups {
				t.Errorf("%s: %d user lookups, want %d", tc.name, got, tc.lookups)
			}
			if tc.user == "" {
				if plan.Trigger != nil || plan.Outcome != tc.outcome {
					t.Errorf("%s: trigger %+v outcome %q, want %q", tc.name, plan.Trigger, plan.Outcome, tc.outcome)
				}
				continue
			}
			tr := plan.Trigger
			if tr == nil || plan.OrgID != e.orgID || tr.UserID != tc.user || tr.TriggerKey != tc.key || tr.Repository.FullName != tc.repo || plan.Then == nil {
				t.Errorf("%s: plan %+v trigger %+v", tc.name, plan, tr)
				continue
			}
			if tr.Source.Kind != "linear" || tr.Source.Linear == nil || tr.Source.Linear.IssueID == "" || !strings.HasPrefix(tr.Task.Title, tr.Source.Linear.Identifier+": ") ||
				!strings.HasPrefix(tr.Task.URL, "https://linear.app/acme/issue/") || tr.Source.Linear.Team == "" {
				t.Errorf("%s: task %+v source %+v", tc.name, tr.Task, tr.Source)
			}
		}
		// The prompt text reaches the task; so do promptContext and guidance.
		plan, _ := e.app.Interpret(ctx, intake.Delivery{Body: build(t, "agent_session_event.prompted.json", set("agentSession.issue.team.key", "WEB"))})
		if !strings.Contains(plan.Trigger.Task.Body, "Exporting a cart with no items") || !strings.Contains(plan.Trigger.Task.Body, "gift cards") {
			t.Errorf("prompted task body %q", plan.Trigger.Task.Body)
		}
		plan, _ = e.app.Interpret(ctx, intake.Delivery{Body: build(t, "agent_session_event.created.json", set("agentSession.issue.team.key", "WEB"),
			set("guidance", []any{map[string]any{"body": "Always run `make lint` before committing.", "origin": map[string]any{"type": "workspace"}}}))})
		if body := plan.Trigger.Task.Body; !strings.Contains(body, "primary-directive-thread") || !strings.Contains(body, "Guidance:\n- Always run `make lint` before committing.") {
			t.Errorf("created task body %q", body)
		}
		if _, err := e.app.Interpret(ctx, intake.Delivery{Body: []byte("{")}); !errors.Is(err, intake.ErrPermanent) {
			t.Errorf("malformed body: %v", err)
		}
	})
}

// Personal API keys go bare in Authorization, OAuth tokens as Bearer; the
// fake Linear accepts only the exact form.
func TestAuthorizationHeader(t *testing.T) {
	t.Parallel()
	db := sqldbtest.New(t, sqldb.SQLite, sets...)
	e := newEnv(t, db, apiKey)
	e.fake.SetEmail(graceID, "grace@example.com")
	ctx := context.Background()
	plan, err := e.app.Interpret(ctx, intake.Delivery{Body: build(t, "issue.update.delegated.json")})
	if err != nil || plan.Trigger == nil || plan.Trigger.UserID != e.grace.ID {
		t.Fatalf("with an API key: %+v, %v", plan, err)
	}
	c, err := e.app.store.ByOrg(ctx, db, e.orgID)
	if err != nil || c.TokenKind != "api_key" {
		t.Fatalf("connection %+v, %v", c, err)
	}
	c.TokenKind = "oauth" // would send "Bearer lin_api_…"
	if _, err := UserEmail(ctx, e.app.rawClient(c), graceID); err == nil {
		t.Fatal("the fake accepted an API key sent as Bearer")
	}
}
