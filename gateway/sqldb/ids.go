// Identifiers and secrets tokens: random ids with a readable prefix, and the
// hashing of bearer tokens (stored hashed, shown once).
package sqldb

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// NewID returns prefix + "_" + 20 random hex characters, e.g. "org_3f9a…".
func NewID(prefix string) string {
	b := make([]byte, 10)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return prefix + "_" + hex.EncodeToString(b)
}

// NewToken returns prefix + "_" + 32 random bytes in URL-safe base64.
func NewToken(prefix string) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return prefix + "_" + base64.RawURLEncoding.EncodeToString(b)
}

// HashToken is how tokens are stored and looked up: SHA-256 of the token. The
// tokens carry 256 random bits, so a fast hash is enough.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
