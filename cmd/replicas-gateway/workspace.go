// The workspace side: `workspace run` is the runner a workspace executes,
// configured only by its launch environment; `workspace stand-in` is the
// stand-in agent CLI the demo puts on PATH when no real one is installed.

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/tryreplicas/gateway/integrations/runner"
	"github.com/tryreplicas/gateway/integrations/runner/standin"
)

const workspaceUsage = `usage: replicas-gateway workspace run

Runs a workspace: clones its repository and runs its coding agent on each
message. Configured by REPLICAS_GATEWAY_URL, REPLICAS_WORKSPACE_TOKEN,
REPLICAS_TASK_FILE (set by the launcher) and REPLICAS_IDLE_HIBERNATE
(default 30m); works in the current directory.
`

func cmdWorkspace(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, workspaceUsage)
		return errUsage
	}
	switch args[0] {
	case "run":
		cfg, err := runner.FromEnv(getenv)
		if err != nil {
			return err
		}
		cfg.Log = slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
		err = runner.Run(ctx, cfg)
		if errors.Is(err, context.Canceled) {
			return nil // stopped by a signal
		}
		return err
	case "help", "-h", "--help":
		fmt.Fprint(stdout, workspaceUsage)
		return nil
	case "stand-in":
		// Like the real CLIs, the stand-in ends on SIGTERM.
		done := make(chan int, 1)
		go func() { done <- standin.Main(args[1:], os.Stdin, stdout) }()
		select {
		case code := <-done:
			if code != 0 {
				return fmt.Errorf("stand-in agent exited %d", code)
			}
			return nil
		case <-ctx.Done():
			return errors.New("stand-in agent: terminated")
		}
	default:
		fmt.Fprint(stderr, workspaceUsage)
		return errUsage
	}
}
