// Package launch owns workspaces: the record and its lifecycle, its
// conversation (the thread it belongs to and its numbered messages, whose
// long polls are woken across replicas), the workspace token that the
// running workspace authenticates with, and the launchers (http, exec, dry
// run) that start, wake and stop it from the job queue.
package launch
