package oauthstate

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
)

//go:embed migrations
var migrations embed.FS

// Migrations is this package's schema.
var Migrations = sqldb.Set{Name: "oauthstate", FS: sqldb.MustSub(migrations, "migrations")}

// TTL is how long a state is valid.
const TTL = 30 * time.Minute

// ErrBad is an unknown, expired, used or forged state.
var ErrBad = errs.New(errs.ErrInvalid, "invalid_state", "the state is unknown, expired, already used or forged")

// State is what a flow remembers between its start and its callback.
type State struct {
	OrgID    string
	UserID   string
	Verifier string
	// SessionID is the browser session that started the flow; only a
	// callback in that same session consumes the state.
	SessionID string
	// Data is what the flow keeps for its next step (JSON, no secrets).
	Data string
}

// Store signs states with key.
type Store struct{ key []byte }

// New returns a store signing with key.
func New(key []byte) *Store { return &Store{key: key} }

func (s *Store) sign(id string) string {
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(id))
	return hex.EncodeToString(mac.Sum(nil))
}

// Issue stores a state of kind and returns its signed form.
func (s *Store) Issue(ctx context.Context, q sqldb.Querier, kind string, st State) (string, error) {
	id := sqldb.NewID("st")
	if st.SessionID == "" {
		return "", fmt.Errorf("oauth state %s: no browser session to bind it to", kind)
	}
	if _, err := q.Exec(ctx, `INSERT INTO oauth_states (id, kind, org_id, user_id, verifier, session_id, data, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		id, kind, st.OrgID, st.UserID, st.Verifier, st.SessionID, st.Data, time.Now().UTC().Add(TTL)); err != nil {
		return "", fmt.Errorf("oauth state: %w", err)
	}
	return id + "." + s.sign(id), nil
}

// Consume checks the signature and uses the state up; a second use fails.
// Only the browser session that started the flow consumes it: in any other
// session the state is ErrBad and stays unused, so the flow can still be
// completed where it began.
func (s *Store) Consume(ctx context.Context, q sqldb.Querier, signed, kind, sessionID string) (State, error) {
	if sessionID == "" {
		return State{}, ErrBad
	}
	id, sig, ok := strings.Cut(signed, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(s.sign(id))) {
		return State{}, ErrBad
	}
	now := time.Now().UTC()
	st := State{SessionID: sessionID}
	err := q.QueryRow(ctx, `UPDATE oauth_states SET used_at = $1 WHERE id = $2 AND kind = $3 AND session_id = $4 AND used_at IS NULL AND expires_at > $1
		RETURNING org_id, user_id, verifier, data`, now, id, kind, sessionID).Scan(&st.OrgID, &st.UserID, &st.Verifier, &st.Data)
	if errors.Is(err, sqldb.ErrNoRows) {
		return State{}, ErrBad
	}
	if err != nil {
		return State{}, fmt.Errorf("oauth state: %w", err)
	}
	return st, nil
}

// Purge deletes the states that expired before now, used or not: none of
// them can be consumed any more.
func Purge(ctx context.Context, q sqldb.Querier, now time.Time) (int, error) {
	n, err := q.Exec(ctx, `DELETE FROM oauth_states WHERE expires_at < $1`, now)
	if err != nil {
		return 0, fmt.Errorf("purge oauth states: %w", err)
	}
	return int(n), nil
}
