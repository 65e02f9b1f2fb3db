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
		{"a `code\n@tryreplicas` span over two lines", false},
		{"a `code\n\n@tryreplicas` blank line ends the span", true},
		{"```not`a fence @tryreplicas```", false},
		{"```not`a fence\n@tryreplicas", true},
		{"  ~~~ python\r\n@tryreplicas\r\n  ~~~\r\nthanks", false},
		{"```\n@tryreplicas\n``` not a close\n```\n", false},
		{">>@tryreplicas", false},
		{"\t> @tryreplicas", false},
		{"quote ends\n> x\n@tryreplicas", true},
		{"日本語@tryreplicas", false},
		{"日本語 @tryreplicas です", true},
		{"«@tryreplicas»", true},
		{"@tryreplicas\u00e9", true}, // only [A-Za-z0-9-] after the handle disqualifies
		{"[@tryreplicas](https://github.com/tryreplicas)", true},
		{"http://x.com/@tryreplicas", true},
		{"user@TRYREPLICAS", false},
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

func FuzzMention(f *testing.F) {
	for _, s := range []string{"@tryreplicas", "x@tryreplicas.com", "```\n@tryreplicas\n```", "> @tryreplicas", "`@tryreplicas`", "@TRYREPLICAS-x", "\r\n@tryreplicas\r\n", "a `x\n@tryreplicas` b", "~~~\n@tryreplicas", "> > @tryreplicas\n\n@tryreplicas", "@tryreplicas stop", "thanks\n@TryReplicas Stop!", "`@tryreplicas stop`"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		got := Mentions(body, "tryreplicas")
		hasFence := strings.Contains(body, "```") || strings.Contains(body, "~~~")
		// Text appended inside a fenced block changes nothing.
		if !hasFence && Mentions(body+"\n```\n@tryreplicas "+body+"\n```\n", "tryreplicas") != got {
			t.Fatalf("appending a fenced block changed the answer for %q", body)
		}
		// CRLF and LF line ends agree.
		if !strings.Contains(body, "\r") && Mentions(strings.ReplaceAll(body, "\n", "\r\n"), "tryreplicas") != got {
			t.Fatalf("CRLF changed the answer for %q", body)
		}
		// The login is matched case-insensitively.
		if Mentions(body, "TryReplicas") != got {
			t.Fatalf("login case changed the answer for %q", body)
		}
		// Quoting every line never leaves a mention.
		quoted := "> " + strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\n", "\n> ")
		if Mentions(quoted, "tryreplicas") {
			t.Fatalf("quoted body %q still mentions", quoted)
		}
		// Fencing the whole body hides it (unless the body closes the fence itself).
		if !strings.Contains(body, "```") && !strings.Contains(body, "~~~") && Mentions("````\n"+body+"\n````", "tryreplicas") {
			t.Fatalf("fenced body %q still mentions", body)
		}
		// A stop command is a mention, and survives CRLF line ends.
		if StopCommand(body, "tryreplicas") && !got {
			t.Fatalf("%q is a stop command but no mention", body)
		}
		if !strings.Contains(body, "\r") && StopCommand(strings.ReplaceAll(body, "\n", "\r\n"), "tryreplicas") != StopCommand(body, "tryreplicas") {
			t.Fatalf("CRLF changed the stop answer for %q", body)
		}
		if StopCommand(quoted, "tryreplicas") {
			t.Fatalf("quoted body %q is still a stop command", quoted)
		}
		// A mention needs the handle.
		if got && !strings.Contains(strings.ToLower(body), "@tryreplicas") {
			t.Fatalf("%q has no handle but mentions", body)
		}
	})
}

func TestStopCommand(t *testing.T) {
	t.Parallel()
	cases := []struct {
		body string
		want bool
	}{
		{"@tryreplicas stop", true},
		{"@TryReplicas STOP.", true},
		{"thanks!\r\n  @tryreplicas stop!\r\n", true},
		{"@tryreplicas stop the build from failing", false},
		{"please @tryreplicas stop", false},
		{"@tryreplicas", false},
		{"@tryreplicas-bot stop", false},
		{"> @tryreplicas stop", false},
		{"```\n@tryreplicas stop\n```", false},
		{"`@tryreplicas stop`", false},
		{"@tryreplicas stopped", false},
	}
	for _, c := range cases {
		if got := StopCommand(c.body, "tryreplicas"); got != c.want {
			t.Errorf("StopCommand(%q) = %v, want %v", c.body, got, c.want)
		}
		if c.want && !Mentions(c.body, "tryreplicas") {
			t.Errorf("stop command %q is not a mention", c.body)
		}
	}
}
