// The linear package's tables: connections (token sealed at rest), the team
// to repository mapping, and the explanation log.

package linear

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/identity"
	"github.com/tryreplicas/gateway/integrations/intake"
	"github.com/tryreplicas/gateway/integrations/launch"
	"github.com/tryreplicas/gateway/integrations/oauthstate"
)

//go:embed migrations
var migrations embed.FS

// Migrations is this package's schema.
var Migrations = sqldb.Set{Name: "linear", FS: sqldb.MustSub(migrations, "migrations"),
	Needs: []sqldb.Set{identity.Migrations, oauthstate.Migrations, launch.Migrations, intake.Migrations}}

// ErrNotConnected: no org connected this Linear organization (or the org has
// no Linear connection).
var ErrNotConnected = fmt.Errorf("linear: connection %w", errs.ErrNotFound)

// Sealer encrypts tokens at rest (credstore.Keyring).
type Sealer interface {
	Seal(plaintext, aad []byte) (keyID string, ciphertext []byte, err error)
	Open(keyID string, ciphertext, aad []byte) ([]byte, error)
}

// Connection is an org's Linear workspace.
type Connection struct {
	OrgID          string     `json:"org_id"`
	OrganizationID string     `json:"organization_id"`
	AppUserID      string     `json:"app_user_id"`
	TokenKind      string     `json:"token_kind"`
	ExpiresAt      *time.Time `json:"expires_at,omitempty"`
	Version        int64      `json:"version"`
	// RefreshState is "" when tokens are usable, "in_flight" after a refresh
	// whose outcome is unknown and "rejected" after Linear refused one: both
	// need a reconnect once the access token expires.
	RefreshState string    `json:"refresh_state,omitempty"`
	UpdatedAt    time.Time `json:"updated_at"`
	token        string
	refresh      string
}

// Tokens are what a connection authenticates with.
type Tokens struct {
	Access  string
	Refresh string    // OAuth only; rotates on every refresh
	Expiry  time.Time // OAuth only
}

// Store reads and writes connections.
type Store struct {
	sealer Sealer
	now    func() time.Time
}

// NewStore returns a store sealing tokens with sealer.
func NewStore(sealer Sealer) *Store {
	return &Store{sealer: sealer, now: func() time.Time { return time.Now().UTC() }}
}

// seal encrypts the access and refresh tokens of a connection (one key id).
func (s *Store) seal(orgID string, t Tokens) (keyID string, access, refresh []byte, err error) {
	keyID, access, err = s.sealer.Seal([]byte(t.Access), []byte(orgID))
	if err != nil {
		return "", nil, nil, fmt.Errorf("linear: seal token: %w", err)
	}
	if t.Refresh != "" {
		k, r, err := s.sealer.Seal([]byte(t.Refresh), []byte(orgID+":refresh"))
		if err != nil || k != keyID {
			return "", nil, nil, fmt.Errorf("linear: seal refresh token: %w", err)
		}
		refresh = r
	}
	return keyID, access, refresh, nil
}

func expiry(t Tokens) *time.Time {
	if t.Expiry.IsZero() {
		return nil
	}
	e := t.Expiry.UTC()
	return &e
}

// Connect stores (or replaces) an org's connection.
func (s *Store) Connect(ctx context.Context, q sqldb.Querier, c Connection, t Tokens, by string) error {
	keyID, sealed, refresh, err := s.seal(c.OrgID, t)
	if err != nil {
		return err
	}
	now := s.now()
	_, err = q.Exec(ctx, `INSERT INTO linear_connections (org_id, organization_id, app_user_id, token_kind, key_id, token_sealed, refresh_sealed, expires_at, created_by, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
		ON CONFLICT (org_id) DO UPDATE SET organization_id = excluded.organization_id, app_user_id = excluded.app_user_id,
			token_kind = excluded.token_kind, key_id = excluded.key_id, token_sealed = excluded.token_sealed,
			refresh_sealed = excluded.refresh_sealed, expires_at = excluded.expires_at, updated_at = excluded.updated_at,
			version = linear_connections.version + 1, refresh_state = ''`,
		c.OrgID, c.OrganizationID, c.AppUserID, c.TokenKind, keyID, sealed, refresh, expiry(t), by, now)
	if sqldb.IsUniqueViolation(err) {
		return errs.Conflict("this Linear organization is already connected to another org")
	}
	if err != nil {
		return fmt.Errorf("linear: connect: %w", err)
	}
	return nil
}

