package secret

import (
	"strings"
	"testing"
)

func TestScrub(t *testing.T) {
	cases := []struct{ in, leak string }{
		{"key sk-ant-api03-abcdefghijklmnop done", "abcdefghijklmnop"},
		{"OPENAI: sk-proj-ABCDEF1234567890", "ABCDEF1234567890"},
		{"push with ghs_16C7e42F292c6912E7710c838347Ae178B4a", "16C7e42F292c6912E7710c838347Ae178B4a"},
		{"the workspace token rpw_0123456789abcdef", "0123456789abcdef"},
		{"Authorization: Bearer abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrstuvwxyz"},
		{"AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI"},
		{"id AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"},
		{"-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "MIIEow"},
		{`password: "hunter2hunter2"`, "hunter2hunter2"},
	}
	for _, tc := range cases {
		got := Scrub(tc.in)
		if strings.Contains(got, tc.leak) || !strings.Contains(got, Redacted) {
			t.Errorf("Scrub(%q) = %q", tc.in, got)
		}
	}
	if got := Scrub("Fixed the failing test in cart_test.go; see PR #12."); got != "Fixed the failing test in cart_test.go; see PR #12." {
		t.Errorf("plain text changed: %q", got)
	}
}

func TestPublicTextAndURL(t *testing.T) {
	if got := PublicText(strings.Repeat("é", 50), 10); len([]rune(got)) != 10 || !strings.HasSuffix(got, "…") {
		t.Errorf("PublicText cut = %q", got)
	}
	for in, want := range map[string]string{
		"https://github.com/acme/shop/pull/3": "https://github.com/acme/shop/pull/3",
		"javascript:alert(1)":                 "",
		"https://user:pw@example.com/x":       "",
		"/relative":                           "",
		"ftp://example.com/x":                 "",
	} {
		if got := PublicURL(in); got != want {
			t.Errorf("PublicURL(%q) = %q, want %q", in, got, want)
		}
	}
}
