// Package linear is the Linear integration: it verifies webhook deliveries,
// turns issue assignments / delegations to the Replicas app user and agent
// sessions into workspace triggers, finds the Replicas user by the Linear
// user's email (fetched with genqlient when the payload lacks it), and
// acknowledges in Linear (comments, agent activities) through retried jobs.
package linear
