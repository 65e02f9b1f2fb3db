// Named locks held across work that must not run twice at once, such as an
// OAuth refresh whose refresh token is single-use: a session advisory lock
// on a dedicated PostgreSQL connection (so every replica sharing the
// database waits), or a mutex with the embedded SQLite (one process). At
// most half of the pool is held by locks, so the locked work's own queries
// always find a connection.
package sqldb

import (
	"context"
	"fmt"
	"sync"
)

// Lock takes the lock named key and returns its release.
func (db *DB) Lock(ctx context.Context, key string) (func(), error) {
	if db.pool == nil {
		m, _ := db.locks.LoadOrStore(key, &sync.Mutex{})
		mu := m.(*sync.Mutex)
		mu.Lock()
		return mu.Unlock, nil
	}
	select {
	case db.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("lock %s: %w", key, ctx.Err())
	}
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		<-db.slots
		return nil, fmt.Errorf("lock %s: %w", key, err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended($1, 0))`, key); err != nil {
		conn.Release()
		<-db.slots
		return nil, fmt.Errorf("lock %s: %w", key, err)
	}
	return func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, key)
		conn.Release()
		<-db.slots
	}, nil
}
