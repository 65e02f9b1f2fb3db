package web

import (
	"testing"

	"github.com/tryreplicas/gateway/credstore"
)

func TestChainWords(t *testing.T) {
	link := func(scope string, m credstore.Method) credstore.ChainLink {
		return credstore.ChainLink{Scope: scope, Method: m, Status: credstore.StatusActive}
	}
	for _, tc := range []struct {
		res  credstore.Resolution
		want string
	}{
		{credstore.Resolution{Agent: "claude", Chain: []credstore.ChainLink{link("user", "oauth"), link("org", "api_key"), link("org", "bedrock")}},
			"Claude for you: your OAuth → org API key → org Bedrock"},
		{credstore.Resolution{Agent: "codex"}, "Codex for you: not configured"},
		{credstore.Resolution{Agent: "codex", Chain: []credstore.ChainLink{link("org", "api_key")}, Skipped: []credstore.ChainLink{link("user", "oauth")}},
			"Codex for you: org API key (skipped, unusable: your OAuth)"},
	} {
		if got := ChainWords(tc.res); got != tc.want {
			t.Errorf("ChainWords = %q, want %q", got, tc.want)
		}
	}
}

// The templates parse (at init) and every page template defines content.
func TestTemplates(t *testing.T) {
	for name, tpl := range pages {
		if tpl.Lookup("content") == nil {
			t.Errorf("%s defines no content", name)
		}
	}
	for _, name := range []string{"settings_agents", "settings_user", "settings_members", "settings_invited", "settings_integrations", "settings_token", "deliveries", "delivery", "audit"} {
		if pages[name] == nil {
			t.Errorf("no template %s", name)
		}
	}
}
