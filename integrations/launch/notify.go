// Waking long polls. A message written on any replica wakes the polls of its
// workspace held on every replica: on PostgreSQL the writing transaction
// sends NOTIFY (delivered at commit), and each process listens on one
// dedicated connection and fans the notifications out to its waiters; on
// SQLite (one process) and as a fallback while the listener reconnects,
// waiters re-read on a short tick.

package launch

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tryreplicas/gateway/gateway/sqldb"
)

// messageChannel is the PostgreSQL notification channel; the payload is the
// workspace id.
const messageChannel = "replicas_workspace_messages"

// Poll intervals: SQLite has no notifications, so waiters re-read often;
// on PostgreSQL the tick only covers notifications lost while the listener
// reconnects.
const (
	sqlitePoll   = 200 * time.Millisecond
	postgresPoll = 5 * time.Second
)

// notifyTx wakes the waiters of workspaceID once tx commits.
func notifyTx(ctx context.Context, q sqldb.Querier, workspaceID string) error {
	if q.Dialect() != sqldb.Postgres {
		return nil
	}
	if _, err := q.Exec(ctx, `SELECT pg_notify($1, $2)`, messageChannel, workspaceID); err != nil {
		return fmt.Errorf("notify message: %w", err)
	}
	return nil
}

// notifier fans wake-ups out to the long polls of this process.
type notifier struct {
	db   *sqldb.DB
	log  *slog.Logger
	poll time.Duration

	mu      sync.Mutex
	waiters map[string]map[chan struct{}]struct{}
	started bool
	ready   chan struct{} // closed once the first LISTEN is in place (or given up)
	stop    context.CancelFunc
	done    chan struct{} // closed by close: every wait ends
	closed  bool
}

func newNotifier(db *sqldb.DB, log *slog.Logger) *notifier {
	poll := sqlitePoll
	if db != nil && db.Dialect() == sqldb.Postgres {
		poll = postgresPoll
	}
	return &notifier{db: db, log: log, poll: poll, waiters: map[string]map[chan struct{}]struct{}{},
		ready: make(chan struct{}), done: make(chan struct{})}
}

type subscription struct {
	c      chan struct{}
	cancel func()
}

// subscribe registers a waiter for id; the listener starts with the first
// one, and this waits (briefly) for it to be listening.
func (n *notifier) subscribe(ctx context.Context, id string) subscription {
	c := make(chan struct{}, 1)
	n.mu.Lock()
	if n.waiters[id] == nil {
		n.waiters[id] = map[chan struct{}]struct{}{}
	}
	n.waiters[id][c] = struct{}{}
	start := !n.started && !n.closed
	n.started = true
	n.mu.Unlock()
	if start {
		n.start()
	}
	select {
	case <-n.ready:
	case <-ctx.Done():
	case <-time.After(2 * time.Second): // the tick covers a slow listener
	}
	return subscription{c: c, cancel: func() {
		n.mu.Lock()
		delete(n.waiters[id], c)
		if len(n.waiters[id]) == 0 {
			delete(n.waiters, id)
		}
		n.mu.Unlock()
	}}
}

// wake signals the waiters of id; "" wakes every waiter (after a
// reconnect, when notifications may have been missed).
func (n *notifier) wake(id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for wid, set := range n.waiters {
		if id != "" && wid != id {
			continue
		}
		for c := range set {
			select {
			case c <- struct{}{}:
			default:
			}
		}
	}
}

func (n *notifier) closing() <-chan struct{} { return n.done }

// close ends every wait and the listener.
func (n *notifier) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	n.closed = true
	close(n.done)
	if n.stop != nil {
		n.stop()
	}
}

// start runs the PostgreSQL listener in the background; SQLite needs none.
func (n *notifier) start() {
	if n.db == nil || n.db.Dialect() != sqldb.Postgres {
		close(n.ready)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.mu.Lock()
	n.stop = cancel
	n.mu.Unlock()
	go n.listen(ctx)
}

// listen keeps a dedicated connection LISTENing, reconnecting with backoff;
// after each (re)connect every waiter re-reads.
func (n *notifier) listen(ctx context.Context) {
	var readyOnce sync.Once
	ready := func() { readyOnce.Do(func() { close(n.ready) }) }
	defer ready()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		began := time.Now()
		err := n.listenOnce(ctx, ready)
		if time.Since(began) > time.Minute {
			backoff = 100 * time.Millisecond // it had been working: retry soon
		}
		if ctx.Err() != nil {
			return
		}
		n.log.Warn("message listener lost its connection; reconnecting", "err", err, "in", backoff.String())
		ready() // waiters fall back to the tick meanwhile
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (n *notifier) listenOnce(ctx context.Context, ready func()) error {
	conn, err := pgx.ConnectConfig(ctx, n.db.Pool().Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+messageChannel); err != nil {
		return err
	}
	ready()
	n.wake("") // anything written while not listening
	for {
		note, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		n.wake(note.Payload)
	}
}