// Disconnect removes an org's connection.
func (s *Store) Disconnect(ctx context.Context, q sqldb.Querier, orgID string) error {
	n, err := q.Exec(ctx, `DELETE FROM linear_connections WHERE org_id = $1`, orgID)
	if err != nil {
		return fmt.Errorf("linear: disconnect: %w", err)
	}
	if n == 0 {
		return ErrNotConnected
	}
	return nil
}

// UpdateTokens stores refreshed tokens, which makes the connection usable
// again.
func (s *Store) UpdateTokens(ctx context.Context, q sqldb.Querier, orgID string, t Tokens) error {
	return s.reseal(ctx, q, orgID, t, true)
}

func (s *Store) reseal(ctx context.Context, q sqldb.Querier, orgID string, t Tokens, refreshed bool) error {
	keyID, sealed, refresh, err := s.seal(orgID, t)
	if err != nil {
		return err
	}
	state := `refresh_state`
	if refreshed {
		state = `''`
	}
	n, err := q.Exec(ctx, `UPDATE linear_connections SET key_id = $1, token_sealed = $2, refresh_sealed = $3, expires_at = $4, updated_at = $5,
		version = version + 1, refresh_state = `+state+` WHERE org_id = $6`,
		keyID, sealed, refresh, expiry(t), s.now(), orgID)
	if err != nil {
		return fmt.Errorf("linear: store tokens: %w", err)
	}
	if n == 0 {
		return ErrNotConnected
	}
	return nil
}

// startRefresh records that a refresh of the connection at version begins.
// It is false when the connection changed meanwhile.
func (s *Store) startRefresh(ctx context.Context, q sqldb.Querier, orgID string, version int64) (bool, error) {
	n, err := q.Exec(ctx, `UPDATE linear_connections SET refresh_state = 'in_flight', version = version + 1, updated_at = $1
		WHERE org_id = $2 AND version = $3 AND refresh_state = ''`, s.now(), orgID, version)
	if err != nil {
		return false, fmt.Errorf("linear: start refresh: %w", err)
	}
	return n == 1, nil
}

// refreshRejected records that Linear refused the refresh token.
func (s *Store) refreshRejected(ctx context.Context, q sqldb.Querier, orgID string) error {
	if _, err := q.Exec(ctx, `UPDATE linear_connections SET refresh_state = 'rejected', version = version + 1, updated_at = $1 WHERE org_id = $2`,
		s.now(), orgID); err != nil {
		return fmt.Errorf("linear: record refused refresh: %w", err)
	}
	return nil
}

const connCols = `org_id, organization_id, app_user_id, token_kind, expires_at, version, refresh_state, updated_at, key_id, token_sealed, refresh_sealed`

func (s *Store) scan(r sqldb.Row) (Connection, error) {
	var c Connection
	var keyID string
	var sealed, refresh []byte
	err := r.Scan(&c.OrgID, &c.OrganizationID, &c.AppUserID, &c.TokenKind, &c.ExpiresAt, &c.Version, &c.RefreshState, &c.UpdatedAt, &keyID, &sealed, &refresh)
	if err := sqldb.NoRowsAs(err, ErrNotConnected, "linear: read connection"); err != nil {
		return c, err
	}
	token, err := s.sealer.Open(keyID, sealed, []byte(c.OrgID))
	if err != nil {
		return c, fmt.Errorf("linear: open token: %w", err)
	}
	c.token = string(token)
	if len(refresh) > 0 {
		rt, err := s.sealer.Open(keyID, refresh, []byte(c.OrgID+":refresh"))
		if err != nil {
			return c, fmt.Errorf("linear: open refresh token: %w", err)
		}
		c.refresh = string(rt)
	}
	return c, nil
}

