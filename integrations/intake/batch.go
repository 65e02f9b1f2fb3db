// Group commit: deliveries that arrive together are recorded in one
// transaction (one multi-row insert of the rows, one insert of their process
// jobs), so a burst pays one commit and one fsync per batch instead of one
// per delivery. Every caller still gets its answer only after its own batch
// committed.

package intake

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"

	"github.com/tryreplicas/gateway/gateway/sqldb"
)

// Batching says when a batch of deliveries closes. The first delivery that
// finds no open batch opens one and leads it: the batch takes every delivery
// that arrives within Wait, or until it holds Size; then it waits for a free
// committer (still taking deliveries) and commits. Committers bounds the
// batches committing at once; SQLite has one writer, so it always has one.
type Batching struct {
	Wait       time.Duration
	Size       int
	Committers int
}

// MaxBatchSize bounds Size: a batch is one statement with seven parameters
// a row, well inside both engines' limits on parameters.
const MaxBatchSize = 1000

// commitTimeout bounds one batch's transaction: senders give up after
// about 10 s (GitHub's timeout), and a hung database must not hold the
// committers forever.
const commitTimeout = 10 * time.Second

// BatchStats counts what group commit did, for metrics and tests.
type BatchStats struct {
	Batches    int64 // transactions that recorded a batch of more than one delivery
	Deliveries int64 // deliveries those batches recorded or found recorded
	Fallbacks  int64 // batches that failed and were retried one delivery per transaction
}

// pending is one caller's delivery and, once its batch is done, its answer.
type pending struct {
	d   Delivery
	dup bool
	err error
}

// batch is a group of pending deliveries committed together.
type batch struct {
	items []*pending
	full  chan struct{} // closed when the batch reached its size
	done  chan struct{} // closed when every item has its answer
}

// batcher forms batches and commits them with commit.
type batcher struct {
	opts   Batching
	commit func(ctx context.Context, items []*pending)
	slots  chan struct{}

	mu   sync.Mutex
	open *batch // the batch that still takes deliveries, if any
}

func newBatcher(opts Batching, dialect sqldb.Dialect, commit func(ctx context.Context, items []*pending)) *batcher {
	if opts.Size <= 0 || opts.Size > MaxBatchSize {
		opts.Size = MaxBatchSize
	}
	if opts.Committers <= 0 || dialect == sqldb.SQLite {
		opts.Committers = 1
	}
	return &batcher{opts: opts, commit: commit, slots: make(chan struct{}, opts.Committers)}
}

// record adds d to the open batch, or opens and leads a new one, and
// returns d's answer once its batch committed. A caller that leaves while
// it waits gets ctx's error; its delivery is still recorded with the rest.
// The leader commits for everyone, so its work ignores its own
// cancellation.
func (b *batcher) record(ctx context.Context, d Delivery) (Delivery, bool, error) {
	p := &pending{d: d}
	b.mu.Lock()
	if bt := b.open; bt != nil {
		bt.items = append(bt.items, p)
		if len(bt.items) >= b.opts.Size {
			b.open = nil
			close(bt.full)
		}
		b.mu.Unlock()
		select {
		case <-bt.done:
			return p.d, p.dup, p.err
		case <-ctx.Done():
			return Delivery{}, false, fmt.Errorf("record %s delivery %s: %w: %w", d.Source, d.DeliveryID, errNotRecorded, ctx.Err())
		}
	}
	bt := &batch{items: []*pending{p}, full: make(chan struct{}), done: make(chan struct{})}
	if b.opts.Size > 1 {
		b.open = bt
	}
	b.mu.Unlock()
	b.lead(context.WithoutCancel(ctx), bt)
	return p.d, p.dup, p.err
}

// lead closes bt after the wait (or when full), commits it on a free
// committer, and releases its followers. Should the commit not return (a
// panic), every delivery of the batch is answered as not recorded, never
// as recorded.
func (b *batcher) lead(ctx context.Context, bt *batch) {
	var items []*pending
	committed := false
	defer func() {
		if !committed {
			for _, p := range items {
				p.d, p.dup, p.err = Delivery{}, false, errBatchAborted
			}
		}
		close(bt.done)
	}()
	if b.opts.Wait > 0 && b.opts.Size > 1 {
		t := time.NewTimer(b.opts.Wait)
		select {
		case <-bt.full:
		case <-t.C:
		}
		t.Stop()
	}
	b.slots <- struct{}{}
	defer func() { <-b.slots }()
	b.mu.Lock()
	if b.open == bt {
		b.open = nil
	}
	items = bt.items
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, commitTimeout)
	defer cancel()
	b.commit(ctx, items)
	committed = true
}

// errBatchAborted answers the deliveries of a batch whose commit never
// returned.
var errBatchAborted = fmt.Errorf("the batch of deliveries was not committed: %w", errNotRecorded)

