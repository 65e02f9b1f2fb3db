// Package launch owns workspaces: the record and its lifecycle,
// the workspace token that the running workspace authenticates with, and the
// launchers (http, exec, dry run) that start it from the job queue.
package launch
