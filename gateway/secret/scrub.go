// Scrubbing text that leaves for a public place (a pull request comment, a
// Linear activity): anything shaped like a credential is replaced.

package secret

import (
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"
)

// tokenPatterns are the shapes of credentials that text written by an agent
// or a workspace may carry: provider API keys and OAuth tokens, GitHub
// tokens, the gateway's own tokens, AWS keys, bearer headers, private keys,
// and key=value assignments of secret-sounding names.
var tokenPatterns = []*regexp.Regexp{
	regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)`),
	regexp.MustCompile(`\b(sk-ant-[a-z]+\d*-|sk-proj-|sk-|ghp_|gho_|ghu_|ghs_|ghr_|github_pat_|glpat-|xox[abprs]-|lin_api_|lin_oauth_|whsec_|rp[lowik]_)[A-Za-z0-9_\-+/=.]{8,}`),
	regexp.MustCompile(`\b(AKIA|ASIA)[A-Z0-9]{16}\b`),
	regexp.MustCompile(`(?i)\b(bearer|token|basic)\s+[A-Za-z0-9_\-+/=.]{16,}`),
	regexp.MustCompile(`(?i)\b([A-Z0-9_]*(SECRET|TOKEN|PASSWORD|PASSWD|API_KEY|APIKEY|PRIVATE_KEY|ACCESS_KEY)[A-Z0-9_]*)\s*[=:]\s*("[^"]*"|'[^']*'|\S+)`),
	regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`), // JWTs
}

// Scrub replaces every credential-shaped part of text with [redacted]. It is
// a net for text a program wrote, not a guarantee: secrets of no known shape
// pass.
func Scrub(text string) string {
	for i, p := range tokenPatterns {
		if i == 4 {
			text = p.ReplaceAllString(text, "${1}=[redacted]")
			continue
		}
		text = p.ReplaceAllString(text, Redacted)
	}
	return text
}

// PublicText is text fit to post: scrubbed, and cut to at most max
// characters (with an ellipsis) on a character boundary.
func PublicText(text string, max int) string {
	text = Scrub(strings.ToValidUTF8(text, ""))
	if utf8.RuneCountInString(text) <= max {
		return text
	}
	r := []rune(text)
	return string(r[:max-1]) + "…"
}

// PublicURL is u when it is an absolute http or https URL without user
// information (no password in a link), else "".
func PublicURL(u string) string {
	p, err := url.Parse(strings.TrimSpace(u))
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.User != nil || len(u) > 2000 {
		return ""
	}
	return Scrub(p.String())
}
