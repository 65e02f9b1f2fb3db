package sqldb_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/tryreplicas/gateway/gateway/sqldb"
)

func TestNoRowsAs(t *testing.T) {
	t.Parallel()
	missing := errors.New("thing not found")
	down := errors.New("connection refused")
	for _, tc := range []struct {
		name string
		err  error
		is   error
		text string
	}{
		{"found", nil, nil, ""},
		{"no row", fmt.Errorf("scan: %w", sqldb.ErrNoRows), missing, "thing not found"},
		{"other error", down, down, "get thing: connection refused"},
	} {
		err := sqldb.NoRowsAs(tc.err, missing, "get thing")
		if tc.is == nil && err != nil || tc.is != nil && (!errors.Is(err, tc.is) || err.Error() != tc.text) {
			t.Errorf("%s: NoRowsAs = %v, want %v (%q)", tc.name, err, tc.is, tc.text)
		}
	}
}
