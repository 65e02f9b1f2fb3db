package intake

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/gateway/errs"
	"github.com/tryreplicas/gateway/gateway/sqldb"
)

// A batch whose commit panics answers every delivery as not recorded (503):
// none may be told it was recorded.
func TestBatchCommitPanicRecordsNothing(t *testing.T) {
	t.Parallel()
	b := newBatcher(Batching{Wait: time.Hour, Size: 3}, sqldb.Postgres, func(context.Context, []*pending) {
		panic("commit blew up")
	})
	errsOut := make(chan error, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					errsOut <- fmt.Errorf("leader: %v: %w", r, errBatchAborted) // the leader's own request panics (recoverJSON answers 500)
				}
			}()
			_, _, err := b.record(context.Background(), Delivery{Source: "test", DeliveryID: fmt.Sprint("d-", i)})
			errsOut <- err
		}()
	}
	wg.Wait()
	close(errsOut)
	n := 0
	for err := range errsOut {
		n++
		if !errors.Is(err, errs.ErrUnavailable) {
			t.Fatalf("a delivery of the aborted batch: %v, want the unavailable kind", err)
		}
	}
	if n != 3 {
		t.Fatalf("%d answers, want 3", n)
	}
}
