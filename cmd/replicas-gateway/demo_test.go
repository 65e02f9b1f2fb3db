package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The README's first command works on a fresh data dir and launches both;
// they run locally with the stand-in agent: a re-authentication, an answer,
// a follow-up answered in the same conversation, and a finish.
func TestDemo(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	dir := t.TempDir()
	if err := run(context.Background(), []string{"demo", "--exit", "--data-dir", dir}, env(nil), &out, &errOut); err != nil {
		t.Fatalf("demo: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	text := out.String()
	for _, want := range []string{"from github", "from linear", "runs locally in", "GitHub reaction", "Linear comment: Replicas launched workspace", "acme/storefront"} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q:\n%s", want, text)
		}
	}
	// Each workspace carries the installation holding its repository.
	for _, want := range []string{"Codertocat/Hello-World@feature-branch (installation 1)", "acme/storefront@ (installation 2)"} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q:\n%s", want, text)
		}
	}
	for _, want := range []string{"thought  Re-authenticating Claude", "response Done: @tryreplicas please make the failing test pass",
		"response Follow-up done: @tryreplicas also add a test for it", "action   Pushed feature-branch", "→ finished: Follow-up done"} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q:\n%s", want, text)
		}
	}
	// The last step is a sign-in link for the pages.
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "/login/link/rpk_") {
		t.Errorf("the last line is not a sign-in link: %q", last)
	}
	// The log has a line per request with its id, and no secret at all.
	log, err := os.ReadFile(filepath.Join(dir, "gateway.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), `"request_id"`) || !strings.Contains(string(log), `"route":"/webhooks/:source"`) {
		t.Errorf("log lacks request lines:\n%s", log)
	}
	key, _ := os.ReadFile(filepath.Join(dir, "encryption.key"))
	for _, secret := range []string{"sk-ant-", "rpl_", "rpw_", "lin_oauth_demo", "ghs_fake", "PRIVATE KEY", strings.TrimSpace(string(key))} {
		if strings.Contains(string(log), secret) {
			t.Errorf("the log contains a secret (%q)", secret[:4])
		}
	}
}
