// Package github is the GitHub App integration: it verifies webhook
// deliveries, turns @mentions on pull requests into workspace triggers,
// keeps installations current, and talks back (reactions, replies, lifecycle
// reports) through installation tokens, always as retried jobs.
package github
