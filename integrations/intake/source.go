package intake

import (
	"context"
	"time"

	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/integrations/launch"
)

// Delivery is one recorded webhook delivery.
type Delivery struct {
	ID         string    `json:"id"`          // our id
	OrgID      string    `json:"org_id"`      // set once processing knows it
	Source     string    `json:"source"`      // "github" or "linear"
	DeliveryID string    `json:"delivery_id"` // X-GitHub-Delivery / Linear-Delivery: the idempotency key
	Event      string    `json:"event"`       // X-GitHub-Event / Linear-Event (+ action)
	Body       []byte    `json:"-"`
	ReceivedAt time.Time `json:"received_at"`
}

// Plan is what a source decides a delivery causes.
type Plan struct {
	// OrgID is the Replicas org the delivery belongs to, when known (it makes
	// the delivery visible in that org's deliveries list).
	OrgID string
	// Trigger, when set, asks for a workspace.
	Trigger *launch.Trigger
	// Outcome explains a delivery that launches nothing, e.g.
	// "ignored: not a mention", "unknown_user", "not_a_member".
	Outcome string
	// Then runs inside the committing transaction after the launch attempt:
	// ws is the new workspace (nil when nothing launched), launchErr is
	// launch.ErrNoCredentials when no agent is configured,
	// launch.ErrRepositoryNotInstalled when the repository belongs to no
	// installation bound to the org, or launch.ErrDuplicate when the same
	// TriggerKey already launched; launch.Outcome names what it means.
	// Sources enqueue their acknowledgement jobs here (reactions, replies,
	// agent activities), so they commit with everything else.
	Then func(ctx context.Context, tx sqldb.Tx, ws *launch.Workspace, launchErr error) error
}

// Source interprets deliveries of one kind. Interpret runs outside any
// transaction, so it may read the database and call its own API (e.g. fetch
// a Linear user's email); it must not write. A returned error makes the job
// retry with backoff; errors.Is(err, ErrPermanent) records the delivery as
// failed without retrying.
type Source interface {
	Name() string
	Interpret(ctx context.Context, d Delivery) (Plan, error)
}

// Receiver is a Source that must answer some deliveries at once, before
// they are interpreted (Linear shows an agent that has not said anything
// within 10 s of a session's start as unresponsive). ReceivedTx runs in the
// transaction that records a new delivery, so it may only read and enqueue
// jobs; it must not call out. An error fails the recording (the sender
// retries).
type Receiver interface {
	ReceivedTx(ctx context.Context, tx sqldb.Tx, d Delivery) error
}
