package main

import (
	"os"
	"testing"

	"github.com/gin-gonic/gin"
)

// TestMain runs gin in the mode main gives it, so the servers the tests start
// print no debug lines.
//
// Started as `<test binary> workspace …` (the local launcher runs its own
// executable), it is the gateway's command instead of the tests.
func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	if len(os.Args) > 1 && os.Args[1] == "workspace" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}
