// Parsing what a person pastes back from the provider.

package oauthconnect

import (
	"net/url"
	"strings"

	"github.com/tryreplicas/gateway/gateway/errs"
)

// maxPaste bounds what is parsed; real codes, states and addresses are far
// shorter.
const maxPaste = 8 << 10

// ErrPaste is a pasted text that holds no code and state.
var ErrPaste = errs.New(errs.ErrInvalid, "invalid_paste", "paste the whole code shown after signing in (code#state) or the whole address your browser was sent to")

// Pasted is the code and state read from a paste.
type Pasted struct {
	Code  string
	State string
}

// ParseCode reads Claude's "code#state". An address carrying code and state
// in its query (the code page's own address) is read too.
func ParseCode(s string) (Pasted, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxPaste {
		return Pasted{}, ErrPaste
	}
	if strings.Contains(s, "://") {
		return ParseRedirect(s)
	}
	code, state, ok := strings.Cut(s, "#")
	if !ok {
		return Pasted{}, ErrPaste
	}
	return checked(Pasted{Code: code, State: state})
}

// ParseRedirect reads the code and state from the address the provider sent
// the browser to. An address carrying the provider's error names it.
func ParseRedirect(s string) (Pasted, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxPaste {
		return Pasted{}, ErrPaste
	}
	u, err := url.Parse(s)
	if err != nil || u.RawQuery == "" {
		return Pasted{}, ErrPaste
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Pasted{}, ErrPaste
	}
	if e := q.Get("error"); e != "" {
		if !tokenChars(e) || len(e) > 64 {
			e = "unknown"
		}
		return Pasted{}, errs.New(errs.ErrInvalid, "authorization_refused", "the provider did not authorize the connection (%s); start again", e)
	}
	if len(q["code"]) != 1 || len(q["state"]) != 1 {
		return Pasted{}, ErrPaste
	}
	return checked(Pasted{Code: q.Get("code"), State: q.Get("state")})
}

// checked accepts only a non-empty code and state of token characters.
func checked(p Pasted) (Pasted, error) {
	if p.Code == "" || p.State == "" || !tokenChars(p.Code) || !tokenChars(p.State) {
		return Pasted{}, ErrPaste
	}
	return p, nil
}

// tokenChars reports whether s holds only the characters codes and states
// are made of (letters, digits and - . _ ~ + / =).
func tokenChars(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-._~+/=", c)) {
			return false
		}
	}
	return true
}
