package oauthstate_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/integrations/oauthstate"
)

// A state is consumed once, only by its kind, only in the browser session
// that started it; a wrong session leaves it usable where it began.
func TestStateBoundToSession(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, []sqldb.Set{oauthstate.Migrations}, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := oauthstate.New([]byte("key"))
		if _, err := s.Issue(ctx, db, "k", oauthstate.State{UserID: "u"}); err == nil {
			t.Fatal("a state without a session was issued")
		}
		signed, err := s.Issue(ctx, db, "k", oauthstate.State{OrgID: "o", UserID: "u", Verifier: "v", SessionID: "ses_a", Data: `{"x":1}`})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ name, signed, kind, session string }{
			{"another session", signed, "k", "ses_b"},
			{"no session", signed, "k", ""},
			{"another kind", signed, "other", "ses_a"},
			{"forged signature", signed + "0", "k", "ses_a"},
		} {
			if _, err := s.Consume(ctx, db, c.signed, c.kind, c.session); !errors.Is(err, oauthstate.ErrBad) {
				t.Errorf("%s: %v", c.name, err)
			}
		}
		st, err := s.Consume(ctx, db, signed, "k", "ses_a")
		if err != nil || st.OrgID != "o" || st.UserID != "u" || st.Verifier != "v" || st.SessionID != "ses_a" || st.Data != `{"x":1}` {
			t.Fatalf("consume = %+v, %v", st, err)
		}
		if _, err := s.Consume(ctx, db, signed, "k", "ses_a"); !errors.Is(err, oauthstate.ErrBad) {
			t.Fatalf("second use: %v", err)
		}
	})
}
