package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// The README's first command works on a fresh data dir and launches both.
func TestDemo(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"demo", "--exit", "--data-dir", t.TempDir()}, env(nil), &out, &errOut); err != nil {
		t.Fatalf("demo: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	text := out.String()
	for _, want := range []string{"from github", "from linear", "dry-run launch request", "GitHub reaction", "Launched workspace", "Linear comment: Replicas launched workspace", "acme/storefront"} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q:\n%s", want, text)
		}
	}
	if strings.Count(text, "  launched ") != 2 {
		t.Errorf("want two launched workspaces:\n%s", text)
	}
}
