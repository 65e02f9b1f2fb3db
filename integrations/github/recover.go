// Recovery of missed deliveries: GitHub does not retry failed webhook
// deliveries by itself, so on start and every few minutes the App's recent
// hook deliveries are listed and the failed ones that never reached us are
// redelivered. Idempotency (the delivery id) makes overlap harmless.

package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	gh "github.com/google/go-github/v62/github"
	"github.com/riverqueue/river"

	"github.com/tryreplicas/gateway/gateway/sqldb"
)

// RecoverInterval is how often missed deliveries are looked for.
const RecoverInterval = 10 * time.Minute

// recoverLookback bounds how far back the first run looks.
const recoverLookback = 24 * time.Hour

// RecoverArgs is the recovery job.
type RecoverArgs struct{}

// Kind names the job.
func (RecoverArgs) Kind() string { return "github_recover_deliveries" }

type recoverWorker struct {
	river.WorkerDefaults[RecoverArgs]
	a *App
}

// slowJobTimeout bounds jobs that page through GitHub's API (up to 20 pages
// of deliveries, or an organization's members one by one).
const slowJobTimeout = 5 * time.Minute

// Timeout: recovery pages through GitHub's delivery log.
func (w *recoverWorker) Timeout(*river.Job[RecoverArgs]) time.Duration { return slowJobTimeout }

// PeriodicRecovery is the periodic job to register when the App is
// configured (River runs it on the leader only, so once across replicas).
func PeriodicRecovery() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(RecoverInterval),
		func() (river.JobArgs, *river.InsertOpts) { return RecoverArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})
}

// appClient is a go-github client authenticated as the App (JWT).
func (a *App) appClient() (*gh.Client, error) {
	atr, err := ghinstallation.NewAppsTransport(a.transport, a.cfg.AppID, a.cfg.PrivateKey.Bytes())
	if err != nil {
		return nil, fmt.Errorf("github: app transport: %w", err)
	}
	atr.BaseURL = strings.TrimRight(a.cfg.APIURL, "/")
	c := gh.NewClient(&http.Client{Transport: atr, Timeout: 30 * time.Second})
	base, err := url.Parse(strings.TrimRight(a.cfg.APIURL, "/") + "/")
	if err != nil {
		return nil, fmt.Errorf("github: GITHUB_API_URL: %w", err)
	}
	c.BaseURL = base
	return c, nil
}

func (w *recoverWorker) Work(ctx context.Context, _ *river.Job[RecoverArgs]) error {
	n, err := w.a.Recover(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		w.a.log.Info("asked GitHub to redeliver missed deliveries", "count", n)
	}
	return nil
}

// Recover redelivers failed deliveries newer than the last run that we never
// recorded, and returns how many it asked for.
func (a *App) Recover(ctx context.Context) (int, error) {
	if !a.appConfigured() {
		return 0, nil
	}
	c, err := a.appClient()
	if err != nil {
		return 0, err
	}
	since := time.Now().UTC().Add(-recoverLookback)
	var last time.Time
	err = a.db.QueryRow(ctx, `SELECT delivered_at FROM github_recovery_cursor WHERE id = 1`).Scan(&last)
	if err == nil {
		since = last
	} else if !errors.Is(err, sqldb.ErrNoRows) {
		return 0, err
	}
	newest := since
	ok := map[string]bool{}       // guids that reached us somewhere
	var failed []*gh.HookDelivery // newest first
	opts := &gh.ListCursorOptions{PerPage: 100}
	for page := 0; page < 20; page++ {
		list, resp, err := c.Apps.ListHookDeliveries(ctx, opts)
		if err != nil {
			return 0, rateLimited(fmt.Errorf("github: list hook deliveries: %w", err))
		}
		older := false
		for _, d := range list {
			at := d.GetDeliveredAt().Time
			if !at.After(since) {
				older = true
				continue
			}
			if at.After(newest) {
				newest = at
			}
			if code := d.GetStatusCode(); code >= 200 && code < 300 {
				ok[d.GetGUID()] = true
			} else {
				failed = append(failed, d)
			}
		}
		if older || resp.Cursor == "" {
			break
		}
		opts.Cursor = resp.Cursor
	}
	asked := 0
	for _, d := range failed {
		if ok[d.GetGUID()] {
			continue
		}
		var n int
		if err := a.db.QueryRow(ctx, `SELECT COUNT(*) FROM deliveries WHERE source = 'github' AND delivery_id = $1`, d.GetGUID()).Scan(&n); err != nil {
			return asked, err
		}
		if n > 0 {
			continue
		}
		ok[d.GetGUID()] = true // one redelivery per guid
		if _, _, err := c.Apps.RedeliverHookDelivery(ctx, d.GetID()); err != nil {
			var accepted *gh.AcceptedError
			if !errors.As(err, &accepted) {
				return asked, rateLimited(fmt.Errorf("github: redeliver %d: %w", d.GetID(), err))
			}
		}
		asked++
	}
	if _, err := a.db.Exec(ctx, `INSERT INTO github_recovery_cursor (id, delivered_at) VALUES (1, $1)
		ON CONFLICT (id) DO UPDATE SET delivered_at = excluded.delivered_at`, newest); err != nil {
		return asked, fmt.Errorf("github: store recovery cursor: %w", err)
	}
	return asked, nil
}
