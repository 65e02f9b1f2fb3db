//go:build race

package main

// raceDetector: this test binary runs under the race detector, which slows
// the embedded SQLite (C translated to Go, every memory access checked) many
// times over.
const raceDetector = true
