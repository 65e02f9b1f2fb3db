package linear

import "context"

// Connection is an org's Linear connection (ErrNotConnected without one).
func (a *App) Connection(ctx context.Context, orgID string) (Connection, error) {
	return a.store.ByOrg(ctx, a.db, orgID)
}

// Disconnect removes an org's Linear connection (ErrNotConnected without one).
func (a *App) Disconnect(ctx context.Context, orgID string) error {
	return a.store.Disconnect(ctx, a.db, orgID)
}

// TeamMappings lists the org's Linear team → repository mappings.
func (a *App) TeamMappings(ctx context.Context, orgID string) ([]TeamMapping, error) {
	return a.store.TeamRepositories(ctx, a.db, orgID)
}
