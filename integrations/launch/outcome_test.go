package launch_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/tryreplicas/gateway/integrations/launch"
)

// Outcome is the one place that says what a launch attempt's error means
// for the trigger; wrapped errors count as their kind, anything else is a
// failure to retry.
func TestOutcome(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		err     error
		outcome string
		ok      bool
	}{
		{"launched", nil, launch.OutcomeLaunched, true},
		{"duplicate", launch.ErrDuplicate, launch.OutcomeDuplicate, true},
		{"no credentials", fmt.Errorf("resolve: %w", launch.ErrNoCredentials), launch.OutcomeNoCredentials, true},
		{"repository not installed", launch.ErrRepositoryNotInstalled, launch.OutcomeRepositoryNotInstalled, true},
		{"database down", errors.New("connection refused"), "", false},
	} {
		if outcome, ok := launch.Outcome(tc.err); outcome != tc.outcome || ok != tc.ok {
			t.Errorf("%s: Outcome = %q, %t; want %q, %t", tc.name, outcome, ok, tc.outcome, tc.ok)
		}
	}
}
