package main

import (
	"os"
	"testing"

	"github.com/gin-gonic/gin"
)

// TestMain runs gin in the mode main gives it, so the servers the tests start
// print no debug lines.
func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	os.Exit(m.Run())
}
