package httpapi_test

import (
	"os"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/tryreplicas/gateway/gateway/httpapi"
	"github.com/tryreplicas/gateway/gateway/sqldb/sqldbtest"
)

// TestMain runs gin in release mode, as the gateway's command does, so the
// servers the tests build print no debug lines.
func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	os.Exit(m.Run())
}

// TestNewLeavesGinModeAlone: building a server does not change gin's
// process-wide mode, which belongs to the program's entry point.
func TestNewLeavesGinModeAlone(t *testing.T) {
	defer gin.SetMode(gin.ReleaseMode)
	for _, mode := range []string{gin.TestMode, gin.ReleaseMode} {
		gin.SetMode(mode)
		httpapi.New(httpapi.Deps{Logger: sqldbtest.Logger()})
		if got := gin.Mode(); got != mode {
			t.Errorf("gin mode after New = %q, want %q", got, mode)
		}
	}
}
