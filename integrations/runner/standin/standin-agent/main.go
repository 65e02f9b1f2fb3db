// Command standin-agent is the stand-in agent CLI as its own program, for
// tests that build it: standin-agent claude|codex DIR ARGS...
package main

import (
	"os"

	"github.com/tryreplicas/gateway/integrations/runner/standin"
)

func main() { os.Exit(standin.Main(os.Args[1:], os.Stdin, os.Stdout)) }
