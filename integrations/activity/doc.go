// Package activity records what a running workspace says it is doing
// (thoughts, actions, responses, errors, questions) and hands each one, in the
// transaction that stores it, to the relay of the workspace's source: Linear
// posts agent activities, GitHub edits its tracking comment.
package activity
