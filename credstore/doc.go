// Package credstore answers "with what": agent credentials at org and user
// scope, sealed at rest, the resolution of a workspace's credential chain,
// and (runtime*.go) the tokens a running workspace gets. The Store owns the
// credentials and agent_preferences tables.
package credstore
