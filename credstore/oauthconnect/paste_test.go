package oauthconnect_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/tryreplicas/gateway/credstore/oauthconnect"
	"github.com/tryreplicas/gateway/gateway/errs"
)

func TestParseCode(t *testing.T) {
	for _, tc := range []struct {
		name, in    string
		code, state string
	}{
		{"code#state", "abc123#st_1.ff00", "abc123", "st_1.ff00"},
		{"surrounding space and newline", "  abc-_.~+/=#st_2.aa \n", "abc-_.~+/=", "st_2.aa"},
		{"the code page's own address", "https://console.anthropic.com/oauth/code/callback?code=abc&state=st_3.bb", "abc", "st_3.bb"},
		{"no state", "abc123", "", ""},
		{"empty code", "#st_1.ff", "", ""},
		{"empty state", "abc#", "", ""},
		{"two hashes", "abc#st#x", "", ""},
		{"space inside", "ab c#st", "", ""},
		{"html", "<b>abc</b>#st", "", ""},
		{"empty", "", "", ""},
		{"too long", strings.Repeat("a", 9000) + "#st", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := oauthconnect.ParseCode(tc.in)
			if tc.code == "" {
				if err == nil || !errors.Is(err, errs.ErrInvalid) {
					t.Fatalf("ParseCode(%q) = %+v, %v; want an invalid paste", tc.in, got, err)
				}
				return
			}
			if err != nil || got.Code != tc.code || got.State != tc.state {
				t.Fatalf("ParseCode(%q) = %+v, %v; want %s, %s", tc.in, got, err, tc.code, tc.state)
			}
		})
	}
}

func TestParseRedirect(t *testing.T) {
	for _, tc := range []struct {
		name, in    string
		code, state string
		errCode     string
	}{
		{"the redirected address", "http://localhost:1455/auth/callback?code=ac_1&scope=openid+profile&state=st_1.ff", "ac_1", "st_1.ff", ""},
		{"escaped characters", "http://localhost:1455/auth/callback?code=a%2Fb%3D&state=st_2.aa", "a/b=", "st_2.aa", ""},
		{"provider refused", "http://localhost:1455/auth/callback?error=access_denied&state=st_1.ff", "", "", "authorization_refused"},
		{"provider error with odd text", "http://localhost:1455/auth/callback?error=%3Cscript%3E&state=x", "", "", "authorization_refused"},
		{"no query", "http://localhost:1455/auth/callback", "", "", "invalid_paste"},
		{"no state", "http://localhost:1455/auth/callback?code=ac_1", "", "", "invalid_paste"},
		{"two codes", "http://localhost:1455/auth/callback?code=a&code=b&state=s", "", "", "invalid_paste"},
		{"code#state instead", "ac_1#st_1", "", "", "invalid_paste"},
		{"bad query escape", "http://x/?code=%zz&state=s", "", "", "invalid_paste"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := oauthconnect.ParseRedirect(tc.in)
			if tc.errCode != "" {
				var e *errs.Error
				if !errors.As(err, &e) || e.Code != tc.errCode {
					t.Fatalf("ParseRedirect(%q) = %+v, %v; want %s", tc.in, got, err, tc.errCode)
				}
				if strings.Contains(e.Message, "<") {
					t.Fatalf("message echoes markup: %q", e.Message)
				}
				return
			}
			if err != nil || got.Code != tc.code || got.State != tc.state {
				t.Fatalf("ParseRedirect(%q) = %+v, %v; want %s, %s", tc.in, got, err, tc.code, tc.state)
			}
		})
	}
}

// FuzzPaste: neither parser panics, whatever they accept is made of token
// characters only, and a well-formed code and state always come back intact
// from both paste shapes.
func FuzzPaste(f *testing.F) {
	for _, s := range []string{"abc#st_1.ff", "http://localhost:1455/auth/callback?code=a&state=b", "#", "a#b#c", "https://x/?error=access_denied", "%", "http://[::1", "a b#c"} {
		f.Add(s, "code", "st_1.ff00")
	}
	f.Fuzz(func(t *testing.T, in, code, state string) {
		for _, parse := range []func(string) (oauthconnect.Pasted, error){oauthconnect.ParseCode, oauthconnect.ParseRedirect} {
			p, err := parse(in)
			if err != nil {
				continue
			}
			if p.Code == "" || p.State == "" || !tokenChars(p.Code) || !tokenChars(p.State) {
				t.Fatalf("accepted %q as %+v", in, p)
			}
		}
		if code == "" || state == "" || !tokenChars(code) || !tokenChars(state) || len(code)+len(state) > 4000 {
			return
		}
		if p, err := oauthconnect.ParseCode(code + "#" + state); err != nil || p.Code != code || p.State != state {
			t.Fatalf("ParseCode(%q#%q) = %+v, %v", code, state, p, err)
		}
		addr := "http://localhost:1455/auth/callback?" + url.Values{"code": {code}, "state": {state}, "scope": {"openid"}}.Encode()
		if p, err := oauthconnect.ParseRedirect(addr); err != nil || p.Code != code || p.State != state {
			t.Fatalf("ParseRedirect(%q) = %+v, %v", addr, p, err)
		}
	})
}

func tokenChars(s string) bool {
	return strings.IndexFunc(s, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-._~+/=", c))
	}) < 0
}
