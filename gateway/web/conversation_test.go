package web

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// Long texts are cut near shortText at a space or line end, the rest is
// folded up to maxText, and multi-byte characters are never split.
func TestClip(t *testing.T) {
	t.Parallel()
	words := strings.Repeat("word ", 200) // 1000 characters
	cases := []struct {
		name     string
		in       string
		short    int // characters in Short, at most
		rest     bool
		hidden   int
		shortEnd string
	}{
		{"short", "  fix the test\n", 12, false, 0, "fix the test"},
		{"at a space", words, shortText, true, 0, "word"},
		{"no space", strings.Repeat("é", 700), shortText, true, 0, "é"},
		{"beyond the fold", strings.Repeat("ü", maxText+50), shortText, true, 50, "ü"},
	}
	for _, tc := range cases {
		c := clip(tc.in)
		if n := utf8.RuneCountInString(c.Short); n > tc.short || n < tc.short*2/3 || !strings.HasSuffix(c.Short, tc.shortEnd) ||
			(c.Rest != "") != tc.rest || c.Hidden != tc.hidden || !utf8.ValidString(c.Short) || !utf8.ValidString(c.Rest) {
			t.Errorf("%s: short %d chars ending %q, rest %d chars, hidden %d", tc.name, n, c.Short[max(0, len(c.Short)-8):], utf8.RuneCountInString(c.Rest), c.Hidden)
		}
		if got := strings.Join(strings.Fields(c.Short+c.Rest), ""); c.Hidden == 0 && got != strings.Join(strings.Fields(tc.in), "") {
			t.Errorf("%s: text lost in the cut", tc.name)
		}
	}
}
