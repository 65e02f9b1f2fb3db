// Mention detection: "@<bot login>" case-insensitively, not
// preceded by a word character (so x@tryreplicas.com is not one) and not
// followed by [A-Za-z0-9-]; nothing inside fenced code blocks, inline code
// spans or quoted lines counts. "@<bot login> stop" alone on a line is the
// stop command.

package github

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Mentions reports whether body mentions @login outside code and quotes.
func Mentions(body, login string) bool {
	if login == "" {
		return false
	}
	handle := "@" + strings.ToLower(login)
	return anyVisible(body, func(para string) bool { return hasHandle(para, handle) })
}

// StopCommand reports whether body asks @login to stop: a line outside code
// and quotes that is "@login stop" (any case, optionally ending in "." or
// "!"). A stop command is always a mention.
func StopCommand(body, login string) bool {
	if login == "" {
		return false
	}
	handle := "@" + strings.ToLower(login)
	return anyVisible(body, func(para string) bool {
		for _, line := range strings.Split(para, "\n") {
			f := strings.Fields(strings.ToLower(line))
			if len(f) == 2 && f[0] == handle && strings.TrimRight(f[1], ".!") == "stop" {
				return true
			}
		}
		return false
	})
}

// anyVisible reports whether fn holds for a paragraph of body outside fenced
// blocks and quoted lines, with its inline code spans removed. Lines are
// grouped into paragraphs (split by blank lines, fences and quoted lines)
// because a code span may continue onto the next line.
func anyVisible(body string, fn func(para string) bool) bool {
	var fence string       // the opening fence while inside a fenced block
	var para []string      // the lines of the current paragraph
	found := func() bool { // checks and empties the paragraph
		ok := len(para) > 0 && fn(stripInlineCode(strings.Join(para, "\n")))
		para = para[:0]
		return ok
	}
	for _, line := range strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n") {
		line = strings.TrimSuffix(line, "\r")
		trimmed := strings.TrimLeft(line, " \t")
		if fence != "" {
			if isFence(trimmed) && strings.HasPrefix(trimmed, fence) && strings.TrimSpace(strings.TrimLeft(trimmed, fence[:1])) == "" {
				fence = ""
			}
			continue
		}
		switch {
		case isFence(trimmed):
			fence = fenceRun(trimmed)
		case strings.HasPrefix(trimmed, ">"): // quoted, however deeply
		case strings.TrimSpace(line) == "":
		default:
			para = append(para, line)
			continue
		}
		if found() {
			return true
		}
	}
	return found()
}

// isFence reports whether a line opens or closes a fenced code block; the
// info string of a backtick fence may not contain a backtick.
func isFence(s string) bool {
	if strings.HasPrefix(s, "~~~") {
		return true
	}
	return strings.HasPrefix(s, "```") && !strings.Contains(strings.TrimLeft(s, "`"), "`")
}

// fenceRun is the run of fence characters that opens a block; the block ends
// at a line with at least as many of the same character.
func fenceRun(s string) string {
	n := 0
	for n < len(s) && s[n] == s[0] {
		n++
	}
	return s[:n]
}

// stripInlineCode removes `code spans` (delimited by equal backtick runs);
// an unmatched run stays as literal text.
func stripInlineCode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '`' {
			b.WriteByte(s[i])
			i++
			continue
		}
		run := 0
		for i+run < len(s) && s[i+run] == '`' {
			run++
		}
		closeAt := findRun(s[i+run:], run)
		if closeAt < 0 {
			b.WriteString(s[i : i+run])
			i += run
			continue
		}
		b.WriteByte(' ')
		i += run + closeAt + run
	}
	return b.String()
}

// findRun finds a run of exactly n backticks in s.
func findRun(s string, n int) int {
	for i := 0; i < len(s); {
		if s[i] != '`' {
			i++
			continue
		}
		j := i
		for j < len(s) && s[j] == '`' {
			j++
		}
		if j-i == n {
			return i
		}
		i = j
	}
	return -1
}

func hasHandle(line, handle string) bool {
	lower := strings.ToLower(line)
	for from := 0; ; {
		i := strings.Index(lower[from:], handle)
		if i < 0 {
			return false
		}
		i += from
		end := i + len(handle)
		before, _ := utf8.DecodeLastRuneInString(lower[:i])
		after := byte(0)
		if end < len(lower) {
			after = lower[end]
		}
		if !(i > 0 && isWord(before)) && !isHandleByte(after) {
			return true
		}
		from = i + 1
	}
}

func isWord(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

func isHandleByte(c byte) bool {
	return c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
