package credstore_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/credstore"
	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
)

// Every secret field accepts only token characters: a whitespace or control
// character anywhere inside is refused as invalid (400), naming the field and
// never echoing the value. Surrounding whitespace is still trimmed.
func TestSecretFieldsAcceptOnlyTokenCharacters(t *testing.T) {
	t.Parallel()
	db := sqldbtest.New(t, sqldb.SQLite, sets...)
	f := newFixture(t, db)
	owner := credstore.Owner{Scope: "user", ID: f.user}
	later := time.Now().Add(time.Hour)
	// Each field of each method, with a placeholder X where the bad character goes.
	fields := []struct {
		agent  credstore.Agent
		method credstore.Method
		field  string
		secret func(v string) credstore.Secret
	}{
		{"claude", "api_key", "api_key", func(v string) credstore.Secret { return credstore.Secret{APIKey: "sk-ant-api03-" + v} }},
		{"codex", "api_key", "api_key", func(v string) credstore.Secret { return credstore.Secret{APIKey: "sk-proj-" + v} }},
		{"claude", "oauth", "access_token", func(v string) credstore.Secret {
			return credstore.Secret{AccessToken: "sk-ant-oat01-" + v, RefreshToken: "sk-ant-ort01-r", ExpiresAt: later}
		}},
		{"claude", "oauth", "refresh_token", func(v string) credstore.Secret {
			return credstore.Secret{AccessToken: "sk-ant-oat01-a", RefreshToken: "sk-ant-ort01-" + v, ExpiresAt: later}
		}},
		{"codex", "oauth", "id_token", func(v string) credstore.Secret {
			return credstore.Secret{AccessToken: "eyJ.a.b", RefreshToken: "rt_x", IDToken: "eyJ." + v, AccountID: "acct-1", ExpiresAt: later}
		}},
		{"codex", "oauth", "account_id", func(v string) credstore.Secret {
			return credstore.Secret{AccessToken: "eyJ.a.b", RefreshToken: "rt_x", IDToken: "eyJ.i.d", AccountID: "acct-" + v, ExpiresAt: later}
		}},
		{"claude", "bedrock", "access_key_id", func(v string) credstore.Secret {
			return credstore.Secret{AccessKeyID: "AKIA" + v, SecretAccessKey: "wJalr/K7MDENG+bPxRfiCY=", Region: "us-east-1"}
		}},
		{"claude", "bedrock", "secret_access_key", func(v string) credstore.Secret {
			return credstore.Secret{AccessKeyID: "AKIAX", SecretAccessKey: "wJalr/" + v, Region: "us-east-1"}
		}},
		{"claude", "bedrock", "session_token", func(v string) credstore.Secret {
			return credstore.Secret{AccessKeyID: "AKIAX", SecretAccessKey: "s", Region: "us-east-1", SessionToken: "IQoJ" + v}
		}},
	}
	bad := []struct{ name, c string }{
		{"newline", "\n"}, {"carriage return", "\r"}, {"tab", "\t"}, {"space", " "}, {"NUL", "\x00"},
		{"DEL", "\x7f"}, {"unicode next line", "\u0085"}, {"unicode line separator", "\u2028"},
		{"right-to-left override", "\u202e"}, {"zero-width space", "\u200b"}, {"quote", `"`}, {"non-ASCII letter", "é"},
	}
	for _, fl := range fields {
		for _, b := range bad {
			for _, v := range []string{"abc" + b.c + "def", "abc" + b.c + "NEXT_VAR=1", b.c + "\x00end"} {
				_, err := f.store.Put(context.Background(), db, owner, fl.agent, fl.method, fl.secret(v), f.by)
				if !errors.Is(err, errs.ErrInvalid) || !strings.Contains(err.Error(), fl.field) {
					t.Errorf("%s/%s %s with %s: err = %v, want invalid naming %s", fl.agent, fl.method, fl.field, b.name, err, fl.field)
				} else if strings.Contains(err.Error(), "abc") {
					t.Errorf("%s/%s %s: the error echoes the value: %v", fl.agent, fl.method, fl.field, err)
				}
			}
		}
		// The token alphabet itself passes.
		if _, err := f.store.Put(context.Background(), db, owner, fl.agent, fl.method, fl.secret("Az09-._~+/="), f.by); err != nil {
			t.Errorf("%s/%s %s with every token character: %v", fl.agent, fl.method, fl.field, err)
		}
	}
	// Whitespace around a pasted key is trimmed, not refused.
	c, err := f.store.Put(context.Background(), db, owner, "claude", "api_key", credstore.Secret{APIKey: " \tsk-ant-api03-pasted-7777\r\n"}, f.by)
	if err != nil || c.Hint != "7777" {
		t.Fatalf("pasted key = %+v, %v", c, err)
	}
}

// The agents and their methods are read through copies: changing what a
// caller got back changes neither the chain order nor what ParseAgent takes.
func TestAgentsAndMethodsAreFixed(t *testing.T) {
	t.Parallel()
	got := credstore.Agents()
	got[0] = "gemini"
	ms := credstore.AgentClaude.Methods()
	ms[0] = "password"
	if a := credstore.Agents(); a[0] != credstore.AgentClaude || a[1] != credstore.AgentCodex {
		t.Errorf("Agents() = %v after a caller changed its copy", a)
	}
	want := []credstore.Method{credstore.MethodOAuth, credstore.MethodAPIKey, credstore.MethodBedrock}
	if m := credstore.AgentClaude.Methods(); !slices.Equal(m, want) {
		t.Errorf("claude methods = %v, want %v", m, want)
	}
	for _, tc := range []struct {
		in   string
		want credstore.Agent
		kind error
	}{
		{"claude", credstore.AgentClaude, nil},
		{"codex", credstore.AgentCodex, nil},
		{"gemini", "", errs.ErrInvalid},
		{"", "", errs.ErrInvalid},
	} {
		a, err := credstore.ParseAgent(tc.in)
		if a != tc.want || !errors.Is(err, tc.kind) || (tc.kind == nil) != (err == nil) {
			t.Errorf("ParseAgent(%q) = %q, %v; want %q, %v", tc.in, a, err, tc.want, tc.kind)
		}
	}
	if n := credstore.AgentCodex.DisplayName(); n != "Codex" {
		t.Errorf("codex display name = %q", n)
	}
}
