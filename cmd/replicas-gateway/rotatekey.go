// admin rotate-key: re-seal every stored secret with the current
// REPLICAS_ENCRYPTION_KEY. Run it after moving the old key to
// REPLICAS_PREVIOUS_ENCRYPTION_KEYS; afterwards the old key can be dropped.

package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/tryreplicas/gateway/gateway/sqldb"
)

// resealer re-encrypts one package's sealed columns with the current key.
type resealer struct {
	name   string
	reseal func(ctx context.Context, tx sqldb.Tx) (int, error)
}

// resealers lists every table that stores sealed secrets.
func (a *app) resealers() []resealer {
	return []resealer{
		{"credentials", func(ctx context.Context, tx sqldb.Tx) (int, error) { return a.creds.Reseal(ctx, tx) }},
		{"linear tokens", func(ctx context.Context, tx sqldb.Tx) (int, error) {
			return a.linear.Store().Reseal(ctx, tx, a.keys.CurrentKeyID())
		}},
		{"workspace tokens", func(ctx context.Context, tx sqldb.Tx) (int, error) {
			return a.launch.Reseal(ctx, tx, a.keys.CurrentKeyID())
		}},
	}
}

func cmdRotateKey(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("admin rotate-key", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, err := loadConfig(fs, args, getenv)
	if err != nil {
		return err
	}
	a, err := openApp(ctx, cfg, newLogger(stderr), queueInsertOnly)
	if err != nil {
		return err
	}
	defer a.Close()
	return a.db.InTx(ctx, func(tx sqldb.Tx) error {
		for _, r := range a.resealers() {
			n, err := r.reseal(ctx, tx)
			if err != nil {
				return fmt.Errorf("rotate-key: %s: %w", r.name, err)
			}
			fmt.Fprintf(stdout, "%s: %d re-sealed with key %s\n", r.name, n, a.keys.CurrentKeyID())
		}
		return nil
	})
}
