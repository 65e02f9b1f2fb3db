package launch

import (
	"context"

	"github.com/tryreplicas/gateway/gateway/sqldb"
)

// Launch is LaunchTx in its own transaction: the workspace a person asked
// for by hand.
func (s *Service) Launch(ctx context.Context, t Trigger) (Workspace, error) {
	var w Workspace
	err := s.db.InTx(ctx, func(tx sqldb.Tx) error {
		var err error
		w, err = s.LaunchTx(ctx, tx, t)
		return err
	})
	return w, err
}

// List is the newest workspaces of by's org that by may see: an admin's
// filtered by user when it is set, a member's always their own.
func (s *Service) List(ctx context.Context, by Actor, user string, limit int) ([]Workspace, error) {
	if !by.Admin {
		user = by.UserID
	}
	return s.store.List(ctx, s.db, by.OrgID, user, limit)
}

// Workspace is the workspace id when by may see it, ErrNotFound otherwise.
func (s *Service) Workspace(ctx context.Context, id string, by Actor) (Workspace, error) {
	w, err := s.store.Get(ctx, s.db, id)
	if err != nil {
		return Workspace{}, err
	}
	if !by.Sees(w) {
		return Workspace{}, ErrNotFound
	}
	return w, nil
}