// commitBatch records items: duplicates inside the batch are folded onto
// their first copy, the rest go in one transaction. When that transaction
// fails because of one row, each delivery is tried in its own transaction,
// so a bad row fails alone; when the database is unavailable, every
// delivery of the batch gets the unavailable error (503 with Retry-After).
func (s *Service) commitBatch(ctx context.Context, items []*pending) {
	first := make(map[string]*pending, len(items))
	var unique []*pending
	copies := map[*pending][]*pending{}
	for _, p := range items {
		key := p.d.Source + "\x00" + p.d.DeliveryID
		if f, ok := first[key]; ok {
			copies[f] = append(copies[f], p)
			continue
		}
		first[key] = p
		p.d.ID = sqldb.NewID("dlv")
		if p.d.ReceivedAt.IsZero() {
			p.d.ReceivedAt = s.now()
		}
		unique = append(unique, p)
	}
	err := s.insertTx(ctx, unique)
	if len(unique) > 1 {
		s.stats.batches.Add(1)
		s.stats.deliveries.Add(int64(len(items)))
	}
	switch {
	case err == nil:
	case len(unique) == 1 || sqldb.IsUnavailable(err) || ctx.Err() != nil:
		for _, p := range unique {
			p.err = err
		}
	default:
		s.stats.fallbacks.Add(1)
		s.log.Warn("recording a batch of deliveries failed; recording them one by one", "deliveries", len(unique), "err", err)
		for _, p := range unique {
			p.err = s.insertTx(ctx, []*pending{p})
		}
	}
	for _, p := range unique {
		if p.err != nil {
			p.err = fmt.Errorf("record %s delivery %s: %w: %w", p.d.Source, p.d.DeliveryID, errNotRecorded, p.err)
		}
		for _, c := range copies[p] {
			c.d, c.dup, c.err = p.d, true, p.err
			if p.err != nil {
				c.d = Delivery{}
			}
		}
	}
}

// insertTx records ps (distinct delivery ids) in one transaction: their
// process jobs first, then the rows, each naming its job, then what a
// Receiver source does at once for each new one. A row whose
// delivery id was recorded before (by an earlier batch or another replica)
// is not inserted: the caller gets the stored row as a duplicate and the job
// made for it is deleted again before the commit. Results are set on ps
// only when the transaction committed.
func (s *Service) insertTx(ctx context.Context, ps []*pending) error {
	type result struct {
		id       string
		received time.Time
		dup      bool
	}
	results := make([]result, len(ps))
	err := s.db.InTx(ctx, func(tx sqldb.Tx) error {
		params := make([]river.InsertManyParams, len(ps))
		for i, p := range ps {
			params[i] = river.InsertManyParams{Args: ProcessArgs{DeliveryID: p.d.ID}}
		}
		jobs, err := s.queue.InsertManyTx(ctx, tx, params)
		if err != nil {
			return err
		}
		var q strings.Builder
		q.WriteString(`INSERT INTO deliveries (id, source, delivery_id, event, body, received_at, job_id) VALUES `)
		args := make([]any, 0, 7*len(ps))
		for i, p := range ps {
			if i > 0 {
				q.WriteString(", ")
			}
			n := len(args)
			q.WriteString("(")
			for c := 1; c <= 7; c++ {
				if c > 1 {
					q.WriteString(", ")
				}
				q.WriteString("$" + strconv.Itoa(n+c))
			}
			q.WriteString(")")
			args = append(args, p.d.ID, p.d.Source, p.d.DeliveryID, p.d.Event, p.d.Body, p.d.ReceivedAt, jobs[i])
		}
		q.WriteString(` ON CONFLICT (source, delivery_id) DO NOTHING RETURNING id`)
		rows, err := tx.Query(ctx, q.String(), args...)
		if err != nil {
			return fmt.Errorf("insert deliveries: %w", err)
		}
		inserted, err := sqldb.Collect(rows, func(r sqldb.Rows) (string, error) {
			var id string
			return id, r.Scan(&id)
		})
		if err != nil {
			return fmt.Errorf("insert deliveries: %w", err)
		}
		isNew := make(map[string]bool, len(inserted))
		for _, id := range inserted {
			isNew[id] = true
		}
		var orphans []int64
		for i, p := range ps {
			if isNew[p.d.ID] {
				results[i] = result{id: p.d.ID, received: p.d.ReceivedAt}
				// A source that answers some deliveries at once does so in
				// the transaction that records them.
				if r, ok := s.sources[p.d.Source].(Receiver); ok {
					if err := r.ReceivedTx(ctx, tx, p.d); err != nil {
						return fmt.Errorf("%s delivery %s received: %w", p.d.Source, p.d.DeliveryID, err)
					}
				}
				continue
			}
			r := result{dup: true}
			err := tx.QueryRow(ctx, `SELECT id, received_at FROM deliveries WHERE source = $1 AND delivery_id = $2`, p.d.Source, p.d.DeliveryID).
				Scan(&r.id, &r.received)
			if err != nil {
				return fmt.Errorf("read duplicate delivery: %w", err)
			}
			results[i] = r
			orphans = append(orphans, jobs[i])
		}
		return s.queue.DeleteTx(ctx, tx, orphans)
	})
	if err != nil {
		return err
	}
	for i, p := range ps {
		p.d.ID, p.d.ReceivedAt, p.dup = results[i].id, results[i].received, results[i].dup
	}
	return nil
}

// batchCounters are BatchStats as they are counted.
type batchCounters struct{ batches, deliveries, fallbacks atomic.Int64 }

// Stats reports what group commit did so far.
func (s *Service) Stats() BatchStats {
	return BatchStats{Batches: s.stats.batches.Load(), Deliveries: s.stats.deliveries.Load(), Fallbacks: s.stats.fallbacks.Load()}
}
