package github

import (
	"strings"
	"testing"
)

func TestMentions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		body string
		want bool
	}{
		{"@tryreplicas fix this", true},
		{"please @TryReplicas, fix this", true},
		{"(@tryreplicas)", true},
		{"@tryreplicas.", true},
		{"@tryreplicas!", true},
		{"@tryreplicas: go", true},
		{"line one\r\n@tryreplicas\r\n", true},
		{"héllo @tryreplicas", true},
		{"émoji 🚀@tryreplicas", true},
		{"@tryreplicas_", true}, // '_' is not in [A-Za-z0-9-]
		{"mail x@tryreplicas.com", false},
		{"café@tryreplicas", false},
		{"_@tryreplicas", false},
		{"@tryreplicas-bot please", false},
		{"@tryreplicasbot", false},
		{"@tryreplicas2", false},
		{"tryreplicas without at", false},
		{"@try replicas", false},
		{"`@tryreplicas` in code", false},
		{"``code with ` and @tryreplicas``", false},
		{"unmatched ` then @tryreplicas", true},
		{"```\n@tryreplicas\n```", false},
		{"```go\n@tryreplicas\n```\nafter", false},
		{"```\ncode\n```\n@tryreplicas after the fence", true},
		{"~~~\n@tryreplicas\n~~~", false},
		{"````\n```\n@tryreplicas\n````", false},
		{"```\nunclosed fence @tryreplicas", false},
		{"> @tryreplicas said", false},
		{"> > @tryreplicas nested", false},
		{"   > indented quote @tryreplicas", false},
		{"> quote\n\n@tryreplicas real", true},
		{"\r\n> quoted @tryreplicas\r\nnot quoted", false},
		{"", false},
	}
	for _, tc := range cases {
		if got := Mentions(tc.body, "tryreplicas"); got != tc.want {
			t.Errorf("Mentions(%q) = %v, want %v", tc.body, got, tc.want)
		}
	}
	if Mentions("@tryreplicas", "") {
		t.Error("an empty login matched")
	}
}

func FuzzMentions(f *testing.F) {
	for _, s := range []string{"@tryreplicas", "x@tryreplicas.com", "```\n@tryreplicas\n```", "> @tryreplicas", "`@tryreplicas`", "@TRYREPLICAS-x", "\r\n@tryreplicas\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		got := Mentions(body, "tryreplicas")
		// Quoting every line never leaves a mention.
		quoted := "> " + strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\n", "\n> ")
		if Mentions(quoted, "tryreplicas") {
			t.Fatalf("quoted body %q still mentions", quoted)
		}
		// Fencing the whole body hides it (unless the body closes the fence itself).
		if !strings.Contains(body, "```") && !strings.Contains(body, "~~~") && Mentions("````\n"+body+"\n````", "tryreplicas") {
			t.Fatalf("fenced body %q still mentions", body)
		}
		// A mention needs the handle.
		if got && !strings.Contains(strings.ToLower(body), "@tryreplicas") {
			t.Fatalf("%q has no handle but mentions", body)
		}
	})
}
