// Command replicas-gateway runs the Replicas integration gateway and its
// admin tools. main only sets the process-wide settings (gin's mode, the
// collector's target), sets up signals and calls run; each subcommand lives
// in its own file.

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/gin-gonic/gin"
)

const usage = `usage: replicas-gateway <command> [flags]

commands:
  serve            run the gateway (embedded SQLite in ./data unless DATABASE_URL is set)
  migrate          apply database migrations and exit
  admin bootstrap  create an org, its first admin and an API token
  admin login-link print a single-use sign-in link (15 minutes) for a user: --email
  admin rotate-key re-encrypt stored secrets with the current REPLICAS_ENCRYPTION_KEY
  demo             self-contained run: seed, send sample deliveries, show the workspaces
  trigger          send a signed sample delivery to a running gateway
  workspace run    run a workspace (the launcher sets its environment)
  bench intake     load a webhook endpoint with signed real deliveries: req/s, p50, p99, errors
`

func main() {
	// gin's mode is process-wide; release mode keeps its debug lines (every
	// route at start-up) out of the logs.
	gin.SetMode(gin.ReleaseMode)
	// Webhook bodies are copied a few times on their way to the database
	// (read, encoded into the batch's statement): with the default GOGC of
	// 100 the collector took a third of the intake's CPU while the live heap
	// stays small. 400 trades a larger heap for about a quarter less CPU per
	// delivery (measured, README Benchmarks). An explicit GOGC still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "replicas-gateway:", err)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

// run dispatches to a subcommand.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	if cmd, ok := commands[args[0]]; ok {
		return cmd(ctx, args[1:], getenv, stdout, stderr)
	}
	switch args[0] {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", args[0], usage)
		return errUsage
	}
}

// command is the signature every subcommand has.
type command func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// commands are the top-level subcommands; admin's own are adminCommands.
var commands = map[string]command{
	"serve":     cmdServe,
	"migrate":   cmdMigrate,
	"admin":     cmdAdmin,
	"demo":      cmdDemo,
	"trigger":   cmdTrigger,
	"workspace": cmdWorkspace,
	"bench":     cmdBench,
}
