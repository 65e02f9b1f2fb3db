package credstore_test

// Runtime benchmarks, on PostgreSQL (TEST_DATABASE_URL):
//
//	go test -run '^$' -bench 'BenchmarkCredential|BenchmarkRefreshStorm' -benchtime 5x ./credstore
//
// BenchmarkCredentialFetch: 200 workspaces fetch their (fresh) credential at
// once, repeatedly; reports p50/p99 per fetch. BenchmarkRefreshStorm: 500
// workspaces on 3 pools cross expiry together; reports the time until all
// have the new token and the number of token-endpoint calls.

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tryreplicas/gateway/credstore"
	"github.com/tryreplicas/gateway/credstore/oauthrefresh/strictoauth"
	"github.com/tryreplicas/gateway/gateway/sqldb"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
	"github.com/tryreplicas/gateway/identity"
)

func benchFixture(b *testing.B) (fixture, *strictoauth.Server) {
	b.Helper()
	srv := strictoauth.New()
	b.Cleanup(srv.Close)
	db := sqldbtest.New(b, sqldb.Postgres, sets...)
	ids := identity.NewStore()
	org, admin, _, err := ids.Bootstrap(context.Background(), db, "bench", "bench@example.com", "")
	if err != nil {
		b.Fatal(err)
	}
	return fixture{db: db, store: credstore.NewStore(keyring(b, 'a'), ids), org: org.ID, user: admin.ID, by: credstore.Change{ActorID: admin.ID}}, srv
}

func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	slices.Sort(d)
	return d[len(d)/2], d[len(d)*99/100]
}

func BenchmarkCredentialFetch(b *testing.B) {
	f, srv := benchFixture(b)
	tok, err := srv.Login(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	c, err := f.store.Put(context.Background(), f.db, credstore.Owner{Scope: "user", ID: f.user}, "claude", "oauth",
		credstore.Secret{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, ExpiresAt: time.Now().Add(time.Hour)}, f.by)
	if err != nil {
		b.Fatal(err)
	}
	rt := runtimeFor(f.db, f.store, srv.URL)
	chain := credstore.Chain{OrgID: f.org, Agent: "claude", IDs: []string{c.ID}}
	const workspaces = 200
	var all []time.Duration
	var mu sync.Mutex
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		for w := 0; w < workspaces; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				if _, err := rt.Current(context.Background(), chain); err != nil {
					b.Error(err)
				}
				mu.Lock()
				all = append(all, time.Since(start))
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	p50, p99 := percentiles(all)
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
}

func BenchmarkRefreshStorm(b *testing.B) {
	f, srv := benchFixture(b)
	pools := []*sqldb.DB{f.db, reopen(b, f.db), reopen(b, f.db)}
	var runtimes []*credstore.Runtime
	for _, p := range pools {
		runtimes = append(runtimes, runtimeFor(p, credstore.NewStore(keyring(b, 'a'), identity.NewStore()), srv.URL))
	}
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		tok, err := srv.Login(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		c, err := f.store.Put(context.Background(), f.db, credstore.Owner{Scope: "user", ID: f.user}, "claude", "oauth",
			credstore.Secret{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, ExpiresAt: time.Now().Add(time.Minute)}, f.by)
		if err != nil {
			b.Fatal(err)
		}
		chain := credstore.Chain{OrgID: f.org, Agent: "claude", IDs: []string{c.ID}}
		before := srv.Refreshes()
		b.StartTimer()
		start := time.Now()
		var wg sync.WaitGroup
		for w := 0; w < 500; w++ {
			wg.Add(1)
			go func(rt *credstore.Runtime) {
				defer wg.Done()
				if _, err := rt.Current(context.Background(), chain); err != nil {
					b.Error(err)
				}
			}(runtimes[w%3])
		}
		wg.Wait()
		total += time.Since(start)
		if n := srv.Refreshes() - before; n != 1 {
			b.Fatalf("%d refreshes, want 1", n)
		}
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-until-all-500")
	b.ReportMetric(1, "refreshes/storm")
}
