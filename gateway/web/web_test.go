package web

import (
	"testing"

	"github.com/tryreplicas/gateway/integrations/launch"
)

func TestSafeNext(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"/workspaces/ws_1?x=1", "/workspaces/ws_1?x=1"},
		{"/invitations/rpi_abc", "/invitations/rpi_abc"},
		{"", "/fallback"},
		{"workspaces", "/fallback"},
		{"//evil.example/", "/fallback"},
		{"/\\evil.example", "/fallback"},
		{"https://evil.example/", "/fallback"},
		{"javascript:alert(1)", "/fallback"},
		{"/ok\r\nSet-Cookie: x", "/fallback"},
		{"/%2F%2Fevil.example", "/%2F%2Fevil.example"}, // a path of this site
	} {
		if got := SafeNext(c.in, "/fallback"); got != c.want {
			t.Errorf("SafeNext(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestChainText(t *testing.T) {
	t.Parallel()
	chain := []launch.ChainEntry{{CredentialID: "cred_1", Scope: "user", Method: "oauth"}, {CredentialID: "cred_2", Scope: "org", Method: "api_key"},
		{CredentialID: "cred_3", Scope: "org", Method: "bedrock"}}
	for _, c := range []struct {
		agent string
		chain []launch.ChainEntry
		mine  bool
		want  string
	}{
		{"claude", chain, true, "Claude: your OAuth → org API key → org Bedrock"},
		{"claude", chain, false, "Claude: owner's OAuth → org API key → org Bedrock"},
		{"codex", chain[1:2], true, "Codex: org API key"},
		{"codex", nil, true, "Codex: no credentials"},
	} {
		if got := ChainText(c.agent, c.chain, c.mine); got != c.want {
			t.Errorf("ChainText = %q, want %q", got, c.want)
		}
	}
}

// Every page template parses with the layout and defines its content.
func TestTemplatesParse(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"error", "login", "loginlink", "invitation", "relink", "message", "workspaces", "workspace"} {
		p, ok := pages[name]
		if !ok || p.Lookup("content") == nil || p.Lookup("csrf") == nil {
			t.Errorf("template %s is missing or incomplete", name)
		}
	}
}
