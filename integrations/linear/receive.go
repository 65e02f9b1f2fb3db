// The first word in a new agent session: Linear shows an agent that has not
// answered within 10 s of the session's start as unresponsive, so the
// gateway's own first thought is enqueued in the transaction that records
// the delivery, before anything is interpreted, on the urgent queue: its own
// workers pick it up as soon as it commits (PostgreSQL notifies them), never
// behind a backlog of deliveries being processed.

package linear

import (
	"context"
	"errors"
	"fmt"

	"github.com/riverqueue/river"
	"github.com/tryreplicas/gateway/gateway/queue"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/integrations/intake"
)

// FirstThought is what a new session hears at once.
const FirstThought = "Looking into this…"

// ReceivedTx enqueues the first thought of a session created for the
// connected app user; any other delivery waits for its interpretation.
func (a *App) ReceivedTx(ctx context.Context, tx sqldb.Tx, d intake.Delivery) error {
	p, err := parse(d.Body)
	if err != nil || p.Type != "AgentSessionEvent" || p.Action != "created" || p.AgentSession == nil || p.AgentSession.ID == "" {
		return nil // not a new session (a body that does not parse fails in Interpret)
	}
	conn, err := a.store.ByOrganization(ctx, tx, p.OrganizationID)
	if errors.Is(err, ErrNotConnected) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("linear: connection for the first thought: %w", err)
	}
	if p.AppUserID != "" && p.AppUserID != conn.AppUserID {
		return nil
	}
	return a.postActivity(ctx, tx, ActivityArgs{OrgID: conn.OrgID, SessionID: p.AgentSession.ID, Type: "thought", Body: FirstThought},
		&river.InsertOpts{Queue: queue.Urgent})
}
