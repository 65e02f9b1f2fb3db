package github

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/secret"
)

func verifier(webhookSecret string) *App {
	return &App{cfg: Config{WebhookSecret: secret.Secret(webhookSecret), BotLogin: "tryreplicas"}}
}

func headers(event, sig string) http.Header {
	h := http.Header{}
	h.Set("X-GitHub-Event", event)
	h.Set("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
	if sig != "" {
		h.Set(SignatureHeader, sig)
	}
	return h
}

func TestVerify(t *testing.T) {
	t.Parallel()
	body, err := os.ReadFile("../../testdata/github/issue_comment.created.on-pr.json")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		secret string
		h      http.Header
		body   []byte
		kind   error
		event  string
	}{
		{"good", "s3cret", headers("issue_comment", Sign("s3cret", body)), body, nil, "issue_comment.created"},
		{"wrong secret", "s3cret", headers("issue_comment", Sign("other", body)), body, errs.ErrUnauthorized, ""},
		{"no signature", "s3cret", headers("issue_comment", ""), body, errs.ErrUnauthorized, ""},
		{"sha1 only", "s3cret", headers("issue_comment", "sha1=abc"), body, errs.ErrUnauthorized, ""},
		{"no secret configured refuses a signed body", "", headers("issue_comment", Sign("", body)), body, errs.ErrUnauthorized, ""},
		{"no secret configured refuses an unsigned body", "", headers("issue_comment", ""), body, errs.ErrUnauthorized, ""},
		{"tampered body", "s3cret", headers("issue_comment", Sign("s3cret", body)), append([]byte(" "), body...), errs.ErrUnauthorized, ""},
		{"malformed json", "s3cret", headers("issue_comment", Sign("s3cret", []byte("{"))), []byte("{"), errs.ErrInvalid, ""},
		{"ping", "s3cret", headers("ping", Sign("s3cret", []byte(`{"zen":"x","hook_id":1}`))), []byte(`{"zen":"x","hook_id":1}`), nil, "ping"},
	}
	for _, tc := range cases {
		d, err := verifier(tc.secret).Verify(tc.h, tc.body)
		if tc.kind == nil && (err != nil || d.Event != tc.event || d.DeliveryID == "") {
			t.Errorf("%s: %+v, %v", tc.name, d, err)
		}
		if tc.kind != nil && !errors.Is(err, tc.kind) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.kind)
		}
	}
}

// GitHub's own signing code (@octokit/webhooks-methods) agrees with Sign and
// Verify in both directions.
func TestSignatureAgreesWithOctokit(t *testing.T) {
	t.Parallel()
	body, err := os.ReadFile("../../testdata/github/pull_request_review_comment.created.json")
	if err != nil {
		t.Fatal(err)
	}
	out := node(t, `import { sign, verify } from "@octokit/webhooks-methods";
import { readFileSync } from "node:fs";
const body = readFileSync(0, "utf8");
console.log(await sign("peer-secret", body));
console.log(await verify("peer-secret", body, process.env.GO_SIGNATURE));`, string(body), "GO_SIGNATURE="+Sign("peer-secret", body))
	lines := strings.Fields(out)
	if len(lines) != 2 || lines[0] != Sign("peer-secret", body) || lines[1] != "true" {
		t.Fatalf("octokit says %q, Sign says %s", out, Sign("peer-secret", body))
	}
	if _, err := verifier("peer-secret").Verify(headers("pull_request_review_comment", lines[0]), body); err != nil {
		t.Fatalf("Verify refuses octokit's signature: %v", err)
	}
}

// node runs an ES module script in .ci/node (installed by .ci/peers.sh).
func node(t *testing.T, script, stdin string, env ...string) string {
	t.Helper()
	dir, _ := filepath.Abs("../../.ci/node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("npm peers missing: .ci/run must run .ci/peers.sh first")
		}
		t.Skip("npm peers not installed; run bash .ci/peers.sh")
	}
	cmd := exec.Command("node", "--input-type=module", "-e", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	return string(out)
}

// The shape check reads the top-level action without decoding the payload:
// the same answer as decoding it, for every real payload and for actions
// that are not the first key or hide in nested objects and strings.
func TestTopLevelAction(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../../testdata/github/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no payloads: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var want struct{ Action string }
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		if got, err := topLevelAction(b); err != nil || got != want.Action {
			t.Errorf("%s: %q, %v; want %q", filepath.Base(f), got, err, want.Action)
		}
	}
	for _, tc := range []struct {
		body, action string
		ok           bool
	}{
		{`{}`, "", true},
		{` { "a" : [1, {"action": "x"}], "b": "\"}, \"action\": \"y", "action" : "opened" } `, "opened", true},
		{`{"x":1,"y":true,"z":null,"w":{"action":"nested"}}`, "", true},
		{`{"action":"caf\u00e9"}`, "café", true},
		{`[{"action":"x"}]`, "", false},
		{`{"action":1}`, "", false},
		{`{"action":"x"`, "", false},
		{`{"a":"x\\"}`, "", true},
		{`{"a":"x\"}`, "", false},
		{`{"a":[1,2}`, "", false},
		{`{"a" 1}`, "", false},
		{`{"a":}`, "", false},
		{`{"a":1}{}`, "", false},
		{`{"a":{"b":[{"c":"]}"}]}, "action":"edited"}`, "edited", true},
		{`{`, "", false},
		{``, "", false},
	} {
		got, err := topLevelAction([]byte(tc.body))
		if (err == nil) != tc.ok || got != tc.action {
			t.Errorf("%s: %q, %v; want %q (ok %v)", tc.body, got, err, tc.action, tc.ok)
		}
	}
}