// ByOrganization finds the connection of a Linear organization.
func (s *Store) ByOrganization(ctx context.Context, q sqldb.Querier, organizationID string) (Connection, error) {
	return s.scan(q.QueryRow(ctx, `SELECT `+connCols+` FROM linear_connections WHERE organization_id = $1`, organizationID))
}

// ByOrg finds an org's connection.
func (s *Store) ByOrg(ctx context.Context, q sqldb.Querier, orgID string) (Connection, error) {
	return s.scan(q.QueryRow(ctx, `SELECT `+connCols+` FROM linear_connections WHERE org_id = $1`, orgID))
}

// SetTeamRepository maps a team (key or id) to the repository its issues use.
func (s *Store) SetTeamRepository(ctx context.Context, q sqldb.Querier, orgID, team, repo string) error {
	if _, err := q.Exec(ctx, `INSERT INTO linear_team_repositories (org_id, team_key, repository) VALUES ($1, $2, $3)
		ON CONFLICT (org_id, team_key) DO UPDATE SET repository = excluded.repository`, orgID, team, repo); err != nil {
		return fmt.Errorf("linear: map team: %w", err)
	}
	return nil
}

// TeamRepository returns the repository of the first mapped team key.
func (s *Store) TeamRepository(ctx context.Context, q sqldb.Querier, orgID string, teams ...string) (string, error) {
	for _, t := range teams {
		var repo string
		err := q.QueryRow(ctx, `SELECT repository FROM linear_team_repositories WHERE org_id = $1 AND team_key = $2`, orgID, t).Scan(&repo)
		if err == nil {
			return repo, nil
		}
		if !errors.Is(err, sqldb.ErrNoRows) {
			return "", fmt.Errorf("linear: team repository: %w", err)
		}
	}
	return "", nil
}

// Reseal re-encrypts tokens sealed with older keys (admin rotate-key); it
// keeps each connection's refresh state.
func (s *Store) Reseal(ctx context.Context, q sqldb.Querier, current string) (int, error) {
	rows, err := q.Query(ctx, `SELECT `+connCols+` FROM linear_connections WHERE key_id <> $1`, current)
	if err != nil {
		return 0, fmt.Errorf("linear: reseal: %w", err)
	}
	conns, err := sqldb.Collect(rows, func(r sqldb.Rows) (Connection, error) { return s.scan(r) })
	if err != nil {
		return 0, err
	}
	for _, c := range conns {
		t := Tokens{Access: c.token, Refresh: c.refresh}
		if c.ExpiresAt != nil {
			t.Expiry = *c.ExpiresAt
		}
		if err := s.reseal(ctx, q, c.OrgID, t, false); err != nil {
			return 0, err
		}
	}
	return len(conns), nil
}

// claimExplanation: false when one was posted for key within the hour.
func (s *Store) claimExplanation(ctx context.Context, q sqldb.Querier, key string) (bool, error) {
	return sqldb.ClaimWindow(ctx, q, "linear_explanations", key, s.now(), time.Hour)
}

// PurgeExplanations drops explanation claims older than a day: their window
// is an hour, so an older claim decides nothing.
func (s *Store) PurgeExplanations(ctx context.Context, q sqldb.Querier, now time.Time) (int, error) {
	return sqldb.PurgeClaims(ctx, q, "linear_explanations", now.Add(-24*time.Hour))
}

// TeamMapping is a Linear team (key or id) and the repository its issues use.
type TeamMapping struct {
	Team       string `json:"team"`
	Repository string `json:"repository"`
}

// TeamRepositories lists an org's team mappings by team.
func (s *Store) TeamRepositories(ctx context.Context, q sqldb.Querier, orgID string) ([]TeamMapping, error) {
	rows, err := q.Query(ctx, `SELECT team_key, repository FROM linear_team_repositories WHERE org_id = $1 ORDER BY team_key`, orgID)
	if err != nil {
		return nil, fmt.Errorf("linear: team mappings: %w", err)
	}
	return sqldb.Collect(rows, func(r sqldb.Rows) (TeamMapping, error) {
		var m TeamMapping
		return m, r.Scan(&m.Team, &m.Repository)
	})
}
