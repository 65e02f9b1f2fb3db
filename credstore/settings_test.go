package credstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/tryreplicas/gateway/credstore"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/identity"
)

func links(ls []credstore.ChainLink) string {
	s := ""
	for _, l := range ls {
		s += fmt.Sprintf("%s/%s ", l.Scope, l.Method)
	}
	return s
}

// TestSettings: one read gives both scopes' credentials, the preferences,
// each agent's chain (an empty one listing its unusable credentials) and the
// chosen agent; members other than admins get no hints of org credentials.
func TestSettings(t *testing.T) {
	sqldbtest.Each(t, sets, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		ids := identity.NewStore()
		svc := credstore.NewService(db, f.store, ids)
		f.put(t, "org", "claude", "api_key")
		f.put(t, "org", "claude", "bedrock")
		mine := f.put(t, "user", "claude", "oauth")
		codex := f.put(t, "user", "codex", "api_key")
		if err := f.store.MarkUnusable(ctx, db, codex.ID, "key rejected", f.by); err != nil {
			t.Fatal(err)
		}
		if err := f.store.SetPreference(ctx, db, credstore.Owner{Scope: "user", ID: f.user}, "codex", f.by); err != nil {
			t.Fatal(err)
		}
		st, err := svc.Settings(ctx, f.org, f.user, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Org) != 2 || len(st.Mine) != 2 || st.Preference != "codex" || st.OrgDefault != "" || st.Org[0].Hint == "" {
			t.Fatalf("settings: %+v", st)
		}
		if len(st.Chains) != 2 || links(st.Chains[0].Chain) != "user/oauth org/api_key org/bedrock " || st.Chains[0].Chain[0].CredentialID != mine.ID {
			t.Fatalf("claude chain: %+v", st.Chains)
		}
		if len(st.Chains[1].Chain) != 0 || links(st.Chains[1].Skipped) != "user/api_key " {
			t.Fatalf("codex chain: %+v", st.Chains[1])
		}
		if st.Chosen != "claude" { // codex is preferred but has nothing usable
			t.Fatalf("chosen %q", st.Chosen)
		}
		member, err := svc.Settings(ctx, f.org, f.user, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range member.Org {
			if c.Hint != "" {
				t.Fatalf("a member sees the hint of %s", c.Method)
			}
		}
		if _, err := svc.Settings(ctx, f.org, "usr_nobody", true); !errors.Is(err, identity.ErrNotFound) {
			t.Fatalf("outsider: %v", err)
		}
	})
}
