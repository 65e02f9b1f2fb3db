package secret

import (
	"fmt"
	"log/slog"
)

// Secret is a value that prints as "[redacted]" (or "" when unset) through
// fmt with any verb, slog, encoding/json and every text encoder. Reveal gives
// the value to the one place that uses it.
type Secret string

// Redacted is what a set Secret prints as.
const Redacted = "[redacted]"

// Reveal returns the value.
func (s Secret) Reveal() string { return string(s) }

// Bytes returns the value as bytes (keys and PEM blocks).
func (s Secret) Bytes() []byte { return []byte(s) }

func (s Secret) String() string   { return s.redacted() }
func (s Secret) GoString() string { return fmt.Sprintf("%q", s.redacted()) }

// Format redacts under every verb, %d and %x included.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, s.GoString())
		return
	}
	fmt.Fprint(f, s.redacted())
}

func (s Secret) LogValue() slog.Value         { return slog.StringValue(s.redacted()) }
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.redacted()), nil }

func (s Secret) redacted() string {
	if s == "" {
		return ""
	}
	return Redacted
}
