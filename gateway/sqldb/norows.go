package sqldb

import (
	"errors"
	"fmt"
)

// NoRowsAs is the error of a read of one row: ErrNoRows becomes notFound
// (the caller's own not-found error), any other error is wrapped with op, and
// nil stays nil.
func NoRowsAs(err, notFound error, op string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrNoRows) {
		return notFound
	}
	return fmt.Errorf("%s: %w", op, err)
}
