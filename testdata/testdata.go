// Package testdata embeds the real webhook payloads that tests, the trigger
// command and the demo build their deliveries from.
package testdata

import "embed"

// FS holds github/*.json (GitHub's own examples) and linear/*.json.
//
//go:embed github linear
var FS embed.FS
