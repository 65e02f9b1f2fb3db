package identity

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
)

//go:embed migrations
var migrations embed.FS

// Migrations is this package's schema.
var Migrations = sqldb.Set{Name: "identity", FS: sqldb.MustSub(migrations, "migrations")}

// ErrNotFound is returned when an org, user, membership, token or link does
// not exist.
var ErrNotFound = fmt.Errorf("identity: %w", errs.ErrNotFound)

// Role of a member in an org.
type Role string

const (
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
)

// Org is a Replicas organization.
type Org struct {
	ID        string    `json:"id"`
	Slug      string    `json:"slug"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// User is a person; the email is normalized.
type User struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// Member is a user with their role in one org.
type Member struct {
	User
	OrgID string `json:"org_id"`
	Role  Role   `json:"role"`
}

// Store reads and writes identity tables.
type Store struct {
	now func() time.Time
}

// NewStore returns a store using the wall clock.
func NewStore() *Store { return &Store{now: func() time.Time { return time.Now().UTC() }} }

// NormalizeEmail trims and lower-cases an email; emails compare this way.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// CreateOrg creates an org with a unique slug.
func (s *Store) CreateOrg(ctx context.Context, q sqldb.Querier, slug, name string) (Org, error) {
	slug = strings.TrimSpace(slug)
	if !slugRE.MatchString(slug) {
		return Org{}, errs.Invalid("org slug %q must be lower-case letters, digits and dashes", slug)
	}
	if name == "" {
		name = slug
	}
	o := Org{ID: sqldb.NewID("org"), Slug: slug, Name: name, CreatedAt: s.now()}
	_, err := q.Exec(ctx, `INSERT INTO orgs (id, slug, name, created_at) VALUES ($1, $2, $3, $4)`, o.ID, o.Slug, o.Name, o.CreatedAt)
	if sqldb.IsUniqueViolation(err) {
		return Org{}, errs.Conflict("an org with slug %q already exists", slug)
	}
	if err != nil {
		return Org{}, fmt.Errorf("create org: %w", err)
	}
	return o, nil
}

// Org returns an org by id.
func (s *Store) Org(ctx context.Context, q sqldb.Querier, id string) (Org, error) {
	var o Org
	err := q.QueryRow(ctx, `SELECT id, slug, name, created_at FROM orgs WHERE id = $1`, id).Scan(&o.ID, &o.Slug, &o.Name, &o.CreatedAt)
	return o, sqldb.NoRowsAs(err, ErrNotFound, "get org")
}

// OrgBySlug returns an org by slug.
func (s *Store) OrgBySlug(ctx context.Context, q sqldb.Querier, slug string) (Org, error) {
	var o Org
	err := q.QueryRow(ctx, `SELECT id, slug, name, created_at FROM orgs WHERE slug = $1`, slug).Scan(&o.ID, &o.Slug, &o.Name, &o.CreatedAt)
	return o, sqldb.NoRowsAs(err, ErrNotFound, "get org by slug")
}

// EnsureUser returns the user with this email, creating it when missing.
func (s *Store) EnsureUser(ctx context.Context, q sqldb.Querier, email, name string) (User, error) {
	email, err := ValidateEmail(email)
	if err != nil {
		return User{}, err
	}
	if _, err := mail.ParseAddress(email); err != nil {
		return User{}, errs.Invalid("email is not a valid address")
	}
	u, err := s.UserByEmail(ctx, q, email)
	if err == nil {
		return u, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return User{}, err
	}
	u = User{ID: sqldb.NewID("usr"), Email: email, Name: strings.TrimSpace(name), CreatedAt: s.now()}
	if _, err := q.Exec(ctx, `INSERT INTO users (id, email, name, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (email) DO NOTHING`,
		u.ID, u.Email, u.Name, u.CreatedAt); err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	return s.UserByEmail(ctx, q, email) // the winner of a concurrent insert
}

// User returns a user by id.
func (s *Store) User(ctx context.Context, q sqldb.Querier, id string) (User, error) {
	var u User
	err := q.QueryRow(ctx, `SELECT id, email, name, created_at FROM users WHERE id = $1`, id).Scan(&u.ID, &u.Email, &u.Name, &u.CreatedAt)
	return u, sqldb.NoRowsAs(err, ErrNotFound, "get user")
}

// UserByEmail finds a user by normalized email.
func (s *Store) UserByEmail(ctx context.Context, q sqldb.Querier, email string) (User, error) {
	var u User
	err := q.QueryRow(ctx, `SELECT id, email, name, created_at FROM users WHERE email = $1`, NormalizeEmail(email)).Scan(&u.ID, &u.Email, &u.Name, &u.CreatedAt)
	return u, sqldb.NoRowsAs(err, ErrNotFound, "get user by email")
}

// AddMember puts user in org with role, or changes the role of an existing member.
func (s *Store) AddMember(ctx context.Context, q sqldb.Querier, orgID, userID string, role Role) error {
	if role != RoleAdmin && role != RoleMember {
		return errs.Invalid("role must be admin or member, not %q", role)
	}
	_, err := q.Exec(ctx, `INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role`, orgID, userID, string(role), s.now())
	if err != nil {
		return fmt.Errorf("add member: %w", err)
	}
	return nil
}

// Member returns user's membership in org, or ErrNotFound.
func (s *Store) Member(ctx context.Context, q sqldb.Querier, orgID, userID string) (Member, error) {
	var m Member
	err := q.QueryRow(ctx, `SELECT u.id, u.email, u.name, u.created_at, m.org_id, m.role
		FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 AND m.user_id = $2`, orgID, userID).
		Scan(&m.ID, &m.Email, &m.Name, &m.CreatedAt, &m.OrgID, &m.Role)
	return m, sqldb.NoRowsAs(err, ErrNotFound, "get member")
}

// MemberByEmail finds the member of org with this (normalized) email.
func (s *Store) MemberByEmail(ctx context.Context, q sqldb.Querier, orgID, email string) (Member, error) {
	u, err := s.UserByEmail(ctx, q, email)
	if err != nil {
		return Member{}, err
	}
	return s.Member(ctx, q, orgID, u.ID)
}

// Members lists an org's members by email.
func (s *Store) Members(ctx context.Context, q sqldb.Querier, orgID string) ([]Member, error) {
	rows, err := q.Query(ctx, `SELECT u.id, u.email, u.name, u.created_at, m.org_id, m.role
		FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 ORDER BY u.email`, orgID)
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	return sqldb.Collect(rows, func(r sqldb.Rows) (Member, error) {
		var m Member
		err := r.Scan(&m.ID, &m.Email, &m.Name, &m.CreatedAt, &m.OrgID, &m.Role)
		return m, err
	})
}

// OrgIDsOf lists the ids of the orgs a user belongs to.
func (s *Store) OrgIDsOf(ctx context.Context, q sqldb.Querier, userID string) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT org_id FROM memberships WHERE user_id = $1 ORDER BY org_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list orgs of user: %w", err)
	}
	return sqldb.Collect(rows, func(r sqldb.Rows) (string, error) {
		var id string
		return id, r.Scan(&id)
	})
}
