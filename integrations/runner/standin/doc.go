// Package standin is a stand-in for the Claude Code and Codex CLIs, for
// tests and the demo: it speaks their JSON-lines stream formats (Claude's
// stream-json with --verbose, Codex's exec --json) and authenticates with
// whatever credential its environment carries.
//
// Its behaviour comes from control.json in its directory: refuse given
// credential values or every credential (as a 401 from the provider), fail
// authentication on given call numbers, run long (with a child process in
// its process group), or edit a file. Every call is appended to calls.jsonl
// in the same directory.
package standin
