// serve and migrate: run the gateway until SIGTERM, or apply migrations.

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/tryreplicas/gateway/gateway/queue"
)

// loadConfig parses the common flags, which override two variables of the
// environment, and then the configuration.
func loadConfig(fs *flag.FlagSet, args []string, getenv func(string) string) (Config, error) {
	env := readEnv(getenv)
	addr := fs.String("addr", env["REPLICAS_ADDR"], "listen address (REPLICAS_ADDR)")
	dataDir := fs.String("data-dir", env["REPLICAS_DATA_DIR"], "embedded database directory (REPLICAS_DATA_DIR)")
	if err := fs.Parse(args); err != nil {
		return Config{}, errUsage
	}
	env["REPLICAS_ADDR"], env["REPLICAS_DATA_DIR"] = *addr, *dataDir
	cfg, err := parseEnv(env)
	if err != nil {
		return cfg, errors.New(oneLine(err))
	}
	return cfg, nil
}

func cmdServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, err := loadConfig(fs, args, getenv)
	if err != nil {
		return err
	}
	log := newLogger(stderr)
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTP.Addr, err)
	}
	return serve(ctx, cfg, ln, log, true)
}

// serve runs migrations, the job queue (unless workers is false: then jobs
// are recorded and wait) and the HTTP server on ln until ctx ends.
func serve(ctx context.Context, cfg Config, ln net.Listener, l *slog.Logger, workers bool) error {
	a, err := openApp(ctx, cfg, l, queue.Options{})
	if err != nil {
		return err
	}
	defer a.Close()
	if workers {
		if err := a.queue.Start(ctx); err != nil {
			return fmt.Errorf("start queue: %w", err)
		}
	}
	// Long polls answer at once when shutdown starts, and local workspace
	// runners end, so they do not hold it up.
	go func() {
		<-ctx.Done()
		a.endWorkspaceCalls()
	}()
	l.Info("gateway listening", "addr", ln.Addr().String(), "database", string(a.db.Dialect()))
	serveErr := a.server.Serve(ctx, ln, 25*time.Second)
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 25*time.Second)
	defer cancel()
	if err := a.queue.Stop(stopCtx); err != nil {
		l.Warn("queue stop", "err", err)
	}
	return serveErr
}

func cmdMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, err := loadConfig(fs, args, getenv)
	if err != nil {
		return err
	}
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := migrate(ctx, db, newLogger(stderr))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "migrations applied: %d (%s)\n", n, db.Dialect())
	return nil
}
