// Identifiers and secrets tokens: random ids with a readable prefix, and the
// hashing of bearer tokens (stored hashed, shown once).

package sqldb

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"
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

// ClaimWindow records key in table (columns explanation_key, created_at) and
// reports whether the caller may act: true when the key is new or its last
// claim is older than window. Used to say something at most once per window
// (e.g. one explanation per user, pull request and hour). table is a constant
// chosen by the caller, never user input.
func ClaimWindow(ctx context.Context, q Querier, table, key string, now time.Time, window time.Duration) (bool, error) {
	n, err := q.Exec(ctx, `INSERT INTO `+table+` (explanation_key, created_at) VALUES ($1, $2)
		ON CONFLICT (explanation_key) DO UPDATE SET created_at = excluded.created_at WHERE `+table+`.created_at <= $3`,
		key, now, now.Add(-window))
	if err != nil {
		return false, fmt.Errorf("claim %s: %w", table, err)
	}
	return n == 1, nil
}

// PurgeClaims deletes the claims of table (see ClaimWindow) made before
// before, and says how many. table is a constant chosen by the caller.
func PurgeClaims(ctx context.Context, q Querier, table string, before time.Time) (int, error) {
	n, err := q.Exec(ctx, `DELETE FROM `+table+` WHERE created_at < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("purge %s: %w", table, err)
	}
	return int(n), nil
}
