// Package runner is the workspace side of the gateway: the program a
// workspace runs (replicas-gateway workspace run). It clones the workspace's
// repository with a short-lived git credential that only git's credential
// helper ever sees, runs the coding agent (Claude Code or Codex) once per
// message in order, streams what the agent does back as activities, and on
// an authentication error reports the rejected credential, writes the
// rotated or next one and replays the same message. It stops the agent's
// whole process group on a stop message, hibernates when idle, re-resolves
// the credential chain when woken, and reports the finish with the pushed
// branch or pull request.
//
// The runner holds no secret longer than one use needs and writes none to
// disk except the agent's own credential file (Codex's auth.json, without
// its refresh token: the gateway refreshes).
package runner
